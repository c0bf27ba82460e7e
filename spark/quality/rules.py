"""The engine-neutral model of data-quality rules and the expression tree their row predicates are written in.

A rule says what to check and how bad a breach may be; it never holds engine code. Row-level rules (not_null, range,
allowed_values with an inline list, regex, length, custom) express their *failing* predicate as an ``Expr`` tree
that a renderer (``render_spark``) turns into an engine's SQL, so another engine needs only another renderer.
Thresholds apply to a score where 0 means no breach: the failing fraction of rows for row-level, uniqueness and join
rules, and the relative distance outside the expected range for metric rules (row count, freshness, mean drift,
distinct count; schema counts mismatched columns). The outcome is FAIL above ``fail``, WARN above ``warn``, else PASS;
a threshold left out (``None``) never trips, so a rule with neither is informational: it reports but always passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Scalar = str | int | float | bool | None


class Outcome(StrEnum):
    """The result of one rule."""

    PASS = "PASS"  # noqa: S105 - an outcome, not a secret
    WARN = "WARN"
    FAIL = "FAIL"
    ERROR = "ERROR"


class Kind(StrEnum):
    """Every kind of rule the scan knows."""

    NOT_NULL = "not_null"
    UNIQUE = "unique"
    RANGE = "range"
    ALLOWED_VALUES = "allowed_values"
    REGEX = "regex"
    LENGTH = "length"
    FRESHNESS = "freshness"
    ROW_COUNT = "row_count"
    REFERENTIAL = "referential"
    SCHEMA = "schema"
    MEAN = "mean"
    DISTINCT_COUNT = "distinct_count"
    CUSTOM = "custom"


ROW_KINDS = frozenset({Kind.NOT_NULL, Kind.RANGE, Kind.ALLOWED_VALUES, Kind.REGEX, Kind.LENGTH, Kind.CUSTOM})
METRIC_KINDS = frozenset({Kind.FRESHNESS, Kind.ROW_COUNT, Kind.MEAN, Kind.DISTINCT_COUNT})


class RuleError(ValueError):
    """A rule that cannot be evaluated as written (unknown kind, missing parameter, bad column or expression)."""


# --- expression tree -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    """A node of the expression tree."""


@dataclass(frozen=True)
class ColumnRef(Expr):
    """A column of the dataset by name."""

    name: str


@dataclass(frozen=True)
class Literal(Expr):
    """A constant: string, number, boolean or null."""

    value: Scalar


@dataclass(frozen=True)
class Compare(Expr):
    """A binary comparison; ``op`` is one of = != < <= > >=."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in COMPARISONS:
            raise RuleError(f"unknown comparison {self.op!r}")


COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class And(Expr):
    """All of the items hold."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or(Expr):
    """At least one item holds."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not(Expr):
    """The item does not hold."""

    item: Expr


@dataclass(frozen=True)
class IsNull(Expr):
    """The value is null."""

    item: Expr


@dataclass(frozen=True)
class InList(Expr):
    """The value is one of a small inline list."""

    item: Expr
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class RegexMatch(Expr):
    """The value matches a regular expression (anywhere, as a search; anchor the pattern for a full match)."""

    item: Expr
    pattern: str


@dataclass(frozen=True)
class Length(Expr):
    """The length of a string value in characters."""

    item: Expr


@dataclass(frozen=True)
class Call(Expr):
    """A function every engine knows by the same name (``lower``, ``trim``, ``coalesce``, ``abs``…)."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class EngineSql(Expr):
    """A predicate already written in the target engine's SQL (the custom rule), validated before use."""

    text: str


def col(name: str) -> ColumnRef:
    """Shorthand for a column reference."""
    return ColumnRef(name)


def lit(value: Scalar) -> Literal:
    """Shorthand for a literal."""
    return Literal(value)


def not_null(item: Expr) -> Not:
    """The value is present."""
    return Not(IsNull(item))


# --- rules -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetField:
    """A field of another dataset, for referential rules and reference value sets."""

    dataset: str
    field: str


