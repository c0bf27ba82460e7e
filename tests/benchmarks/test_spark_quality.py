"""Data-quality scan throughput on 5,000,000 orders: the fused scan against one Spark action per rule.

Twenty rules (six not-null, unique id, amount range, no future timestamps, three allowed-value sets, two regexes,
a length, row count, freshness, mean drift, distinct count, completeness) run three ways on the same Parquet:

- the fused scan (``spark.quality.scan.scan``: one aggregation, one uniqueness job), without samples;
- the same scan with up to 10 failing-row samples per rule: the uniqueness job also returns the first duplicate
  keys, and one extra pass over the row-level rules' columns, run beside the uniqueness job, finds the others;
- a rule-per-action baseline written here: a ``count`` of each rule's failing rows, an aggregation per metric.

A bare scan of the same columns is the floor. Targets printed against: fused at most 0.85x the per-action time,
samples adding at most 20% (and changing no count). Each is timed ``ROUNDS`` times, interleaved, and the best time
counts. The orders come from the profile benchmark's ``build_orders`` (planted negative amounts, future timestamps,
duplicate ids); ``ECAP_BENCH_QUALITY_ROWS`` takes fewer rows for a quick run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.quality.render_spark import render
from spark.quality.rules import ROW_KINDS, Kind, Rule, failing_predicate, parse_rules
from spark.quality.scan import scan
from spark.schema import ORDERS
from tests.benchmarks.test_spark_profile import ORDERS_ROWS, build_orders

ROWS = int(os.environ.get("ECAP_BENCH_QUALITY_ROWS", ORDERS_ROWS))
ROUNDS = 3
SAMPLES = 10
FUSED_TARGET = 0.85
SAMPLES_TARGET = 1.20

RULES = parse_rules(
    [
        *[
            {"id": f"{c}_present", "kind": "not_null", "column": c}
            for c in ("order_id", "customer_id", "order_ts", "status", "currency", "total_amount")
        ],
        {"id": "order_id_unique", "kind": "unique", "column": "order_id"},
        {"id": "amount_range", "kind": "range", "column": "total_amount", "min": 0, "max": 100000},
        {"id": "not_in_future", "kind": "custom", "expression": "order_ts <= current_timestamp()"},
        {
            "id": "status_known",
            "kind": "allowed_values",
            "column": "status",
            "values": ["paid", "shipped", "delivered", "cancelled", "refunded"],
        },
        {
            "id": "payment_known",
            "kind": "allowed_values",
            "column": "payment_method",
            "values": ["card", "paypal", "klarna"],
        },
        {"id": "currency_known", "kind": "allowed_values", "column": "currency", "values": ["EUR", "USD", "GBP"]},
        {"id": "order_id_shape", "kind": "regex", "column": "order_id", "pattern": "^o[0-9]{9}$"},
        {"id": "ip_shape", "kind": "regex", "column": "ip_address", "pattern": "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$"},
        {"id": "session_length", "kind": "length", "column": "session_id", "min": 2, "max": 7},
        {"id": "rows", "kind": "row_count", "min": 1},
        {"id": "fresh", "kind": "freshness", "column": "order_ts", "max_age_seconds": 10 * 365 * 86400},
        {"id": "amount_mean", "kind": "mean", "column": "total_amount", "baseline_mean": 250, "tolerance": 0.2},
        {"id": "customers", "kind": "distinct_count", "column": "customer_id", "min": 1000},
        {"id": "country_complete", "kind": "not_null", "column": "shipping_country", "warn": 0.01, "fail": 0.05},
    ]
)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from spark.session import get_spark

    session = get_spark("ecap-bench-quality")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def orders_uri(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = "file://" + str(tmp_path_factory.mktemp("bench_quality") / "orders")
    started = time.perf_counter()
    orders = build_orders(spark)
    if ROWS < ORDERS_ROWS:
        orders = orders.limit(ROWS)
    # One file per day, as a daily ingest would leave it.
    orders.repartition("order_date").write.mode("overwrite").partitionBy(*ORDERS.partitioned_by).parquet(uri)
    print(f"\n{ROWS:,} orders written in {time.perf_counter() - started:.1f}s")
    return uri


def first(frame: DataFrame) -> float:
    """The first value of a one-row aggregation, as a number (0 when null)."""
    row = frame.first()
    return float(row[0] or 0) if row is not None else 0.0


def per_action(df: DataFrame, rules: list[Rule]) -> dict[str, float]:
    """The baseline: one Spark action per rule, as a checker without fusion would run them."""
    out: dict[str, float] = {}
    for rule in rules:
        if rule.kind in ROW_KINDS:
            out[rule.id] = df.where(F.expr(render(failing_predicate(rule)))).count()
        elif rule.kind is Kind.UNIQUE:
            out[rule.id] = first(df.groupBy(*rule.columns).count().where("count > 1").agg(F.sum("count")))
        elif rule.kind is Kind.ROW_COUNT:
            out[rule.id] = df.count()
        elif rule.kind is Kind.FRESHNESS:
            out[rule.id] = first(df.agg(F.max(F.col(rule.column).cast("double"))))
        elif rule.kind is Kind.MEAN:
            out[rule.id] = first(df.agg(F.avg(rule.column), F.stddev_samp(rule.column)))
        elif rule.kind is Kind.DISTINCT_COUNT:
            out[rule.id] = first(df.agg(F.approx_count_distinct(rule.column, 0.02)))
    return out


def best_of(actions: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best wall time of each action over ``ROUNDS`` interleaved rounds."""
    best = dict.fromkeys(actions, float("inf"))
    for _ in range(ROUNDS):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def test_fused_scan_against_rule_per_action_and_a_bare_scan(spark: SparkSession, orders_uri: str, bench) -> None:
    df = spark.read.parquet(orders_uri)
    rows = df.count()
    columns = sorted({c for r in RULES for c in r.columns} | {"order_ts", "order_id"})
    now = datetime.now(UTC)

    fused_result = scan(df, RULES, primary_key=["order_id"], samples=0, now=now)
    by_id = fused_result.by_id()
    assert fused_result.rows == rows
    assert not [r.rule.id for r in fused_result.results if r.outcome.value == "ERROR"]
    assert by_id["order_id_unique"].failing_rows
    assert by_id["amount_range"].failing_rows
    assert by_id["not_in_future"].failing_rows
    baseline = per_action(df, RULES)
    for rule_id in ("amount_range", "not_in_future", "status_known", "order_id_shape"):
        assert by_id[rule_id].failing_rows == baseline[rule_id]
    # Samples change no result but the samples: every failing rule gets its first ones by key.
    sampled = scan(df, RULES, primary_key=["order_id"], samples=SAMPLES, now=now).by_id()
    for rule_id, result in by_id.items():
        assert (sampled[rule_id].outcome, sampled[rule_id].failing_rows) == (result.outcome, result.failing_rows)
        keys = [s["order_id"] for s in sampled[rule_id].samples]
        assert len(keys) == min(SAMPLES, result.failing_rows or 0), rule_id
        assert keys == sorted(keys), rule_id

    times = best_of(
        {
            "bare": lambda: df.select([F.count(c) for c in columns]).collect(),
            "per_action": lambda: per_action(df, RULES),
            "fused": lambda: scan(df, RULES, primary_key=["order_id"], samples=0, now=now),
            "samples": lambda: scan(df, RULES, primary_key=["order_id"], samples=SAMPLES, now=now),
        }
    )
    bench.record("quality bare scan (rule columns)", rows / times["bare"], "rows/s")
    bench.record(
        "quality rule-per-action (20 rules)",
        rows / times["per_action"],
        "rows/s",
        baseline="quality bare scan (rule columns)",
    )
    bench.record(
        "quality fused scan (20 rules)", rows / times["fused"], "rows/s", baseline="quality bare scan (rule columns)"
    )
    bench.record(
        "quality fused scan + samples", rows / times["samples"], "rows/s", baseline="quality bare scan (rule columns)"
    )
    bench.record("quality rule-per-action time", times["per_action"], "s")
    bench.record("quality fused scan time", times["fused"], "s", baseline="quality rule-per-action time")
    bench.record("quality fused + samples time", times["samples"], "s", baseline="quality fused scan time")
    fused_ratio = times["fused"] / times["per_action"]
    samples_ratio = times["samples"] / times["fused"]

    def verdict(ratio: float, target: float) -> str:
        return f"{ratio:.2f}x (target <= {target}x: {'met' if ratio <= target else 'missed'})"

    print(
        f"\n{rows:,} rows: bare {times['bare']:.2f}s, per-action {times['per_action']:.2f}s, "
        f"fused {times['fused']:.2f}s, with samples {times['samples']:.2f}s\n"
        f"fused / per-action = {verdict(fused_ratio, FUSED_TARGET)}; "
        f"samples / fused = {verdict(samples_ratio, SAMPLES_TARGET)}"
    )
