"""Alertmanager-style label matchers (``name="value"``, ``!=``, ``=~``, ``!~``) and label templates.

Rules (classification, runbooks, remediation) keep their matchers as text, one per line or comma-separated; all must
match. Regular expressions are anchored like Alertmanager's and bounded in length (they come from the admin).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from apps.common.patterns import backtracking_problem

MATCHER_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s"]*))\s*')
MAX_PATTERN = 500


class MatcherError(ValueError):
    """A matcher that cannot be parsed, naming the part that is wrong."""


@dataclass(frozen=True)
class Matcher:
    """One label condition."""

    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = str(labels.get(self.label, ""))
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _compile(self.value).fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=512)
def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Parse ``severity="critical", service=~"api|payments"`` (commas or new lines between); raises MatcherError."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    out: list[Matcher] = []
    position = 0
    body = body.replace("\n", ",")
    while position < len(body):
        if body[position] in ", \t\r":
            position += 1
            continue
        found = MATCHER_RE.match(body, position)
        if found is None:
            raise MatcherError(f"cannot read a matcher at {body[position : position + 40]!r}")
        label, op, quoted, bare = found.groups()
        value = (quoted if quoted is not None else bare or "").replace('\\"', '"')
        if op in ("=~", "!~"):
            if len(value) > MAX_PATTERN:
                raise MatcherError(f"the pattern for {label} is longer than {MAX_PATTERN} characters")
            try:
                _compile(value)
            except (re.error, RecursionError, OverflowError) as exc:
                raise MatcherError(f"the pattern for {label} is not a valid regular expression: {exc}") from exc
            risk = backtracking_problem(value)
            if risk:
                raise MatcherError(f"the pattern for {label} is refused: {risk}")
        out.append(Matcher(label, op, value))
        position = found.end()
    return tuple(out)


def matches_all(matchers: str, labels: Mapping[str, str]) -> bool:
    """True when every matcher of the text matches (an empty text matches everything)."""
    return all(m.matches(labels) for m in parse_matchers(matchers))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


TEMPLATE_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_template(template: str, labels: Mapping[str, str]) -> str:
    """``{alertname}/{service}`` with the alert's labels; a missing label renders empty. Only plain names allowed."""
    return TEMPLATE_FIELD.sub(lambda m: str(labels.get(m.group(1), "")), template)


def validate_template(template: str) -> None:
    """Only ``{label}`` placeholders; no attribute access, indexing or format specs."""
    stripped = TEMPLATE_FIELD.sub("", template)
    if "{" in stripped or "}" in stripped:
        raise MatcherError("a template may only contain {label} placeholders")
