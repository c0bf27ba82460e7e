"""Data-quality scans: every rule kind's metric and outcome, thresholds, error isolation, samples, joins, custom
predicate checks, the Spark SQL renderer, the job's lineage facets, and the generator's seeded bad rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.jobs import base, quality_scan
from spark.quality.render_spark import check_predicate, render
from spark.quality.rules import (
    And,
    Call,
    Compare,
    InList,
    IsNull,
    Length,
    Not,
    Or,
    Outcome,
    RegexMatch,
    Rule,
    RuleError,
    col,
    failing_predicate,
    lit,
    parse_rules,
)
from spark.quality.scan import ScanResult, scan

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
SCHEMA = (
    "order_id string, line int, customer_id string, amount decimal(12,2), status string, email string, ts timestamp"
)


def _row(oid: str, line: int, cid: str | None, amount: str | None, status: str, email: str | None, day: int) -> tuple:
    return (oid, line, cid, None if amount is None else Decimal(amount), status, email, NOW.replace(day=day))


ROWS = [
    _row("o01", 1, "c1", "10.00", "paid", "ann@example.com", 1),
    _row("o02", 1, "c2", "-5.00", "paid", None, 2),
    _row("o03", 1, "c3", "20.00", "bogus", "not-an-email", 3),
    _row("o04", 1, "c9", "30.00", "shipped", "bo@example.com", 4),
    _row("o04", 2, "c1", "40.00", "shipped", "bo@example.com", 5),
    _row("o05", 1, None, "-1.00", "weird", None, 6),
    _row("o06", 1, "c8", "50.00", "paid", "cy@example.com", 7),
    _row("o06", 1, "c2", None, "paid", "cy@example.com", 8),
    _row("o07", 1, "c1", "60.00", "paid", "x", 9),
    _row("o08", 1, "c2", "70.00", "paid", "dee@example.com", 9),
]


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(ROWS, SCHEMA)


@pytest.fixture(scope="module")
def customers(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([("c1", "DE"), ("c2", "FR"), ("c3", "GB")], "customer_id string, country string")


@pytest.fixture(scope="module")
def statuses(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([("paid",), ("shipped",), ("delivered",)], "code string")


def failing_on_any_breach(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Rules that FAIL on any breach (``fail`` 0) unless they set a threshold of their own."""
    return [{"fail": 0, **rule} for rule in rules]


def run_scan(df: DataFrame, rules: list[dict[str, Any]], refs: dict[str, DataFrame] | None = None, **kw: Any) -> Any:
    result = scan(df, parse_rules(rules), primary_key=["order_id"], references=(refs or {}).__getitem__, now=NOW, **kw)
    return result.by_id()


def test_renderer_writes_parenthesised_spark_sql_for_expression_trees() -> None:
    assert render(And((Not(IsNull(col("a"))), Compare(">=", col("a"), lit(1.5))))) == (
        "((NOT (`a` IS NULL)) AND (`a` >= 1.5D))"
    )
    assert render(Or((InList(col("s"), ("x", "it's")), Compare("!=", col("n"), lit(3))))) == (
        "((`s` IN ('x', 'it\\'s')) OR (`n` <> 3))"
    )
    assert render(RegexMatch(col("e"), r"^\d+$")) == "(`e` RLIKE '^\\\\d+$')"
    assert render(Compare("<", Length(col("we`ird")), lit(2))) == "(char_length(`we``ird`) < 2)"
    assert render(Call("coalesce", (col("b"), lit(False)))) == "coalesce(`b`, FALSE)"
    assert render(IsNull(lit(None))) == "(NULL IS NULL)"
    with pytest.raises(RuleError):
        render(Call("drop table", ()))


def test_rendered_regex_and_quotes_match_what_spark_evaluates(spark: SparkSession) -> None:
    df = spark.createDataFrame([("123", "it's")], "e string, s string")
    row = df.select(
        F.expr(render(RegexMatch(col("e"), r"^\d+$"))).alias("digits"),
        F.expr(render(InList(col("s"), ("it's",)))).alias("quoted"),
    ).first()
    assert row is not None
    assert row["digits"] is True
    assert row["quoted"] is True


