"""Rules as the scan job reads them: validation against the catalog, and compilation to the job's JSON rule form.

The portal never evaluates a rule: it checks what can be checked without data (kind, columns the catalog knows,
parameters, thresholds, regex syntax, that a custom predicate is a single expression), then hands the rule to the
``quality_scan`` Spark job as one compact JSON object per argument (``spark.quality.rules.Rule.from_dict``). The
job checks the rest against the data (types, Java regex, Spark's parser) and reports an ERROR for a rule it cannot
evaluate, without stopping the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.catalog.models import Dataset
from apps.catalog.models import Field as CatalogField
from apps.common.errors import DomainError
from apps.common.patterns import backtracking_problem
from apps.quality.choices import RuleKind, RuleSeverity
from spark.quality.rules import MAX_INLINE_VALUES, Rule, RuleError, failing_predicate

# The job takes one argument per rule, and a Spark run at most 64 arguments of at most 1000 characters.
MAX_RULE_JSON = 1000
MAX_RULES_PER_SCAN = 50
SINGLE_COLUMN_KINDS = frozenset(
    {
        RuleKind.RANGE,
        RuleKind.ALLOWED_VALUES,
        RuleKind.REGEX,
        RuleKind.LENGTH,
        RuleKind.FRESHNESS,
        RuleKind.REFERENTIAL,
        RuleKind.MEAN,
        RuleKind.DISTINCT_COUNT,
    }
)
NO_COLUMN_KINDS = frozenset({RuleKind.ROW_COUNT, RuleKind.SCHEMA})
KNOWN_PARAMS: dict[str, frozenset[str]] = {
    RuleKind.NOT_NULL: frozenset(),
    RuleKind.UNIQUE: frozenset(),
    RuleKind.RANGE: frozenset({"min", "max", "inclusive"}),
    RuleKind.ALLOWED_VALUES: frozenset({"values"}),
    RuleKind.REGEX: frozenset({"pattern"}),
    RuleKind.LENGTH: frozenset({"min", "max"}),
    RuleKind.FRESHNESS: frozenset({"max_age_seconds"}),
    RuleKind.ROW_COUNT: frozenset({"min", "max", "max_change"}),
    RuleKind.REFERENTIAL: frozenset(),
    RuleKind.SCHEMA: frozenset({"expected", "exact"}),
    RuleKind.MEAN: frozenset({"baseline_mean", "baseline_stddev", "tolerance"}),
    RuleKind.DISTINCT_COUNT: frozenset({"min", "max"}),
    RuleKind.CUSTOM: frozenset({"expression"}),
}


class RuleInvalid(DomainError):
    """A rule that cannot be evaluated as written; ``fields`` names each problem."""

    code = "rule_invalid"


@dataclass
class RuleSpec:
    """A rule's definition, saved or not (the admin's test run evaluates an unsaved one)."""

    dataset: Dataset
    name: str
    kind: str
    columns: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    reference_dataset: Dataset | None = None
    reference_field: str = ""
    warn_threshold: float | None = None
    fail_threshold: float | None = None
    severity: str = RuleSeverity.ERROR

    @classmethod
    def of(cls, rule: Any) -> RuleSpec:
        """The spec of a ``QualityRule`` (saved or only built from a form)."""
        return cls(
            dataset=rule.dataset,
            name=rule.name,
            kind=rule.kind,
            columns=list(rule.columns or []),
            params=dict(rule.params or {}),
            reference_dataset=rule.reference_dataset,
            reference_field=rule.reference_field or "",
            warn_threshold=rule.warn_threshold,
            fail_threshold=rule.fail_threshold,
            severity=rule.severity,
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _known_columns(dataset: Dataset) -> set[str] | None:
    """The dataset's active field names, or None when the catalog knows none yet (nothing to check against)."""
    names = set(CatalogField.objects.filter(dataset=dataset, is_active=True).values_list("name", flat=True))
    return names or None


