"""Evaluates every rule of one dataset with as few passes over the data as the rules allow.

Plan, per dataset:

1. Each rule is checked alone first (columns exist, expression parses and analyses to a boolean, regex compiles,
   parameters make sense); a rule that fails the check becomes an ERROR result and leaves the others untouched.
2. One fused aggregation, ``df.agg(...)``: ``count(*)``, a conditional count of each row-level rule's failing
   predicate, and the statistics of metric rules (max timestamp, mean/stddev, approximate distinct count).
3. Uniqueness: one job per rule, ``groupBy(key).count()`` keeping groups with more than one row. An exact distinct
   inside the fused aggregation would expand every row once per distinct-aggregate, so it gets its own job. With
   samples, the same job also returns the first duplicate keys: the totals are observed on the groups as they
   stream into a sort with a limit, so the groups are computed once and never kept for a second job.
4. Join rules (referential, reference value sets): one left-anti join each against the other dataset's distinct
   values, never a literal list; its count and, with samples, its first orphans by key come from that one job too.
5. Failing-row samples of row-level rules: one extra pass for all of them. Each failing rule keeps the rows that
   break it, thinned by a hash to a few times N when it fails on many rows; one filter keeps the rows that are a
   candidate of any rule (a few hundred per rule at most), which reach the driver tagged with their rules, and the
   first N of each rule by primary key are kept.

Steps 3 to 5 need only the counts of step 2, so their jobs run side by side from driver threads, filling each
other's idle task slots. Schema rules read the DataFrame schema only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial, reduce
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, NumericType, TimestampNTZType, TimestampType
from pyspark.util import inheritable_thread_target

from spark.quality.render_spark import check_predicate, check_regex, quote_name, render
from spark.quality.rules import ROW_KINDS, Kind, Outcome, Rule, RuleError, failing_predicate

ReferenceResolver = Callable[[str], DataFrame]
DISTINCT_RSD = 0.02
# Sampling keeps about this many failing rows per wanted sample (plus the slack) before ranking them.
SAMPLE_OVERSHOOT = 8
SAMPLE_SLACK = 64
HASH_BUCKETS = 1_000_000
# Jobs after the fused aggregation (uniqueness, joins, samples) running at once; more only queue for the same slots.
MAX_PARALLEL_JOBS = 4
_OBSERVATION = "_quality_totals"
METRIC_BOUNDED = frozenset({Kind.ROW_COUNT, Kind.DISTINCT_COUNT})
PARTITION_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")


@dataclass
class RuleResult:
    """What one rule found."""

    rule: Rule
    outcome: Outcome
    metric: float | None = None
    failing_rows: int | None = None
    failing_fraction: float | None = None
    message: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON for the portal."""
        return {
            "id": self.rule.id,
            "kind": str(self.rule.kind),
            "columns": list(self.rule.columns),
            "severity": self.rule.severity,
            "warn": self.rule.warn,
            "fail": self.rule.fail,
            "outcome": str(self.outcome),
            "metric": self.metric,
            "failing_rows": self.failing_rows,
            "failing_fraction": self.failing_fraction,
            "message": self.message,
            "samples": self.samples,
            "details": self.details,
        }


@dataclass
class ScanResult:
    """Every rule's result, the rows scanned, and per-column metrics gathered on the way (for lineage)."""

    rows: int
    results: list[RuleResult]
    column_metrics: dict[str, dict[str, int]] = field(default_factory=dict)

    def by_id(self) -> dict[str, RuleResult]:
        """Results keyed by rule id."""
        return {r.rule.id: r for r in self.results}

    def to_dict(self) -> dict[str, Any]:
        """The scan as JSON."""
        counts = {str(o): sum(1 for r in self.results if r.outcome is o) for o in Outcome}
        return {"rows_scanned": self.rows, "outcomes": counts, "rules": [r.to_dict() for r in self.results]}