def test_row_rules_count_failing_rows_and_fail_on_any_breach(orders: DataFrame) -> None:
    results = run_scan(
        orders,
        failing_on_any_breach(
            {"id": "email_nn", "kind": "not_null", "column": "email"},
            {"id": "amount_range", "kind": "range", "column": "amount", "min": 0, "max": 60},
            {"id": "amount_open", "kind": "range", "column": "amount", "min": 10, "max": 70, "inclusive": False},
            {"id": "status_in", "kind": "allowed_values", "column": "status", "values": ["paid", "shipped"]},
            {"id": "email_rx", "kind": "regex", "column": "email", "pattern": "^[^@]+@[^@]+\\.[a-z]+$"},
            {"id": "email_len", "kind": "length", "column": "email", "min": 3, "max": 15},
            {"id": "small", "kind": "custom", "expression": "amount < 65 AND status <> 'weird'"},
            {"id": "id_len", "kind": "length", "column": "order_id", "min": 3, "max": 3},
        ),
    )
    expected = {
        "email_nn": 2,  # o02, o05
        "amount_range": 3,  # -5, -1, 70 (null amount is not a range failure)
        "amount_open": 4,  # -5, -1, 10 and 70 at the open bounds
        "status_in": 2,  # bogus, weird
        "email_rx": 2,  # not-an-email, x
        "email_len": 1,  # "x"; dee@example.com is exactly 15 characters
        "small": 3,  # o05 weird, o08 70, o06 null amount (unknown counts as failing)
        "id_len": 0,
    }
    for rule_id, failing in expected.items():
        result = results[rule_id]
        assert result.failing_rows == failing, rule_id
        assert result.failing_fraction == pytest.approx(failing / len(ROWS))
        assert result.outcome is (Outcome.FAIL if failing else Outcome.PASS), rule_id


def test_thresholds_turn_small_breaches_into_warnings(orders: DataFrame) -> None:
    results = run_scan(
        orders,
        [
            {"id": "warned", "kind": "not_null", "column": "email", "warn": 0.1, "fail": 0.25},
            {"id": "failed", "kind": "not_null", "column": "email", "warn": 0.05, "fail": 0.15},
            {"id": "tolerated", "kind": "not_null", "column": "email", "warn": 0.3, "fail": 0.5},
        ],
    )
    assert results["warned"].outcome is Outcome.WARN
    assert results["failed"].outcome is Outcome.FAIL
    assert results["tolerated"].outcome is Outcome.PASS
    assert Rule.from_dict({"id": "x", "kind": "not_null", "column": "a", "fail": 0.1}).outcome(0.1) is Outcome.PASS


def test_broken_rules_are_errors_and_the_others_still_run(orders: DataFrame) -> None:
    results = run_scan(
        orders,
        [
            {"id": "missing_column", "kind": "not_null", "column": "nope"},
            {"id": "bad_expression", "kind": "custom", "expression": "amount >> > 1"},
            {"id": "not_boolean", "kind": "custom", "expression": "amount + 1"},
            {"id": "bad_regex", "kind": "regex", "column": "email", "pattern": "(["},
            {"id": "no_bounds", "kind": "range", "column": "amount"},
            {"id": "fresh_on_text", "kind": "freshness", "column": "email", "max_age_seconds": 60},
            {
                "id": "unknown_reference",
                "kind": "referential",
                "column": "customer_id",
                "reference": {"dataset": "raw/customers", "field": "nope"},
            },
            {"id": "fails_when_run", "kind": "custom", "expression": "raise_error('boom') IS NULL"},
            {"id": "good", "kind": "not_null", "column": "email", "fail": 0},
        ],
        {"raw/customers": orders},
    )
    for rule_id, result in results.items():
        if rule_id == "good":
            assert result.outcome is Outcome.FAIL
            assert result.failing_rows == 2
        else:
            assert result.outcome is Outcome.ERROR, rule_id
            assert result.message, rule_id
    assert "nope" in results["missing_column"].message
    assert "boom" in results["fails_when_run"].message