def _check_params(spec: RuleSpec, errors: dict[str, list[str]]) -> None:
    params = spec.params
    kind = spec.kind
    unknown = sorted(set(params) - KNOWN_PARAMS.get(kind, frozenset()))
    if unknown:
        errors.setdefault("params", []).append(f"{kind} does not take {', '.join(unknown)}")
    for name in ("min", "max", "max_age_seconds", "max_change", "baseline_mean", "baseline_stddev", "tolerance"):
        if name in params and params[name] is not None and not _number(params[name]):
            errors.setdefault("params", []).append(f"{name} must be a number")
    if kind in (RuleKind.RANGE, RuleKind.LENGTH, RuleKind.DISTINCT_COUNT) and (
        params.get("min") is None and params.get("max") is None
    ):
        errors.setdefault("params", []).append(f"{kind} needs min or max")
    if kind == RuleKind.ROW_COUNT and all(params.get(k) is None for k in ("min", "max", "max_change")):
        errors.setdefault("params", []).append("row_count needs min, max or max_change (fraction of the last scan)")
    if _number(params.get("max_change")) and params["max_change"] < 0:
        errors.setdefault("params", []).append("max_change must not be negative")
    if _number(params.get("min")) and _number(params.get("max")) and params["min"] > params["max"]:
        errors.setdefault("params", []).append("min is above max")
    if kind == RuleKind.FRESHNESS and not (_number(params.get("max_age_seconds")) and params["max_age_seconds"] > 0):
        errors.setdefault("params", []).append("freshness needs max_age_seconds > 0")
    if kind == RuleKind.MEAN and not _number(params.get("baseline_mean")):
        errors.setdefault("params", []).append("mean needs baseline_mean")
    if kind == RuleKind.SCHEMA:
        expected = params.get("expected")
        if not isinstance(expected, Mapping) or not expected:
            errors.setdefault("params", []).append('schema needs expected: {"column": "type", …}')
    if kind == RuleKind.REGEX:
        pattern = params.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            errors.setdefault("params", []).append("regex needs a pattern")
        else:
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                errors.setdefault("params", []).append(f"invalid regular expression: {exc}")
            else:
                risk = backtracking_problem(pattern)
                if risk:
                    errors.setdefault("params", []).append(f"regular expression refused: {risk}")
    if kind == RuleKind.ALLOWED_VALUES and spec.reference_dataset is None:
        values = params.get("values")
        if not isinstance(values, list) or not values:
            errors.setdefault("params", []).append("allowed_values needs a values list or a reference dataset")
        elif len(values) > MAX_INLINE_VALUES or any(isinstance(v, dict | list) for v in values):
            errors.setdefault("params", []).append(
                f"values must be at most {MAX_INLINE_VALUES} scalars; use a reference dataset for a large set"
            )
    if kind == RuleKind.CUSTOM:
        expression = params.get("expression")
        if not isinstance(expression, str) or not expression.strip():
            errors.setdefault("params", []).append("custom needs an expression")
        else:
            from spark.quality.render_spark import predicate_text_check

            try:
                predicate_text_check(expression)
            except RuleError as exc:
                errors.setdefault("params", []).append(str(exc))


def _check_thresholds(spec: RuleSpec, errors: dict[str, list[str]]) -> None:
    for name in ("warn_threshold", "fail_threshold"):
        value = getattr(spec, name)
        if value is not None and (not _number(value) or value < 0):
            errors.setdefault(name, []).append("must be a number ≥ 0")
    if spec.warn_threshold is None and spec.fail_threshold is None:
        errors.setdefault("fail_threshold", []).append("give a warn or a fail threshold (or both)")
    if (
        _number(spec.warn_threshold)
        and _number(spec.fail_threshold)
        and spec.warn_threshold is not None
        and spec.fail_threshold is not None
        and spec.warn_threshold > spec.fail_threshold
    ):
        errors.setdefault("warn_threshold", []).append("must not be above the fail threshold")