def json_value(value: Any) -> Any:
    """A sampled value as JSON: decimals as strings (exact), times as ISO strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def partition_filter(df: DataFrame, specs: Sequence[str]) -> DataFrame:
    """Restricts a read to partitions: each spec is ``column OP value`` (e.g. ``order_date>=2025-03-01``)."""
    for spec in specs:
        match = PARTITION_SPEC.match(spec)
        if not match or match.group(1) not in df.columns:
            raise ValueError(f"bad partition filter {spec!r}: expected column OP value on a column of the dataset")
        name, op, value = match.groups()
        column = F.col(quote_name(name))
        ops: dict[str, Callable[[Column, Any], Column]] = {
            "=": lambda c, v: c == v,
            "!=": lambda c, v: c != v,
            "<": lambda c, v: c < v,
            "<=": lambda c, v: c <= v,
            ">": lambda c, v: c > v,
            ">=": lambda c, v: c >= v,
        }
        df = df.where(ops[op](column, F.lit(value).cast(df.schema[name].dataType)))
    return df


def _require_columns(df: DataFrame, rule: Rule, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RuleError(f"unknown column(s) {', '.join(missing)}")


def _number(rule: Rule, name: str, *, required: bool = False) -> float | None:
    value = rule.params.get(name)
    if value is None:
        if required:
            raise RuleError(f"{rule.kind} needs {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{name} must be a number")
    return float(value)


def _outside(value: float, low: float | None, high: float | None) -> float:
    """How far a value lies outside [low, high], relative to the bound it crosses (0 inside)."""
    if low is not None and value < low:
        return (low - value) / abs(low) if low else low - value
    if high is not None and value > high:
        return (value - high) / abs(high) if high else value - high
    return 0.0


@dataclass
class _Prepared:
    """A rule that passed its checks, with what the passes need from it."""

    rule: Rule
    predicate: Column | None = None
    aggregates: dict[str, Column] = field(default_factory=dict)
    reference: DataFrame | None = None
    reference_field: str = ""


def _prepare(df: DataFrame, rule: Rule, references: ReferenceResolver | None) -> _Prepared:
    """Checks one rule against the dataset and builds its expressions; raises ``RuleError`` or an analysis error."""
    spark = df.sparkSession
    prepared = _Prepared(rule)
    if rule.kind is Kind.CUSTOM:
        check_predicate(spark, str(rule.params.get("expression") or ""))
        _require_columns(df, rule, rule.columns)
    elif rule.kind not in (Kind.ROW_COUNT, Kind.SCHEMA):
        if not rule.columns:
            raise RuleError(f"{rule.kind} needs a column")
        _require_columns(df, rule, rule.columns)
    if rule.kind in ROW_KINDS and not rule.is_join:
        if rule.kind is Kind.REGEX:
            check_regex(spark, str(rule.params.get("pattern") or ""))
        predicate = F.expr(render(failing_predicate(rule)))
        if rule.kind is Kind.CUSTOM:
            # Analysis resolves names and types without reading data; the original predicate must be boolean.
            text = str(rule.params["expression"])
            if not isinstance(df.select(F.expr(text).alias("p")).schema["p"].dataType, BooleanType):
                raise RuleError("expression is not boolean")
        else:
            df.select(predicate.alias("p")).schema  # noqa: B018 - analysis raises on a bad column or type
        prepared.predicate = predicate
    elif rule.is_join:
        ref = rule.reference
        if ref is None:
            raise RuleError("referential needs a reference {dataset, field}")
        if references is None:
            raise RuleError("no reference datasets available to this scan")
        other = references(ref.dataset)
        if ref.field not in other.columns:
            raise RuleError(f"unknown column {ref.field} in {ref.dataset}")
        prepared.reference, prepared.reference_field = other, ref.field
    elif rule.kind is Kind.FRESHNESS:
        _number(rule, "max_age_seconds", required=True)
        if not isinstance(df.schema[rule.column].dataType, TimestampType | TimestampNTZType | DateType):
            raise RuleError(f"freshness needs a timestamp or date column, {rule.column} is not one")
        stamp = F.col(quote_name(rule.column)).cast("timestamp").cast("double")
        prepared.aggregates["newest"] = F.max(stamp)
    elif rule.kind is Kind.MEAN:
        _number(rule, "baseline_mean", required=True)
        if not isinstance(df.schema[rule.column].dataType, NumericType):
            raise RuleError(f"mean needs a numeric column, {rule.column} is not one")
        value = F.col(quote_name(rule.column)).cast("double")
        prepared.aggregates["mean"] = F.avg(value)
        prepared.aggregates["stddev"] = F.stddev_samp(value)
    elif rule.kind is Kind.DISTINCT_COUNT:
        prepared.aggregates["distinct"] = F.approx_count_distinct(F.col(quote_name(rule.column)), DISTINCT_RSD)
    if rule.kind in METRIC_BOUNDED and _number(rule, "min") is None and _number(rule, "max") is None:
        raise RuleError(f"{rule.kind} needs min or max")
    return prepared


def _schema_result(df: DataFrame, rule: Rule) -> RuleResult:
    """Compares expected columns and types (Spark simple type names) with the DataFrame schema; reads no data."""
    expected = rule.params.get("expected")
    if not isinstance(expected, Mapping) or not expected:
        raise RuleError("schema needs 'expected': {column: type}")
    actual = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    problems = []
    for name, wanted in expected.items():
        if name not in actual:
            problems.append(f"{name} missing")
        elif wanted and actual[name] != str(wanted).lower().replace(" ", ""):
            problems.append(f"{name} is {actual[name]}, expected {wanted}")
    if rule.params.get("exact"):
        problems += [f"{name} unexpected" for name in actual if name not in expected]
    score = float(len(problems))
    message = "; ".join(problems) or "schema matches"
    return RuleResult(rule, rule.outcome(score), metric=score, message=message, details={"problems": problems})


def _samples(rows: Sequence[Row], columns: Sequence[str]) -> list[dict[str, Any]]:
    return [{c: json_value(row[c]) for c in columns} for row in rows]


def _sample_columns(rule: Rule, key: Sequence[str], available: Sequence[str]) -> list[str]:
    wanted = [*key, *[c for c in rule.columns if c not in key]]
    return [c for c in wanted if c in available]


def _row_result(rule: Rule, failing: int, rows: int) -> RuleResult:
    fraction = failing / rows if rows else 0.0
    message = f"{failing:,} of {rows:,} rows fail ({fraction:.4%})"
    return RuleResult(
        rule, rule.outcome(fraction), metric=fraction, failing_rows=failing, failing_fraction=fraction, message=message
    )


def _metric_result(rule: Rule, row: Mapping[str, Any], prefix: str, rows: int, now: datetime) -> RuleResult:
    details: dict[str, Any] = {}
    if rule.kind is Kind.ROW_COUNT:
        metric = float(rows)
        score = _outside(metric, _number(rule, "min"), _number(rule, "max"))
        message = f"{rows:,} rows"
    elif rule.kind is Kind.DISTINCT_COUNT:
        metric = float(row[f"{prefix}distinct"] or 0)
        score = _outside(metric, _number(rule, "min"), _number(rule, "max"))
        message = f"about {metric:,.0f} distinct values"
    elif rule.kind is Kind.FRESHNESS:
        newest = row[f"{prefix}newest"]
        max_age = _number(rule, "max_age_seconds") or 0.0
        if newest is None:
            # An unbounded breach: it fails or warns as far as the rule's thresholds let it.
            message = "no timestamps: the dataset has no rows with a value"
            return RuleResult(rule, rule.outcome(math.inf), message=message)
        metric = now.timestamp() - float(newest)
        score = max(0.0, metric - max_age) / max_age if max_age else max(0.0, metric)
        details["newest"] = datetime.fromtimestamp(float(newest), UTC).isoformat()
        message = f"newest value is {metric / 3600:,.1f} h old (allowed {max_age / 3600:,.1f} h)"
    else:
        mean, stddev = row[f"{prefix}mean"], row[f"{prefix}stddev"]
        if mean is None:
            return RuleResult(rule, rule.outcome(math.inf), message="no values to average")
        baseline = _number(rule, "baseline_mean") or 0.0
        baseline_stddev = _number(rule, "baseline_stddev")
        tolerance = _number(rule, "tolerance") or 0.0
        # Drift in baseline standard deviations when one is known, else relative to the baseline mean.
        scale = baseline_stddev or abs(baseline) or 1.0
        drift = abs(float(mean) - baseline) / scale
        metric = float(mean)
        score = max(0.0, drift - tolerance)
        details.update(mean=metric, stddev=None if stddev is None else float(stddev), drift=drift)
        message = f"mean {metric:,.4f} vs baseline {baseline:,.4f}: drift {drift:.4f} (tolerance {tolerance})"
    details["score"] = score
    return RuleResult(rule, rule.outcome(score), metric=metric, message=message, details=details)


def _aggregates(item: _Prepared, prefix: str) -> list[Column]:
    """The fused-aggregation outputs of one rule, named with its prefix."""
    exprs = [F.count(F.when(item.predicate, F.lit(1))).alias(f"{prefix}failing")] if item.predicate is not None else []
    return exprs + [agg.alias(prefix + name) for name, agg in item.aggregates.items()]


def _fused(df: DataFrame, prepared: Sequence[_Prepared]) -> tuple[dict[str, Any], dict[str, str]]:
    """Runs the single aggregation; returns its row as a dict and the alias prefix of each rule."""
    prefixes = {item.rule.id: f"_r{position}_" for position, item in enumerate(prepared)}
    exprs: list[Column] = [F.count(F.lit(1)).alias("_rows")]
    for item in prepared:
        exprs += _aggregates(item, prefixes[item.rule.id])
    row = df.agg(*exprs).first()
    assert row is not None  # noqa: S101 - a global aggregation always returns one row
    return row.asDict(), prefixes


def scan(
    df: DataFrame,
    rules: Sequence[Rule],
    *,
    primary_key: Sequence[str] = (),
    references: ReferenceResolver | None = None,
    samples: int = 0,
    now: datetime | None = None,
) -> ScanResult:
    """Evaluates ``rules`` on ``df``: the fused aggregation, one job per uniqueness and join rule, one sample pass."""
    now = now or datetime.now(UTC)
    key = [c for c in primary_key if c in df.columns]
    results: dict[str, RuleResult] = {}
    prepared: list[_Prepared] = []
    for rule in rules:
        try:
            if rule.kind is Kind.SCHEMA:
                results[rule.id] = _schema_result(df, rule)
            else:
                prepared.append(_prepare(df, rule, references))
        except Exception as exc:
            results[rule.id] = RuleResult(rule, Outcome.ERROR, message=_error_text(exc))

    fused = [p for p in prepared if p.predicate is not None or p.aggregates]
    try:
        row, prefixes = _fused(df, fused)
    except Exception:
        # A rule that analysed cleanly can still fail at run time (raise_error, a cast under ANSI mode): run alone,
        # each rule shows whether it is the one, and the others keep their results.
        row, prefixes = _fused(df, [])
        for position, item in enumerate(fused):
            prefix = f"_r{position}_"
            try:
                alone = df.agg(*_aggregates(item, prefix)).first()
                assert alone is not None  # noqa: S101 - a global aggregation always returns one row
                row.update(alone.asDict())
                prefixes[item.rule.id] = prefix
            except Exception as exc:
                results[item.rule.id] = RuleResult(item.rule, Outcome.ERROR, message=_error_text(exc))
    rows = int(row["_rows"])

    column_metrics: dict[str, dict[str, int]] = {}
    # What is left needs the fused row's counts only, so its jobs are independent and run side by side.
    jobs: list[Callable[[], None]] = []
    for item in prepared:
        rule = item.rule
        if rule.id in results:
            continue
        try:
            if item.predicate is not None:
                failing = int(row[f"{prefixes[rule.id]}failing"])
                results[rule.id] = _row_result(rule, failing, rows)
                if rule.kind is Kind.NOT_NULL and len(rule.columns) == 1:
                    column_metrics.setdefault(rule.column, {})["nullCount"] = failing
            elif rule.kind is Kind.UNIQUE:
                jobs.append(partial(_isolated, results, rule, partial(_unique, df, rule, rows, samples)))
            elif item.reference is not None:
                jobs.append(partial(_isolated, results, rule, partial(_anti_join, df, item, key, rows, samples)))
            else:
                results[rule.id] = _metric_result(rule, row, prefixes.get(rule.id, ""), rows, now)
                if rule.kind is Kind.DISTINCT_COUNT:
                    column_metrics.setdefault(rule.column, {})["distinctCount"] = int(results[rule.id].metric or 0)
        except Exception as exc:
            results[rule.id] = RuleResult(rule, Outcome.ERROR, message=_error_text(exc))
    if samples > 0:
        row_level = [p for p in prepared if p.predicate is not None]
        jobs.append(partial(_row_samples, df, row_level, results, key, samples))
    _side_by_side(jobs)
    return ScanResult(rows=rows, results=[results[r.id] for r in rules], column_metrics=column_metrics)


def _isolated(results: dict[str, RuleResult], rule: Rule, evaluate: Callable[[], RuleResult]) -> None:
    """Records a rule's result, or an ERROR result when evaluating it fails."""
    try:
        results[rule.id] = evaluate()
    except Exception as exc:
        results[rule.id] = RuleResult(rule, Outcome.ERROR, message=_error_text(exc))