@pytest.mark.parametrize(
    "expression",
    [
        "amount > 0; DROP TABLE orders",
        "(SELECT max(amount) FROM orders) > 0",
        "amount IN (select amount from orders)",
        "EXISTS(SELECT 1)",
        "amount > 0 -- comment",
        "reflect('java.lang.Runtime', 'getRuntime')",
        "amount >",
    ],
)
def test_custom_predicates_reject_statements_subqueries_and_bad_syntax(spark: SparkSession, expression: str) -> None:
    with pytest.raises(RuleError):
        check_predicate(spark, expression)


def test_custom_predicates_accept_expressions_with_words_inside_strings(spark: SparkSession) -> None:
    check_predicate(spark, "status <> 'select' AND lower(email) LIKE '%@%' AND amount BETWEEN 0 AND 10")


def test_samples_carry_primary_keys_and_the_rule_columns_capped_at_n(orders: DataFrame) -> None:
    results = run_scan(
        orders,
        [
            {"id": "amount_positive", "kind": "range", "column": "amount", "min": 100},
            {"id": "email_nn", "kind": "not_null", "column": "email"},
            {"id": "ok", "kind": "not_null", "column": "order_id"},
        ],
        samples=3,
    )
    samples = results["amount_positive"].samples
    assert len(samples) == 3
    assert [s["order_id"] for s in samples] == ["o01", "o02", "o03"]
    assert set(samples[0]) == {"order_id", "amount"}
    assert samples[1]["amount"] == "-5.00"
    assert results["email_nn"].samples == [{"order_id": "o02", "email": None}, {"order_id": "o05", "email": None}]
    assert results["ok"].samples == []


def scan_jobs(spark: SparkSession, df: DataFrame, rules: list[Rule], samples: int, **kw: Any) -> int:
    """The number of Spark jobs one scan submits (from any of its threads)."""
    group = f"quality-test-{uuid.uuid4()}"
    spark.sparkContext.setJobGroup(group, "quality scan jobs")
    try:
        scan(df, rules, primary_key=["order_id"], samples=samples, now=NOW, **kw)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_samples_of_all_row_rules_come_from_one_extra_job(spark: SparkSession, orders: DataFrame) -> None:
    rules = parse_rules(
        [
            {"id": "a", "kind": "range", "column": "amount", "min": 0},
            {"id": "b", "kind": "not_null", "column": "email"},
            {"id": "c", "kind": "allowed_values", "column": "status", "values": ["paid"]},
            {"id": "n", "kind": "row_count", "min": 1},
        ]
    )
    # Adaptive execution submits each shuffle's map stage as a job of its own, so one pass is at most two jobs.
    without = scan_jobs(spark, orders, rules, 0)
    assert without <= 2  # the fused aggregation for all four rules
    assert 1 <= scan_jobs(spark, orders, rules, 5) - without <= 2  # one sample pass for the three failing row rules


def test_duplicate_and_orphan_samples_come_from_the_jobs_that_count_them(
    spark: SparkSession, orders: DataFrame, customers: DataFrame
) -> None:
    rules = parse_rules(
        [
            {"id": "order_id", "kind": "unique", "column": "order_id"},
            {
                "id": "customer_fk",
                "kind": "referential",
                "column": "customer_id",
                "reference": {"dataset": "raw/customers", "field": "customer_id"},
            },
        ]
    )
    refs = {"raw/customers": customers}.__getitem__
    # The totals are observed while the first keys are picked: no second job reads the duplicates or orphans again.
    assert scan_jobs(spark, orders, rules, 5, references=refs) <= scan_jobs(spark, orders, rules, 0, references=refs)
    results = scan(orders, rules, primary_key=["order_id"], references=refs, samples=1, now=NOW).by_id()
    assert results["order_id"].failing_rows == 2
    assert results["order_id"].details["duplicate_keys"] == 2
    assert results["order_id"].samples == [{"order_id": "o04", "rows": 2}]
    assert results["customer_fk"].failing_rows == 2
    assert results["customer_fk"].samples == [{"order_id": "o04", "customer_id": "c9"}]


