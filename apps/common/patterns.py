"""Regular expressions written by people (alert matchers, quality rules) that could backtrack for ever.

A quantifier that can repeat without bound around a group that itself repeats (``(a+)+$``, ``(\\w*\\s?)*``,
``(x+x+)+y``) makes a backtracking engine (Python's ``re`` in the alert intake, Java's in Spark) try exponentially many
ways to split a long non-matching input; one such pattern stalls every alert or scan it meets. Those are refused
when the pattern is saved. Possessive quantifiers and atomic groups never backtrack into what they matched, so they
are allowed.
"""

from __future__ import annotations

import re
from typing import Any

_parser: Any = getattr(re, "_parser", None)
_constants: Any = getattr(re, "_constants", None)


def _nested_repeat(items: Any, inside_unbounded: bool) -> bool:
    for op, value in items:
        if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            _low, high, sub = value
            if inside_unbounded and high > 1:
                return True
            if _nested_repeat(sub, inside_unbounded or high == _constants.MAXREPEAT):
                return True
        elif op is _constants.SUBPATTERN:
            if _nested_repeat(value[-1], inside_unbounded):
                return True
        elif op is _constants.BRANCH:
            if any(_nested_repeat(branch, inside_unbounded) for branch in value[1]):
                return True
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT) and _nested_repeat(value[1], inside_unbounded):
            return True
        # POSSESSIVE_REPEAT and ATOMIC_GROUP never give back what they matched: nothing inside them backtracks.
    return False


def backtracking_problem(pattern: str) -> str | None:
    """Why ``pattern`` could backtrack catastrophically (a repeated group that itself repeats), or None. A pattern
    that does not compile is left to the caller's own compile check."""
    if _parser is None or _constants is None:  # pragma: no cover - CPython always has them
        return None
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    if _nested_repeat(parsed, inside_unbounded=False):
        return (
            "nested quantifiers (a repeated group that itself repeats, like (a+)+) can take exponential time; "
            "rewrite the pattern without them"
        )
    return None