def _side_by_side(jobs: Sequence[Callable[[], None]]) -> None:
    """Runs independent Spark jobs from threads of this driver, so one job's idle slots (its last tasks, a shuffle
    boundary, planning) go to another's tasks; each thread keeps the caller's job group and other local properties."""
    if len(jobs) <= 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=min(len(jobs), MAX_PARALLEL_JOBS)) as pool:
        futures = [pool.submit(inheritable_thread_target(job)) for job in jobs]
        for future in futures:
            future.result()


def _error_text(exc: BaseException) -> str:
    """The first line of an error; for a failed Spark job, of its root cause rather than the gateway's wrapper."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        # A Spark job failure reaches Python as "An error occurred while calling …"; the reason is the JVM cause.
        while java.getCause() is not None:
            java = java.getCause()
        text = str(java.toString())
    else:
        text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def _collect_observed(
    frame: DataFrame, metrics: Sequence[Column], pick: Callable[[DataFrame], DataFrame]
) -> tuple[list[Row], Row]:
    """The rows ``pick`` chooses from ``frame`` and the ``metrics`` over all of ``frame``, from one Spark action.

    The metrics are observed on the rows as they stream into the pick (a sort with a limit reads every row), so the
    frame is computed once, with no copy kept for a second job.
    """
    observed = frame.observe(_OBSERVATION, *metrics)
    picked = pick(observed)
    rows = picked.collect()
    found = picked._jdf.queryExecution().observedMetrics()
    if found.contains(_OBSERVATION):
        values = found.apply(_OBSERVATION)
        return rows, Row(*[values.get(position) for position in range(values.length())])
    # An optimiser rule that dropped the observation must not lose the totals: count them by a job of their own.
    totals = frame.agg(*metrics).first()
    assert totals is not None  # noqa: S101 - a global aggregation always returns one row
    return rows, totals


def _unique(df: DataFrame, rule: Rule, rows: int, samples: int) -> RuleResult:
    """Rows beyond the first of each key that occurs more than once (rows with a null key part are left out)."""
    keys = [F.col(quote_name(c)) for c in rule.columns]
    present = df.where(reduce(lambda a, b: a & b, [k.isNotNull() for k in keys]))
    duplicates = present.groupBy(*keys).agg(F.count(F.lit(1)).alias("_n")).where(F.col("_n") > 1)
    metrics = [F.sum("_n").alias("rows"), F.count(F.lit(1)).alias("groups")]
    picked: list[Row] = []
    if samples > 0:
        picked, totals = _collect_observed(duplicates, metrics, lambda groups: groups.orderBy(*keys).limit(samples))
    else:
        first = duplicates.agg(*metrics).first()
        assert first is not None  # noqa: S101 - a global aggregation always returns one row
        totals = first
    in_groups, group_count = int(totals[0] or 0), int(totals[1] or 0)
    result = _row_result(rule, in_groups - group_count, rows)
    result.details["duplicate_keys"] = group_count
    result.samples = [{**{c: json_value(r[c]) for c in rule.columns}, "rows": int(r["_n"])} for r in picked]
    return result


def _anti_join(df: DataFrame, item: _Prepared, key: Sequence[str], rows: int, samples: int) -> RuleResult:
    """Rows whose value is absent from the other dataset's field: one left-anti join against its distinct values."""
    rule = item.rule
    assert item.reference is not None  # noqa: S101 - only join rules get here
    value = F.col(quote_name(rule.column))
    known = item.reference.select(F.col(quote_name(item.reference_field)).alias("_ref")).distinct()
    columns = _sample_columns(rule, key, df.columns)
    left = df.where(value.isNotNull()).select(*[F.col(quote_name(c)) for c in columns])
    orphans = left.join(known, F.col(quote_name(rule.column)) == F.col("_ref"), "left_anti")
    if samples > 0:
        order = [F.col(quote_name(c)) for c in columns]
        picked, totals = _collect_observed(
            orphans, [F.count(F.lit(1)).alias("rows")], lambda missing: missing.orderBy(*order).limit(samples)
        )
        result = _row_result(rule, int(totals[0] or 0), rows)
        result.samples = _samples(picked, columns)
        return result
    return _row_result(rule, orphans.count(), rows)