def test_row_samples_follow_sparks_key_order_nulls_first_and_nan_last(spark: SparkSession) -> None:
    keys = [3.5, None, float("nan"), -1.0, 0.0, 2.0, None]
    df = spark.createDataFrame([(k, None) for k in keys], "k double, v string")
    rules = parse_rules([{"id": "v_present", "kind": "not_null", "column": "v"}])
    samples = scan(df, rules, primary_key=["k"], samples=6, now=NOW).by_id()["v_present"].samples
    expected = [row["k"] for row in df.orderBy("k").limit(6).collect()]
    assert [s["k"] for s in samples[:2]] == [None, None]
    assert [s["k"] for s in samples[2:]] == expected[2:] == [-1.0, 0.0, 2.0, 3.5]
    nan_last = scan(df, rules, primary_key=["k"], samples=7, now=NOW).by_id()["v_present"].samples[-1]["k"]
    assert nan_last == "nan"  # a NaN sample is written as text, and Spark sorts it after every number


def test_uniqueness_on_one_and_several_columns(orders: DataFrame) -> None:
    results = run_scan(
        orders,
        [
            {"id": "order_id", "kind": "unique", "column": "order_id"},
            {"id": "order_line", "kind": "unique", "columns": ["order_id", "line"]},
            {"id": "customer_email", "kind": "unique", "columns": ["customer_id", "email"]},
        ],
        samples=5,
    )
    assert results["order_id"].failing_rows == 2  # second copies of o04 and o06
    assert results["order_id"].details["duplicate_keys"] == 2
    assert results["order_id"].samples == [{"order_id": "o04", "rows": 2}, {"order_id": "o06", "rows": 2}]
    assert results["order_line"].failing_rows == 1  # only o06/1 repeats
    assert results["order_line"].samples == [{"order_id": "o06", "line": 1, "rows": 2}]
    assert results["customer_email"].outcome is Outcome.PASS  # nulls in a key part are not duplicates


def test_referential_rules_and_reference_value_sets_use_anti_joins(
    orders: DataFrame, customers: DataFrame, statuses: DataFrame
) -> None:
    results = run_scan(
        orders,
        [
            {
                "id": "customer_fk",
                "kind": "referential",
                "column": "customer_id",
                "reference": {"dataset": "raw/customers", "field": "customer_id"},
                "fail": 0,
            },
            {
                "id": "status_ref",
                "kind": "allowed_values",
                "column": "status",
                "reference": {"dataset": "ref/statuses", "field": "code"},
            },
        ],
        {"raw/customers": customers, "ref/statuses": statuses},
        samples=10,
    )
    fk = results["customer_fk"]
    assert fk.failing_rows == 2  # c9 and c8; the null customer is not an orphan
    assert fk.outcome is Outcome.FAIL
    assert fk.samples == [{"order_id": "o04", "customer_id": "c9"}, {"order_id": "o06", "customer_id": "c8"}]
    assert results["status_ref"].failing_rows == 2
    assert {s["status"] for s in results["status_ref"].samples} == {"bogus", "weird"}


