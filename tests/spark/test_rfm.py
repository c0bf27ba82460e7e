"""RFM segmentation: the rule table, the scoring rule (5 = best, ties never split), the order window and validity
rules, the output partition and schema, the per-segment statistics and the OpenLineage events.

Most tests read one run over a hand-built "grid" of 125 customers, one per score triple: five levels per measure
with 25 customers each, so every customer's quintile scores are exactly its designed (r, f, m). Orders that must not
count (cancelled, refunded, negative, outside the window, duplicated, without a customer) are planted on grid
customers; if any counted, that customer's measures would be off.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

import spark.rfm_segments as table
from spark.jobs import rfm
from spark.jobs.base import JobResult, base_parser, execute
from spark.paths import dataset_uri
from spark.rfm_segments import RULES, SEGMENT_BY_CODE, SEGMENTS, matching_rules, segment_for
from spark.schema import ORDERS, RFM_SEGMENTS

AS_OF = date(2026, 11, 1)
SCORES = range(1, 6)


def at(day: date, clock: time = time(12)) -> datetime:
    return datetime.combine(day, clock, tzinfo=UTC)


def order(oid: str, customer: str | None, ts: datetime, amount: str, status: str = "delivered") -> tuple[Any, ...]:
    return (
        oid,
        customer,
        ts,
        status,
        "credit_card",
        "EUR",
        Decimal(amount),
        "DE",
        "10.0.0.1",
        "desktop",
        "s",
        ts.date(),
    )


def write_orders(spark: SparkSession, root: str, rows: list[tuple[Any, ...]], path: str = "raw/orders") -> None:
    frame = spark.createDataFrame(rows, ORDERS.schema)
    frame.write.mode("overwrite").partitionBy("order_date").parquet(dataset_uri(root, path))


def run_rfm(spark: SparkSession, root: str, *extra: str, as_of: date = AS_OF) -> JobResult:
    parser = base_parser(rfm.NAME)
    rfm.add_arguments(parser)
    args = parser.parse_args(["--lake", root, "--as-of", as_of.isoformat(), *extra])
    return execute(rfm.NAME, rfm.run, args, spark=spark)


def output(spark: SparkSession, root: str, as_of: date = AS_OF) -> dict[str, Row]:
    frame = spark.read.parquet(dataset_uri(root, RFM_SEGMENTS.path)).where(F.col("as_of") == F.lit(as_of))
    return {row["customer_id"]: row for row in frame.collect()}


def grid_orders() -> list[tuple[Any, ...]]:
    """Customer ``c{r}{f}{m}``: last order (5 - r) * 30 days before as_of, f orders, m * 1000 spent."""
    rows = []
    for r, f, m in product(SCORES, SCORES, SCORES):
        customer = f"c{r}{f}{m}"
        # The most recent level orders in the last second of as_of: the window's end is inclusive.
        last = at(AS_OF - timedelta(days=(5 - r) * 30), time(23, 59, 59) if r == 5 else time(12))
        for i in range(f):
            amount = f"{m * 1000 - (f - 1)}.00" if i == 0 else "1.00"
            rows.append(order(f"o-{customer}-{i}", customer, last - timedelta(days=i), amount))
    # c151's first order falls on the window's first day (as_of - 364 days), at midnight: it counts.
    rows = [r for r in rows if r[0] != "o-c151-4"]
    rows.append(order("o-c151-4", "c151", at(AS_OF - timedelta(days=364), time(0)), "1.00"))
    return rows


def noise_orders() -> list[tuple[Any, ...]]:
    """Orders that must not count, each on a grid customer whose measures it would change."""
    return [
        order("n-1", "c111", at(AS_OF), "99999.00", "cancelled"),
        order("n-2", "c111", at(AS_OF), "99999.00", "Refunded"),
        order("n-3", "c112", at(AS_OF), "99999.00", "payment_failed"),
        order("n-4", "c113", at(AS_OF), "99999.00", "returned"),
        order("n-5", "c222", at(AS_OF), "-500.00"),
        order("n-6", "c333", at(AS_OF - timedelta(days=365), time(23, 59, 59)), "99999.00"),  # a day too early
        order("n-7", "c444", at(AS_OF + timedelta(days=1), time(0)), "99999.00"),  # after as_of
        order("n-8", "c445", at(AS_OF + timedelta(days=3650)), "99999.00"),  # a bad future timestamp
        order("n-9", None, at(AS_OF), "99999.00"),
        order("n-10", "old-only", at(AS_OF - timedelta(days=400)), "99999.00"),
    ]


@dataclass
class GridRun:
    root: str
    result: JobResult
    rows: dict[str, Row]
    events: list[dict[str, Any]]


@pytest.fixture(scope="module")
def grid(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> GridRun:
    base = tmp_path_factory.mktemp("rfm_grid")
    root = "file://" + str(base)
    rows = grid_orders() + noise_orders()
    rows.append(next(r for r in rows if r[0] == "o-c555-2"))  # an exact duplicate row
    write_orders(spark, root, rows)
    # Partitions that exist before the run: another as_of (kept) and a stale copy of this one (replaced).
    files = StructType([f for f in RFM_SEGMENTS.schema.fields if f.name != "as_of"])  # as_of is the directory
    stale = spark.createDataFrame([("stale", 1, 1, Decimal("1.00"), 1, 1, 1, "111", "Lost")], files).coalesce(1)
    stale.write.parquet(f"{dataset_uri(root, RFM_SEGMENTS.path)}/as_of=2026-10-01")
    stale.write.parquet(f"{dataset_uri(root, RFM_SEGMENTS.path)}/as_of={AS_OF.isoformat()}")
    events_file = base / "events.jsonl"
    result = run_rfm(spark, root, "--lineage-file", str(events_file))
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    return GridRun(root, result, output(spark, root), events)


def designed(customer: str) -> tuple[int, int, int]:
    r, f, m = (int(c) for c in customer[1:])
    return r, f, m


# --- the rule table ------------------------------------------------------------------------------------------


def test_rule_table_maps_each_of_the_125_codes_to_exactly_one_segment() -> None:
    assert len(SEGMENT_BY_CODE) == 125
    for r, f, m in product(SCORES, SCORES, SCORES):
        assert len(matching_rules(r, f, m)) == 1, (r, f, m)
        assert SEGMENT_BY_CODE[f"{r}{f}{m}"] in SEGMENTS


def test_every_segment_is_reachable_and_every_rule_is_used() -> None:
    assert set(SEGMENT_BY_CODE.values()) == set(SEGMENTS)
    assert len(SEGMENTS) == 11
    for rule in RULES:
        assert any(rule.matches(r, f, m) for r, f, m in product(SCORES, SCORES, SCORES)), rule


def test_the_documented_grid_is_the_rule_table() -> None:
    doc = table.__doc__ or ""
    columns = [(1, 1.5), (2, 2.5), (3, 3), (3.5, 3.5), (4, 4), (4.5, 5)]
    rows = [line for line in doc.splitlines() if re.match(r"^[1-5] {3,}", line)]
    assert len(rows) == 5
    for line in rows:
        r, *cells = re.split(r" {2,}", line.strip())
        assert len(cells) == len(columns), line
        for (low, high), cell in zip(columns, cells, strict=True):
            for f, m in product(SCORES, SCORES):
                if low <= (f + m) / 2 <= high:
                    assert SEGMENT_BY_CODE[f"{r}{f}{m}"] == cell, (r, f, m)


def test_scores_outside_one_to_five_are_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        segment_for(0, 3, 3)
    with pytest.raises(ValueError, match=r"1\.\.5"):
        segment_for(3, 6, 3)


def test_tied_values_share_the_score_of_their_first_position() -> None:
    # 60% one-order customers all score 1, not spread over quintiles 1-3.
    assert rfm.scores_by_value({1: 60, 2: 20, 3: 10, 5: 10}, higher_is_better=True) == {1: 1, 2: 4, 3: 5, 5: 5}
    # Recency: fewer days is better, so the most recent day scores highest.
    assert rfm.scores_by_value({0: 20, 10: 20, 20: 20, 30: 20, 40: 20}, higher_is_better=False) == {
        40: 1,
        30: 2,
        20: 3,
        10: 4,
        0: 5,
    }


def test_curated_input_is_not_deduplicated_unless_asked() -> None:
    assert rfm.deduplicates("auto", "raw/orders")
    assert not rfm.deduplicates("auto", "curated/orders")
    assert rfm.deduplicates("yes", "curated/orders")
    assert not rfm.deduplicates("no", "raw/orders")


# --- one run over the grid -----------------------------------------------------------------------------------

EXAMPLES = {
    table.CHAMPIONS: "555",
    table.LOYAL: "344",
    table.POTENTIAL_LOYALISTS: "522",
    table.NEW_CUSTOMERS: "511",
    table.PROMISING: "411",
    table.NEED_ATTENTION: "333",
    table.ABOUT_TO_SLEEP: "311",
    table.AT_RISK: "244",
    table.CANNOT_LOSE: "155",
    table.HIBERNATING: "211",
    table.LOST: "111",
}


@pytest.mark.parametrize(("segment", "code"), sorted(EXAMPLES.items()))
def test_a_customer_with_these_scores_lands_in_the_segment(grid: GridRun, segment: str, code: str) -> None:
    row = grid.rows[f"c{code}"]
    assert (row["r_score"], row["f_score"], row["m_score"]) == tuple(int(c) for c in code)
    assert row["rfm_code"] == code
    assert row["segment"] == segment


def test_every_grid_customer_gets_its_designed_measures_scores_and_segment(grid: GridRun) -> None:
    grid_customers = {f"c{r}{f}{m}" for r, f, m in product(SCORES, SCORES, SCORES)}
    assert set(grid.rows) == grid_customers
    for customer, row in grid.rows.items():
        r, f, m = designed(customer)
        assert (row["recency_days"], row["frequency"], row["monetary"]) == ((5 - r) * 30, f, m * 1000), customer
        assert (row["r_score"], row["f_score"], row["m_score"]) == (r, f, m), customer
        assert row["segment"] == SEGMENT_BY_CODE[f"{r}{f}{m}"], customer


def test_the_most_recent_frequent_and_biggest_spender_scores_five_on_each(grid: GridRun) -> None:
    best = grid.rows["c555"]
    rows = grid.rows.values()
    assert best["recency_days"] == min(r["recency_days"] for r in rows) == 0
    assert best["frequency"] == max(r["frequency"] for r in rows)
    assert best["monetary"] == max(r["monetary"] for r in rows)
    assert (best["r_score"], best["f_score"], best["m_score"], best["segment"]) == (5, 5, 5, table.CHAMPIONS)
    worst = grid.rows["c111"]
    assert (worst["r_score"], worst["f_score"], worst["m_score"], worst["segment"]) == (1, 1, 1, table.LOST)


def test_orders_outside_the_lookback_window_do_not_count(grid: GridRun) -> None:
    assert "old-only" not in grid.rows
    assert grid.rows["c333"]["monetary"] == Decimal(3000)  # the order a day before the window
    assert grid.rows["c444"]["frequency"] == 4  # the order the day after as_of
    assert grid.rows["c445"]["frequency"] == 4  # ten years in the future
    assert grid.rows["c151"]["frequency"] == 5  # the window's first day counts
    assert grid.result.summary["window"] == {
        "from": "2025-11-02T00:00:00+00:00",
        "to_exclusive": "2026-11-02T00:00:00+00:00",
    }


def test_cancelled_refunded_failed_returned_and_negative_orders_do_not_count(grid: GridRun) -> None:
    for customer in ("c111", "c112", "c113", "c222"):
        _, f, m = designed(customer)
        assert grid.rows[customer]["frequency"] == f, customer
        assert grid.rows[customer]["monetary"] == Decimal(m * 1000), customer
    assert grid.result.summary["customers"] == 125  # the order without a customer made none


def test_a_duplicated_order_row_counts_once(grid: GridRun) -> None:
    assert grid.result.summary["deduplicated"] is True
    assert grid.rows["c555"]["frequency"] == 5
    assert grid.rows["c555"]["monetary"] == Decimal(5000)


def test_output_has_the_canonical_schema_and_replaces_only_its_partition(spark: SparkSession, grid: GridRun) -> None:
    written = spark.read.parquet(dataset_uri(grid.root, RFM_SEGMENTS.path))
    assert [(f.name, f.dataType) for f in written.schema.fields] == [
        (f.name, f.dataType) for f in RFM_SEGMENTS.schema.fields
    ]
    kept = written.where(F.col("as_of") == F.lit(date(2026, 10, 1))).collect()
    assert [row["customer_id"] for row in kept] == ["stale"]
    assert "stale" not in grid.rows


def test_segment_statistics_add_up(grid: GridRun) -> None:
    summary = grid.result.summary
    segments = {s["segment"]: s for s in summary["segments"]}
    assert list(segments) == list(SEGMENTS)
    assert sum(s["revenue_share"] for s in segments.values()) == pytest.approx(1.0)
    assert sum(s["customers"] for s in segments.values()) == summary["rows"] == 125
    assert Decimal(summary["revenue"]) == sum(row["monetary"] for row in grid.rows.values())
    for name, stats in segments.items():
        members = [row for row in grid.rows.values() if row["segment"] == name]
        assert stats["customers"] == len(members), name
        assert Decimal(stats["revenue"]) == sum((row["monetary"] for row in members), Decimal(0)), name
        assert stats["avg_frequency"] == pytest.approx(sum(r["frequency"] for r in members) / len(members), abs=1e-3)


def test_lineage_events_validate_and_carry_column_lineage(grid: GridRun, validate_openlineage) -> None:
    assert [e["eventType"] for e in grid.events] == ["START", "COMPLETE"]
    for event in grid.events:
        validate_openlineage(event)
    complete = grid.events[1]
    (source,) = complete["inputs"]
    assert source["name"] == "raw/orders"
    assert {f["name"] for f in source["facets"]["schema"]["fields"]} == set(ORDERS.columns)
    (target,) = complete["outputs"]
    assert target["name"] == RFM_SEGMENTS.path
    assert target["outputFacets"]["outputStatistics"]["rowCount"] == 125
    fields = target["facets"]["columnLineage"]["fields"]

    def lineage(column: str) -> list[tuple[str, str, str]]:
        return [
            (i["field"], i["transformations"][0]["type"], i["transformations"][0]["subtype"])
            for i in fields[column]["inputFields"]
        ]

    assert lineage("customer_id") == [("customer_id", "DIRECT", "IDENTITY")]
    assert lineage("recency_days") == [("order_ts", "DIRECT", "AGGREGATION")]
    assert lineage("frequency") == [("order_id", "DIRECT", "AGGREGATION")]
    assert lineage("monetary") == [("total_amount", "DIRECT", "AGGREGATION")]
    for column in ("r_score", "f_score", "m_score", "rfm_code", "segment"):
        assert {kind for _, kind, _ in lineage(column)} == {"INDIRECT"}, column


# --- other runs ----------------------------------------------------------------------------------------------


def test_scores_follow_the_rule_with_many_ties(spark: SparkSession, tmp_path: Path) -> None:
    root = "file://" + str(tmp_path)
    draw = random.Random(11)
    # Close amounts share a monetary bucket, so level boundaries fall inside buckets and between equal values.
    amounts = ["10.00", "10.00", "99.98", "99.99", "99.99", "100.00", "100.01", "100.02", "250.00", "1000.00"]
    rows = []
    for c in range(150):
        last = draw.choice([0, 0, 0, 5, 9, 30, 30, 200])  # many shared days
        for i in range(draw.choice([1, 1, 1, 1, 2, 2, 3, 7])):  # mostly one order
            status = draw.choice(["delivered", "shipped", "processing", "pending"])  # live orders all count
            rows.append(order(f"o{c}-{i}", f"k{c}", at(AS_OF - timedelta(days=last + i)), draw.choice(amounts), status))
    write_orders(spark, root, rows, path="curated/orders")
    result = run_rfm(spark, root, "--input", "curated/orders")
    assert result.summary["deduplicated"] is False
    scored = output(spark, root)
    assert len(scored) == 150
    assert sum(row["frequency"] for row in scored.values()) == len(rows)
    for measure, score, better in (
        ("recency_days", "r_score", False),
        ("frequency", "f_score", True),
        ("monetary", "m_score", True),
    ):
        counts: dict[Any, int] = {}
        for row in scored.values():
            counts[row[measure]] = counts.get(row[measure], 0) + 1
        expected = rfm.scores_by_value(counts, higher_is_better=better)
        assert len(set(expected.values())) >= 3, measure  # the data really spreads over levels
        for row in scored.values():
            assert row[score] == expected[row[measure]], (measure, row)


def test_level_boundaries_are_found_inside_buckets() -> None:
    assert rfm.level_positions(10) == [2, 4, 6, 8]
    assert rfm.level_positions(7) == [2, 3, 5, 6]  # ceil(7k/5)
    assert rfm.level_positions(0) == []
    assert rfm.locate({3: 2, 1: 1, 7: 5}, [2, 3, 4, 8]) == {2: (3, 1), 3: (3, 2), 4: (7, 1), 8: (7, 5)}
    values = [(Decimal("2.50"), 2), (None, 1), (Decimal("1.00"), 3)]
    assert [rfm.nth_value(values, p) for p in range(1, 7)] == [None] + [Decimal("1.00")] * 3 + [Decimal("2.50")] * 2
    with pytest.raises(ValueError, match="past"):
        rfm.nth_value(values, 7)


def test_a_window_without_orders_leaves_an_empty_partition(spark: SparkSession, grid: GridRun) -> None:
    empty_day = date(2020, 1, 1)
    result = run_rfm(spark, grid.root, as_of=empty_day)
    assert result.summary["rows"] == 0
    assert all(s["customers"] == 0 and s["revenue_share"] == 0.0 for s in result.summary["segments"])
    assert output(spark, grid.root, empty_day) == {}


def test_rfm_on_the_generated_lake(spark: SparkSession, small_lake: str, validate_openlineage, tmp_path: Path) -> None:
    events_file = tmp_path / "events.jsonl"
    as_of = date(2025, 12, 31)  # the generator's default window ends here
    result = run_rfm(spark, small_lake, "--lineage-file", str(events_file), as_of=as_of)
    for line in events_file.read_text().splitlines():
        validate_openlineage(json.loads(line))
    scored = spark.read.parquet(dataset_uri(small_lake, RFM_SEGMENTS.path)).where(F.col("as_of") == F.lit(as_of))
    assert scored.count() == result.summary["rows"] > 0
    assert scored.where(F.col("segment").isNull() | ~F.col("segment").isin(*SEGMENTS)).count() == 0

    # Independently: distinct valid order ids in the window, and their amounts once each.
    orders = spark.read.parquet(dataset_uri(small_lake, "raw/orders"))
    start, end = rfm.window_bounds(as_of, 365)
    valid = (
        orders.where((F.col("order_ts") >= F.lit(start)) & (F.col("order_ts") < F.lit(end)))
        .where(F.col("customer_id").isNotNull() & (F.col("total_amount") >= 0))
        .where(~F.lower("status").isin(*rfm.EXCLUDED_STATUSES))
        .dropDuplicates(["order_id"])
    )
    expected = valid.agg(F.count(F.lit(1)).alias("n"), F.sum("total_amount").alias("spent")).first()
    totals = scored.agg(F.sum("frequency").alias("n"), F.sum("monetary").alias("spent")).first()
    assert expected is not None
    assert totals is not None
    assert (totals["n"], totals["spent"]) == (expected["n"], expected["spent"])
    assert Decimal(result.summary["revenue"]) == expected["spent"]
    champions = next(s for s in result.summary["segments"] if s["segment"] == table.CHAMPIONS)
    assert champions["revenue_share"] > champions["customer_share"]