@dataclass(frozen=True)
class Rule:
    """One data-quality rule of a dataset; ``params`` holds the kind's own settings (see ``Rule.from_dict``)."""

    id: str
    kind: Kind
    columns: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    warn: float | None = None
    fail: float | None = None
    severity: str = "error"

    @property
    def column(self) -> str:
        """The single column of a one-column rule."""
        if len(self.columns) != 1:
            raise RuleError(f"rule {self.id} ({self.kind}) needs exactly one column, got {len(self.columns)}")
        return self.columns[0]

    @property
    def reference(self) -> DatasetField | None:
        """The other dataset's field of a referential rule or a reference value set, if any."""
        ref = self.params.get("reference")
        if ref is None:
            return None
        if not isinstance(ref, Mapping) or not ref.get("dataset") or not ref.get("field"):
            raise RuleError(f"rule {self.id}: reference needs 'dataset' and 'field'")
        return DatasetField(str(ref["dataset"]), str(ref["field"]))

    @property
    def is_join(self) -> bool:
        """Whether the rule is evaluated by an anti-join against another dataset."""
        return self.kind is Kind.REFERENTIAL or (self.kind is Kind.ALLOWED_VALUES and "reference" in self.params)

    def outcome(self, score: float) -> Outcome:
        """PASS, WARN or FAIL for a score (0 = no breach) against the rule's thresholds (None never trips)."""
        if self.fail is not None and score > self.fail:
            return Outcome.FAIL
        if self.warn is not None and score > self.warn:
            return Outcome.WARN
        return Outcome.PASS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from its JSON form: ``{"id", "kind", "column" | "columns", "warn", "fail", "severity", …params}``."""
        try:
            kind = Kind(str(data["kind"]))
        except (KeyError, ValueError) as exc:
            raise RuleError(f"rule {data.get('id')!r}: unknown or missing kind {data.get('kind')!r}") from exc
        rule_id = str(data.get("id") or "").strip()
        if not rule_id:
            raise RuleError("every rule needs an id")
        columns: Sequence[str] = data.get("columns") or ([data["column"]] if data.get("column") else [])
        reserved = {"id", "kind", "column", "columns", "warn", "fail", "severity"}
        return cls(
            id=rule_id,
            kind=kind,
            columns=tuple(str(c) for c in columns),
            params={k: v for k, v in data.items() if k not in reserved},
            warn=_threshold(data, "warn", rule_id),
            fail=_threshold(data, "fail", rule_id),
            severity=str(data.get("severity") or "error"),
        )


def _threshold(data: Mapping[str, Any], name: str, rule_id: str) -> float | None:
    """A threshold of a rule's JSON form: absent or null is None (never trips), else a finite number."""
    value = data.get(name)
    if value is None:
        return None
    problem = RuleError(f"rule {rule_id}: {name} must be a finite number or null, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise problem
    try:
        number = float(value)
    except ValueError as exc:
        raise problem from exc
    if not math.isfinite(number):
        raise problem
    return number


def _bound(rule: Rule, name: str) -> Scalar:
    value = rule.params.get(name)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise RuleError(f"rule {rule.id}: {name} must be a scalar")
    return value


def failing_predicate(rule: Rule) -> Expr:
    """The predicate that is true for a row breaking a row-level rule (nulls break only not_null and custom)."""
    if rule.kind is Kind.NOT_NULL:
        if not rule.columns:
            raise RuleError(f"rule {rule.id}: not_null needs a column")
        nulls: list[Expr] = [IsNull(col(c)) for c in rule.columns]
        return nulls[0] if len(nulls) == 1 else Or(tuple(nulls))
    if rule.kind is Kind.CUSTOM:
        text = rule.params.get("expression")
        if not isinstance(text, str) or not text.strip():
            raise RuleError(f"rule {rule.id}: custom needs an expression")
        # A row passes only when the predicate is true: null (unknown) counts as failing.
        return Not(Call("coalesce", (EngineSql(text), lit(False))))
    value = col(rule.column)
    if rule.kind is Kind.RANGE:
        low, high = _bound(rule, "min"), _bound(rule, "max")
        if low is None and high is None:
            raise RuleError(f"rule {rule.id}: range needs min or max")
        inclusive = bool(rule.params.get("inclusive", True))
        checks: list[Expr] = []
        if low is not None:
            checks.append(Compare(">=" if inclusive else ">", value, lit(low)))
        if high is not None:
            checks.append(Compare("<=" if inclusive else "<", value, lit(high)))
        within = checks[0] if len(checks) == 1 else And(tuple(checks))
        return And((not_null(value), Not(within)))
    if rule.kind is Kind.ALLOWED_VALUES:
        values = rule.params.get("values")
        if not isinstance(values, list) or not values:
            raise RuleError(f"rule {rule.id}: allowed_values needs a 'values' list or a 'reference'")
        if len(values) > MAX_INLINE_VALUES:
            raise RuleError(f"rule {rule.id}: more than {MAX_INLINE_VALUES} values; use a reference dataset")
        return And((not_null(value), Not(InList(value, tuple(values)))))
    if rule.kind is Kind.REGEX:
        pattern = rule.params.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise RuleError(f"rule {rule.id}: regex needs a pattern")
        return And((not_null(value), Not(RegexMatch(value, pattern))))
    if rule.kind is Kind.LENGTH:
        low, high = _bound(rule, "min"), _bound(rule, "max")
        if low is None and high is None:
            raise RuleError(f"rule {rule.id}: length needs min or max")
        outside: list[Expr] = []
        if low is not None:
            outside.append(Compare("<", Length(value), lit(low)))
        if high is not None:
            outside.append(Compare(">", Length(value), lit(high)))
        return And((not_null(value), outside[0] if len(outside) == 1 else Or(tuple(outside))))
    raise RuleError(f"rule {rule.id}: {rule.kind} has no row predicate")


# Beyond this an inline list belongs in a reference dataset: a giant IN literal bloats every plan and task.
MAX_INLINE_VALUES = 1000


def parse_rules(data: Any) -> list[Rule]:
    """Rules from their JSON form: a list of rule objects or ``{"rules": [...]}``; ids must be unique."""
    items = data.get("rules") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise RuleError("rules must be a list of objects")
    rules = [Rule.from_dict(item) for item in items]
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise RuleError("rule ids must be unique")
    return rules