def test_metric_rules_freshness_row_count_mean_distinct_and_schema(orders: DataFrame) -> None:
    results = run_scan(
        orders,
        failing_on_any_breach(
            {"id": "fresh", "kind": "freshness", "column": "ts", "max_age_seconds": 2 * 86400},
            {"id": "stale", "kind": "freshness", "column": "ts", "max_age_seconds": 3600, "warn": 0, "fail": 100},
            {"id": "enough", "kind": "row_count", "min": 5, "max": 20},
            {"id": "too_few", "kind": "row_count", "min": 20},
            {"id": "mean_ok", "kind": "mean", "column": "amount", "baseline_mean": 30, "tolerance": 0.1},
            {"id": "mean_drift", "kind": "mean", "column": "amount", "baseline_mean": 100, "tolerance": 0.1},
            {
                "id": "mean_sd",
                "kind": "mean",
                "column": "amount",
                "baseline_mean": 40,
                "baseline_stddev": 25,
                "tolerance": 0.5,
            },
            {"id": "distinct", "kind": "distinct_count", "column": "status", "min": 2, "max": 3},
            {"id": "distinct_low", "kind": "distinct_count", "column": "status", "min": 10},
            {"id": "schema_ok", "kind": "schema", "expected": {"amount": "decimal(12,2)", "ts": "timestamp"}},
            {"id": "schema_bad", "kind": "schema", "expected": {"amount": "double", "missing": "int"}},
        ),
    )
    assert results["fresh"].metric == pytest.approx(86400)  # newest row: the 9th at noon, a day before NOW
    assert results["fresh"].outcome is Outcome.PASS
    assert results["stale"].outcome is Outcome.WARN
    assert results["enough"].outcome is Outcome.PASS
    assert results["enough"].metric == len(ROWS)
    assert results["too_few"].outcome is Outcome.FAIL
    amounts = [float(r[3]) for r in ROWS if r[3] is not None]
    assert results["mean_ok"].metric == pytest.approx(sum(amounts) / len(amounts))
    assert results["mean_ok"].outcome is Outcome.PASS
    assert results["mean_drift"].outcome is Outcome.FAIL
    assert results["mean_sd"].details["drift"] == pytest.approx(abs(sum(amounts) / len(amounts) - 40) / 25)
    assert results["distinct"].metric == 4
    assert results["distinct"].outcome is Outcome.FAIL
    assert results["distinct_low"].outcome is Outcome.FAIL
    assert results["schema_ok"].outcome is Outcome.PASS
    assert results["schema_bad"].outcome is Outcome.FAIL
    assert results["schema_bad"].details["problems"] == ["amount is decimal(12,2), expected double", "missing missing"]


def test_rules_document_errors_are_reported() -> None:
    with pytest.raises(RuleError):
        parse_rules([{"id": "a", "kind": "nonsense"}])
    with pytest.raises(RuleError):
        parse_rules([{"id": "a", "kind": "not_null", "column": "x"}, {"id": "a", "kind": "unique", "column": "x"}])
    with pytest.raises(RuleError):
        parse_rules([{"kind": "not_null", "column": "x"}])
    big = {"id": "big", "kind": "allowed_values", "column": "x", "values": list(range(5000))}
    with pytest.raises(RuleError, match="reference dataset"):
        failing_predicate(parse_rules([big])[0])


LAKE_RULES = failing_on_any_breach(
    {"id": "amount_not_negative", "kind": "range", "column": "total_amount", "min": 0},
    {"id": "not_in_future", "kind": "custom", "expression": "order_ts <= current_timestamp()", "columns": ["order_ts"]},
    {"id": "order_id_unique", "kind": "unique", "column": "order_id"},
    {
        "id": "customer_known",
        "kind": "referential",
        "column": "customer_id",
        "reference": {"dataset": "raw/customers", "field": "customer_id"},
    },
    {"id": "order_id_present", "kind": "not_null", "column": "order_id"},
    {
        "id": "status_known",
        "kind": "allowed_values",
        "column": "status",
        "values": [
            "pending",
            "processing",
            "shipped",
            "delivered",
            "returned",
            "refunded",
            "cancelled",
            "payment_failed",
        ],
    },
    {"id": "rows", "kind": "row_count", "min": 1000},
    {"id": "broken", "kind": "not_null", "column": "no_such_column"},
)


def run_job(
    spark: SparkSession, lake: str, tmp_path: Path, dataset: str, rules: list[dict[str, Any]] | None, *extra: str
) -> tuple[Any, Path]:
    """Runs the job in this process; ``rules`` go in one ``--rules`` list (None: leave it out)."""
    events = tmp_path / "events.jsonl"
    parser = base.base_parser(quality_scan.NAME)
    quality_scan.add_arguments(parser)
    listed = [] if rules is None else ["--rules", json.dumps(rules)]
    args = parser.parse_args(["--lake", lake, "--dataset", dataset, *listed, "--lineage-file", str(events), *extra])
    return base.execute(quality_scan.NAME, quality_scan.run, args, spark=spark), events


