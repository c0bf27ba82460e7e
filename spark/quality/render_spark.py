"""Renders the rule expression tree as Spark SQL, and checks custom predicates before they reach a plan."""

from __future__ import annotations

import re

from pyspark.sql import SparkSession

from spark.quality.rules import (
    And,
    Call,
    ColumnRef,
    Compare,
    EngineSql,
    Expr,
    InList,
    IsNull,
    Length,
    Literal,
    Not,
    Or,
    RegexMatch,
    RuleError,
    Scalar,
)

_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that only a statement or a subquery contains; checked outside string literals and quoted names.
_STATEMENT_WORDS = re.compile(
    r"\b(select|from|with|insert|update|delete|merge|drop|create|alter|truncate|grant|revoke|exists|table|values|"
    r"union|join|lateral|set|use|call|load|refresh|cache|uncache|msck|reflect|java_method|try_reflect)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`]|``)*`")
MAX_PREDICATE_LENGTH = 4000


def quote_name(name: str) -> str:
    """A column name as a Spark identifier (backticks, embedded backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def literal(value: Scalar) -> str:
    """A Python scalar as a Spark SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # A double literal, so a comparison never turns into decimal arithmetic with a lossy scale.
        return f"{value!r}D"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(expr: Expr) -> str:
    """The Spark SQL text of an expression tree, fully parenthesised."""
    match expr:
        case ColumnRef(name=name):
            return quote_name(name)
        case Literal(value=value):
            return literal(value)
        case Compare(op=op, left=left, right=right):
            return f"({render(left)} {'<>' if op == '!=' else op} {render(right)})"
        case And(items=items):
            return "(" + " AND ".join(render(i) for i in items) + ")"
        case Or(items=items):
            return "(" + " OR ".join(render(i) for i in items) + ")"
        case Not(item=item):
            return f"(NOT {render(item)})"
        case IsNull(item=item):
            return f"({render(item)} IS NULL)"
        case InList(item=item, values=values):
            return f"({render(item)} IN ({', '.join(literal(v) for v in values)}))"
        case RegexMatch(item=item, pattern=pattern):
            return f"({render(item)} RLIKE {literal(pattern)})"
        case Length(item=item):
            return f"char_length({render(item)})"
        case Call(name=name, args=args):
            if not _FUNCTION_NAME.match(name):
                raise RuleError(f"bad function name {name!r}")
            return f"{name}({', '.join(render(a) for a in args)})"
        case EngineSql(text=text):
            return f"({text})"
    raise RuleError(f"cannot render {type(expr).__name__} for Spark")


def check_regex(spark: SparkSession, pattern: str) -> None:
    """Compiles a pattern with Java's regex engine (the one RLIKE uses), so a bad pattern is a rule error."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # noqa: S101 - a live session always has a gateway
    try:
        jvm.java.util.regex.Pattern.compile(pattern)
    except Exception as exc:
        raise RuleError(f"invalid regular expression {pattern!r}: {str(exc).splitlines()[0][:300]}") from exc


def predicate_text_check(text: str) -> None:
    """The checks of a custom predicate that need no Spark session: length, no second command or comment, no word
    that only a statement or a subquery contains (outside string literals and quoted names)."""
    if len(text) > MAX_PREDICATE_LENGTH:
        raise RuleError(f"expression longer than {MAX_PREDICATE_LENGTH} characters")
    bare = _QUOTED.sub("''", text)
    if ";" in bare or "--" in bare or "/*" in bare:
        raise RuleError("expression must not contain ';' or comments")
    word = _STATEMENT_WORDS.search(bare)
    if word:
        raise RuleError(f"expression must not contain {word.group(0).upper()}: only a boolean expression is allowed")
    # A quoted name followed by "(" is a function call all the same: `reflect`(...) is reflect(...).
    for quoted in _QUOTED.finditer(text):
        if quoted.group(0).startswith("`") and text[quoted.end() :].lstrip().startswith("("):
            word = _STATEMENT_WORDS.fullmatch(quoted.group(0)[1:-1].replace("``", "`").strip())
            if word:
                raise RuleError(
                    f"expression must not call {word.group(0).upper()}: only a boolean expression is allowed"
                )


def check_predicate(spark: SparkSession, text: str) -> None:
    """Accepts a single Spark SQL boolean-valued expression only: no statement, subquery or second command."""
    predicate_text_check(text)
    try:
        parsed = spark._jsparkSession.sessionState().sqlParser().parseExpression(text)
    except Exception as exc:
        raise RuleError(f"not a Spark SQL expression: {str(exc).splitlines()[0][:300]}") from exc
    # The parser accepts a scalar subquery as an expression; its tree names it, whatever the spelling was.
    tree = str(parsed.treeString()).lower()
    if "subquery" in tree or "exists" in tree:
        raise RuleError("expression must not contain a subquery")
