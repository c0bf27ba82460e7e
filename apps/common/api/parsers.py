"""The API's JSON parser, and the check every JSON body the portal stores goes through.

PostgreSQL refuses NUL characters in text and ``jsonb``, and a lone surrogate (``"\\ud800"``) cannot be encoded as
UTF-8, so either would fail only when the row is written, as a 500. Bodies nested thousands of levels deep exhaust
the interpreter's stack in the parser or in any code that walks them. ``json_problem`` finds the first such problem
with an iterative walk (it cannot itself run out of stack) and names where it is; the parser turns it into a 400.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# No body of the API, the OpenLineage intake or the alert intake nests anywhere near this deep.
MAX_JSON_DEPTH = 64
NUL_MESSAGE = "Null characters are not allowed."
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates (only ever lone ones in a str)


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group(0) == "\x00":
        return NUL_MESSAGE
    return f"Surrogate characters are not allowed: U+{ord(found.group(0)):X}."


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """``(path, message)`` of the first string (key or value) that cannot be stored, or of nesting deeper than
    ``max_depth``; None when the document is fine. Paths are dotted (``labels.team``, ``0.run.facets``)."""
    stack: list[tuple[str, int, Any]] = [("", 0, value)]
    while stack:
        path, depth, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path or "non_field_errors", problem
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return path or "non_field_errors", f"Nested deeper than {max_depth} levels."
            if isinstance(item, dict):
                for key, child in item.items():
                    problem = text_problem(str(key))
                    if problem:
                        return path or "non_field_errors", f"A key: {problem}"
                    stack.append((_join(path, key), depth + 1, child))
            else:
                stack.extend((_join(path, index), depth + 1, child) for index, child in enumerate(item))
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 (never 500) for nesting that exhausts the parser's stack, and refusing NUL
    characters, lone surrogates and nesting deeper than ``MAX_JSON_DEPTH`` with the field they are in."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from exc
        found = json_problem(data)
        if found:
            path, message = found
            raise exceptions.ValidationError({path: [message]})
        return data