def rule_argument(rule: dict[str, Any]) -> str:
    """One rule as the portal passes it: a compact JSON object in one argument."""
    return "--rule=" + json.dumps(rule, separators=(",", ":"))


def test_job_finds_the_generators_seeded_bad_orders(spark: SparkSession, small_lake: str, tmp_path: Path) -> None:
    result, _ = run_job(spark, small_lake, tmp_path, "raw/orders", LAKE_RULES, "--samples", "3")
    summary = result.summary
    orders = spark.read.parquet(f"{small_lake}/raw/orders")
    customers = spark.read.parquet(f"{small_lake}/raw/customers")
    rules = {r["id"]: r for r in summary["rules"]}
    assert summary["rows_scanned"] == orders.count()
    negative = orders.where("total_amount < 0").count()
    future = orders.where("order_ts > current_timestamp()").count()
    duplicates = orders.count() - orders.select("order_id").distinct().count()
    orphans = orders.join(customers, "customer_id", "left_anti").where("customer_id IS NOT NULL").count()
    assert min(negative, future, duplicates, orphans) > 0
    assert rules["amount_not_negative"]["failing_rows"] == negative
    assert rules["not_in_future"]["failing_rows"] == future
    assert rules["order_id_unique"]["failing_rows"] == duplicates
    assert rules["customer_known"]["failing_rows"] == orphans
    for rule_id in ("amount_not_negative", "not_in_future", "order_id_unique", "customer_known"):
        assert rules[rule_id]["outcome"] == "FAIL"
        assert 0 < len(rules[rule_id]["samples"]) <= 3
        assert all("order_id" in s for s in rules[rule_id]["samples"])
    assert all(s["total_amount"].startswith("-") for s in rules["amount_not_negative"]["samples"])
    assert rules["order_id_present"]["outcome"] == "PASS"
    assert rules["status_known"]["outcome"] == "PASS"
    assert rules["rows"]["outcome"] == "PASS"
    assert rules["broken"]["outcome"] == "ERROR"
    json.dumps(summary)


def test_job_finds_null_and_malformed_emails(spark: SparkSession, small_lake: str, tmp_path: Path) -> None:
    rules = [
        {"id": "email_present", "kind": "not_null", "column": "email"},
        {"id": "email_shape", "kind": "regex", "column": "email", "pattern": "^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$"},
    ]
    result, _ = run_job(spark, small_lake, tmp_path, "raw/customers", rules)
    by_id = {r["id"]: r for r in result.summary["rules"]}
    customers = spark.read.parquet(f"{small_lake}/raw/customers")
    assert by_id["email_present"]["failing_rows"] == customers.where("email IS NULL").count() > 0
    assert by_id["email_shape"]["failing_rows"] > 0
    assert all("customer_id" in s for s in by_id["email_shape"]["samples"])