def rule_validate(spec: RuleSpec) -> None:
    """Raise ``RuleInvalid`` naming every problem of a rule that can be seen without reading data."""
    errors: dict[str, list[str]] = {}
    if spec.kind not in RuleKind.values:
        raise RuleInvalid(
            f"Unknown rule kind {spec.kind!r}.", fields={"kind": [f"one of {', '.join(RuleKind.values)}"]}
        )
    if spec.severity not in RuleSeverity.values:
        errors["severity"] = [f"one of {', '.join(RuleSeverity.values)}"]
    if not isinstance(spec.columns, list) or not all(isinstance(c, str) and c for c in spec.columns):
        errors["columns"] = ["a list of column names"]
    elif spec.kind in SINGLE_COLUMN_KINDS and len(spec.columns) != 1:
        errors["columns"] = [f"{spec.kind} takes exactly one column"]
    elif spec.kind in (RuleKind.NOT_NULL, RuleKind.UNIQUE) and not spec.columns:
        errors["columns"] = [f"{spec.kind} needs at least one column"]
    elif spec.kind in NO_COLUMN_KINDS and spec.columns:
        errors["columns"] = [f"{spec.kind} takes no column"]
    else:
        known = _known_columns(spec.dataset)
        missing = [c for c in spec.columns if known is not None and c not in known]
        if missing:
            errors["columns"] = [f"{spec.dataset.name} has no field {', '.join(missing)}"]
    if not isinstance(spec.params, dict):
        errors["params"] = ["an object"]
    else:
        _check_params(spec, errors)
    needs_reference = spec.kind == RuleKind.REFERENTIAL
    if spec.reference_dataset is not None or needs_reference:
        if spec.kind not in (RuleKind.REFERENTIAL, RuleKind.ALLOWED_VALUES):
            errors["reference_dataset"] = ["only referential and allowed_values rules take a reference"]
        elif spec.reference_dataset is None:
            errors["reference_dataset"] = ["referential needs the dataset holding the valid values"]
        elif not spec.reference_field:
            errors["reference_field"] = ["name the field holding the valid values"]
        else:
            known = _known_columns(spec.reference_dataset)
            if known is not None and spec.reference_field not in known:
                errors["reference_field"] = [f"{spec.reference_dataset.name} has no field {spec.reference_field}"]
            if spec.reference_dataset.namespace != spec.dataset.namespace:
                errors["reference_dataset"] = ["must be a dataset of the same lake"]
    _check_thresholds(spec, errors)
    if not errors:
        try:
            document = rule_document(spec)
            parsed = Rule.from_dict(document)
            if parsed.kind.value in (RuleKind.NOT_NULL, RuleKind.RANGE, RuleKind.REGEX, RuleKind.LENGTH) or (
                parsed.kind.value == RuleKind.ALLOWED_VALUES and not parsed.is_join
            ):
                failing_predicate(parsed)
        except RuleError as exc:
            errors["params"] = [str(exc)]
        else:
            if len(json.dumps(document, separators=(",", ":"))) > MAX_RULE_JSON:
                errors["params"] = [
                    f"the rule is longer than {MAX_RULE_JSON} characters as JSON; shorten the expression or move a "
                    "long value list to a reference dataset"
                ]
    if errors:
        first = next(iter(errors.values()))[0]
        raise RuleInvalid(f"The rule is not valid: {first}.", fields=errors)


def rule_document(spec: RuleSpec, *, previous_rows: int | None = None) -> dict[str, Any]:
    """The rule as the scan job reads it (``spark.quality.rules.Rule.from_dict``).

    A row-count rule with ``max_change`` becomes a range around the rows of the previous scan (``previous_rows``);
    on a dataset never scanned before it only asks for at least one row.
    """
    params = {k: v for k, v in spec.params.items() if v is not None}
    if spec.kind == RuleKind.ROW_COUNT and "max_change" in params:
        change = float(params.pop("max_change"))
        if previous_rows:
            params.setdefault("min", previous_rows * (1 - change))
            params.setdefault("max", previous_rows * (1 + change))
            params["previous_rows"] = previous_rows
        else:
            params.setdefault("min", 1)
    document: dict[str, Any] = {
        "id": spec.name,
        "kind": spec.kind,
        "columns": list(spec.columns),
        "warn": spec.warn_threshold,
        "fail": spec.fail_threshold,
        "severity": spec.severity,
        **params,
    }
    if spec.reference_dataset is not None:
        document["reference"] = {"dataset": spec.reference_dataset.name, "field": spec.reference_field}
    return document


def rule_argument(document: dict[str, Any]) -> str:
    """One rule as one job argument."""
    return "--rule=" + json.dumps(document, separators=(",", ":"), sort_keys=True)