def _row_samples(
    df: DataFrame, prepared: Sequence[_Prepared], results: dict[str, RuleResult], key: Sequence[str], samples: int
) -> None:
    """Up to ``samples`` failing rows of every failing row-level rule, from one Spark job.

    The fused aggregation already counted each rule's failing rows, so a rule with many keeps only a deterministic
    hash-chosen share of them, sized to leave about ``SAMPLE_OVERSHOOT`` times the samples wanted (a shortfall below
    ``samples`` has negligible probability); a rule with few keeps them all. One filter keeps the rows that are a
    candidate of any rule, so only those few (a few hundred per rule at most) reach the driver, tagged with the rules
    they are candidates of; the first ``samples`` of each rule by primary key are kept. Without the share, a rule
    failing on most rows would send millions of rows to the driver for ten samples.
    """
    failing = [
        p for p in prepared if results[p.rule.id].outcome is not Outcome.ERROR and results[p.rule.id].failing_rows
    ]
    if not failing:
        return
    columns: list[str] = list(key)
    for item in failing:
        columns += [c for c in _sample_columns(item.rule, key, df.columns) if c not in columns]
    order = list(key or columns)
    spread = [F.col(quote_name(c)) for c in order]
    wanted_rows = SAMPLE_OVERSHOOT * samples + SAMPLE_SLACK
    conditions: list[Column] = []
    for item in failing:
        assert item.predicate is not None  # noqa: S101 - only row-level rules get here
        share = wanted_rows / (results[item.rule.id].failing_rows or 1)
        condition = item.predicate
        if share < 1:
            # AND evaluates the hash only on rows that already fail the rule.
            bucket = F.abs(F.xxhash64(*spread, F.lit(item.rule.id))) % HASH_BUCKETS
            condition = condition & (bucket < F.lit(int(share * HASH_BUCKETS)))
        conditions.append(condition)
    # The filter evaluates each rule's condition once per row; the tags are evaluated again only on the candidates.
    tags = [condition.alias(f"_t{position}") for position, condition in enumerate(conditions)]
    candidates = (
        df.where(reduce(lambda a, b: a | b, conditions))
        .select(*[F.col(quote_name(c)) for c in columns], *tags)
        .collect()
    )
    for position, item in enumerate(failing):
        mine = sorted((row for row in candidates if row[f"_t{position}"]), key=lambda row: _sort_key(row, order))
        results[item.rule.id].samples = _samples(mine[:samples], _sample_columns(item.rule, key, df.columns))


def _sort_key(row: Row, order: Sequence[str]) -> tuple[Any, ...]:
    """Spark's ascending order of the ``order`` columns (nulls first, NaN last); the whole row breaks ties."""
    ranks = tuple(
        (0, 0) if v is None else (2, 0) if isinstance(v, float) and math.isnan(v) else (1, v)
        for v in (row[c] for c in order)
    )
    return (ranks, repr(tuple(row)))