def test_job_lineage_carries_quality_facets_that_validate(
    spark: SparkSession, small_lake: str, tmp_path: Path, validate_openlineage: Any
) -> None:
    result, events_file = run_job(spark, small_lake, tmp_path, "raw/orders", LAKE_RULES)
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_openlineage(event)
    scanned = next(i for i in events[1]["inputs"] if i["name"].endswith("raw/orders"))
    metrics = scanned["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == result.summary["rows_scanned"]
    assert metrics["columnMetrics"]["order_id"]["nullCount"] == 0
    assertions = {a["name"]: a for a in scanned["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert assertions["amount_not_negative"]["success"] is False
    assert assertions["amount_not_negative"]["column"] == "total_amount"
    assert assertions["rows"]["success"] is True
    assert any(i["name"].endswith("raw/customers") for i in events[1]["inputs"])


def test_incremental_scan_reads_only_the_named_partitions(spark: SparkSession, small_lake: str, tmp_path: Path) -> None:
    orders = spark.read.parquet(f"{small_lake}/raw/orders")
    cut = "2025-07-01"
    result, _ = run_job(
        spark,
        small_lake,
        tmp_path,
        "raw/orders",
        [{"id": "rows", "kind": "row_count", "min": 1}],
        "--partitions",
        f"order_date>={cut}",
    )
    assert result.summary["rows_scanned"] == orders.where(f"order_date >= '{cut}'").count()
    assert 0 < result.summary["rows_scanned"] < orders.count()


def test_scan_result_serialises_every_field(orders: DataFrame) -> None:
    result = scan(orders, parse_rules([{"id": "a", "kind": "not_null", "column": "email", "fail": 0}]), now=NOW)
    assert isinstance(result, ScanResult)
    document = result.to_dict()
    assert document["rows_scanned"] == len(ROWS)
    assert document["outcomes"]["FAIL"] == 1
    assert set(document["rules"][0]) >= {"metric", "failing_rows", "failing_fraction", "outcome", "message", "samples"}


def test_rules_without_a_fail_threshold_never_fail(spark: SparkSession, orders: DataFrame) -> None:
    absent = Rule.from_dict({"id": "a", "kind": "not_null", "column": "email"})
    null = Rule.from_dict({"id": "b", "kind": "not_null", "column": "email", "warn": None, "fail": None})
    assert absent.fail is None
    assert null.fail is None
    assert null.warn is None
    assert absent.outcome(float("inf")) is Outcome.PASS
    assert Rule.from_dict({"id": "c", "kind": "row_count", "warn": 0, "min": 1}).outcome(5.0) is Outcome.WARN
    assert Rule.from_dict({"id": "d", "kind": "row_count", "fail": "0.5", "min": 1}).fail == 0.5
    for bad in (True, "lots", [0.1], float("nan")):
        with pytest.raises(RuleError, match="fail must be a finite number or null"):
            Rule.from_dict({"id": "e", "kind": "not_null", "column": "email", "fail": bad})
    empty = spark.createDataFrame([], SCHEMA)
    results = run_scan(
        orders,
        [
            {"id": "informational", "kind": "not_null", "column": "email"},  # 20% of the rows fail
            {"id": "warn_only", "kind": "not_null", "column": "email", "warn": 0.1},
            {"id": "too_few", "kind": "row_count", "min": 1000, "fail": None},
            {"id": "fails", "kind": "not_null", "column": "email", "fail": 0.1},
        ],
    )
    assert results["informational"].failing_rows == 2
    assert results["informational"].outcome is Outcome.PASS
    assert results["warn_only"].outcome is Outcome.WARN
    assert results["too_few"].outcome is Outcome.PASS
    assert results["fails"].outcome is Outcome.FAIL
    assert results["informational"].to_dict()["fail"] is None
    assert results["fails"].to_dict()["fail"] == 0.1
    # No data at all is an unbounded breach, still judged by the thresholds the rule has.
    stale = run_scan(
        empty,
        [
            {"id": "no_threshold", "kind": "freshness", "column": "ts", "max_age_seconds": 60},
            {"id": "warned", "kind": "mean", "column": "amount", "baseline_mean": 1, "warn": 0},
            {"id": "failed", "kind": "freshness", "column": "ts", "max_age_seconds": 60, "fail": 0},
        ],
    )
    assert [stale[i].outcome for i in ("no_threshold", "warned", "failed")] == [
        Outcome.PASS,
        Outcome.WARN,
        Outcome.FAIL,
    ]
    scanned = scan(orders, [absent, Rule.from_dict({"id": "t", "kind": "row_count", "min": 1, "warn": 0.1, "fail": 2})])
    assert [a.expected for a in quality_scan.assertions(scanned)] == ["no thresholds (never trips)", "warn>0.1 fail>2"]


def test_job_takes_one_rule_per_argument_with_or_without_a_rules_list(
    spark: SparkSession, small_lake: str, tmp_path: Path
) -> None:
    listed = {"id": "rows", "kind": "row_count", "min": 1}
    negative = {"id": "amount_not_negative", "kind": "range", "column": "total_amount", "min": 0, "fail": 0}
    present = {"id": "order_id_present", "kind": "not_null", "column": "order_id", "warn": None, "fail": 0.5}
    alone, _ = run_job(spark, small_lake, tmp_path, "raw/orders", None, rule_argument(negative), rule_argument(present))
    by_id = {r["id"]: r for r in alone.summary["rules"]}
    assert list(by_id) == ["amount_not_negative", "order_id_present"]
    assert by_id["amount_not_negative"]["outcome"] == "FAIL"
    assert by_id["amount_not_negative"]["failing_rows"] > 0
    assert by_id["order_id_present"]["outcome"] == "PASS"
    assert by_id["order_id_present"]["fail"] == 0.5
    assert by_id["order_id_present"]["warn"] is None
    # The separate form (--rule JSON) and the --rules list together: the list's rules come first.
    both, _ = run_job(spark, small_lake, tmp_path, "raw/orders", [listed], "--rule", json.dumps(negative))
    assert [r["id"] for r in both.summary["rules"]] == ["rows", "amount_not_negative"]
    assert both.summary["rules"][1]["failing_rows"] == by_id["amount_not_negative"]["failing_rows"]


@pytest.mark.parametrize(
    ("rules", "extra", "message"),
    [
        (None, [], "no rules"),
        ([], [], "no rules"),
        (None, ["--rule", "[1, 2]"], "must be one JSON object"),
        (None, ["--rule", "{'id': 'x'}"], "not valid JSON"),
        ([{"id": "rows", "kind": "row_count", "min": 1}], ["--rule", '{"id":"rows","kind":"row_count"}'], "unique"),
        (None, ["--rule", '{"id":"rows","kind":"row_count","min":1}', "--sample-rows", "0"], "sample-rows"),
    ],
)
def test_job_refuses_missing_or_malformed_rule_arguments(
    spark: SparkSession, small_lake: str, tmp_path: Path, rules: list[Any] | None, extra: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_job(spark, small_lake, tmp_path, "raw/orders", rules, *extra)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "FAIL"]


def test_sample_rows_scans_only_the_first_rows_of_the_filtered_dataset(
    spark: SparkSession, small_lake: str, tmp_path: Path
) -> None:
    orders = spark.read.parquet(f"{small_lake}/raw/orders")
    cut = "2025-07-01"
    later = orders.where(f"order_date >= '{cut}'").count()
    assert later > 100
    rules = [
        rule_argument({"id": "rows", "kind": "row_count", "min": 1}),
        rule_argument({"id": "order_id_unique", "kind": "unique", "column": "order_id"}),
        rule_argument({"id": "amount", "kind": "range", "column": "total_amount", "min": 0, "max": 0}),
    ]
    result, events_file = run_job(
        spark,
        small_lake,
        tmp_path,
        "raw/orders",
        None,
        *rules,
        "--partitions",
        f"order_date>={cut}",
        "--sample-rows",
        "100",
    )
    summary = result.summary
    assert summary["sample_rows"] == 100
    assert summary["rows_scanned"] == 100
    by_id = {r["id"]: r for r in summary["rules"]}
    assert by_id["rows"]["metric"] == 100
    # The range rule counts within the hundred rows, and its samples are rows of the filtered partitions.
    assert 0 < by_id["amount"]["failing_rows"] <= 100
    assert by_id["amount"]["failing_fraction"] == pytest.approx(by_id["amount"]["failing_rows"] / 100)
    sampled = {s["order_id"] for s in by_id["amount"]["samples"]}
    dates = orders.where(F.col("order_id").isin(list(sampled))).select("order_date").distinct().collect()
    assert dates
    assert all(str(d["order_date"]) >= cut for d in dates)
    metrics = json.loads(events_file.read_text().splitlines()[-1])["inputs"][0]["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 100
    # More rows than the partitions hold: all of them, and a full scan reports no sample size.
    whole, _ = run_job(
        spark,
        small_lake,
        tmp_path,
        "raw/orders",
        None,
        rules[0],
        "--partitions",
        f"order_date>={cut}",
        "--sample-rows",
        "1000000",
    )
    assert whole.summary["rows_scanned"] == later
    full, _ = run_job(spark, small_lake, tmp_path, "raw/orders", None, rules[0])
    assert full.summary["sample_rows"] is None
    assert full.summary["rows_scanned"] == orders.count()
