"""The profile job reports exact null counts, min/max, top values, distinct counts within the approximation error,
bytes on storage and partitions; it reads the data in one aggregation pass plus one top-values pass."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from spark.jobs import base, profile
from spark.schema import ORDERS

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def order(oid: str, cid: str | None, status: str | None, amount: str | None, day: int) -> tuple[Any, ...]:
    values = {
        "order_id": oid,
        "customer_id": cid,
        "order_ts": T0.replace(day=day),
        "status": status,
        "currency": "EUR",
        "total_amount": Decimal(amount) if amount is not None else None,
        "order_date": date(2024, 3, day),
    }
    return tuple(values.get(name) for name in ORDERS.columns)


ORDER_ROWS = [
    order("o1", "c1", "paid", "1.50", 1),
    order("o2", "c1", "paid", "10.00", 1),
    order("o3", "c2", "shipped", "-3.00", 2),
    order("o4", None, "paid", None, 2),
    order("o5", "c2", "shipped", "200.25", 3),
    order("o6", "c1", None, "7.00", 3),
]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = "file://" + str(tmp_path_factory.mktemp("profile_lake"))
    schema = StructType([StructField(f.name, f.dataType, True) for f in ORDERS.schema.fields])
    spark.createDataFrame(ORDER_ROWS, schema).write.partitionBy("order_date").parquet(f"{root}/raw/orders")
    # 5,000 rows: 1,000 distinct buckets, and a string and a boolean column of skewed low cardinality.
    spark.range(5000).select(
        F.col("id").alias("n"),
        (F.col("id") % 1000).cast("string").alias("bucket"),
        F.when(F.col("id") % 10 < 6, "a").when(F.col("id") % 10 < 9, "b").otherwise("c").alias("kind"),
        (F.col("id") % 3 == 0).alias("flag"),
    ).coalesce(2).write.parquet(f"{root}/scratch/numbers")
    return root


def args_for(root: str, *extra: str) -> Any:
    parser = base.base_parser(profile.NAME)
    profile.add_arguments(parser)
    return parser.parse_args(["--lake", root, *extra])


@pytest.fixture(scope="module")
def profiled(spark: SparkSession, lake: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run over both datasets, with lineage to a file and the document at a lake path of our choosing."""
    events = tmp_path_factory.mktemp("profile_events") / "events.jsonl"
    args = args_for(
        lake,
        "--datasets",
        "raw/orders,scratch/numbers",
        "--top",
        "2",
        "--out",
        "profile/test-run.json",
        "--lineage-file",
        str(events),
    )
    result = base.execute(profile.NAME, profile.run, args, spark=spark)
    return {"summary": result.summary, "events": events}


def test_null_counts_and_min_max_are_exact(profiled) -> None:
    orders = profiled["summary"]["datasets"]["raw/orders"]
    assert orders["rows"] == 6
    columns = orders["columns"]
    assert {name: c["nulls"] for name, c in columns.items() if c["nulls"]} == {
        "customer_id": 1,
        "status": 1,
        "total_amount": 1,
        "payment_method": 6,
        "shipping_country": 6,
        "ip_address": 6,
        "device_type": 6,
        "session_id": 6,
    }
    assert (columns["total_amount"]["min"], columns["total_amount"]["max"]) == (-3.0, 200.25)
    assert (columns["customer_id"]["min_length"], columns["customer_id"]["max_length"]) == (2, 2)
    assert "min" not in columns["order_id"]  # string values stay out of the document unless asked for
    assert columns["order_ts"]["min"] == "2024-03-01T09:30:00"
    assert columns["order_date"]["max"] == "2024-03-03"
    assert columns["device_type"]["min_length"] is None
    assert columns["total_amount"]["type"] == "decimal(12,2)"


def test_top_values_rank_low_cardinality_strings_and_booleans(profiled) -> None:
    orders = profiled["summary"]["datasets"]["raw/orders"]["columns"]
    assert orders["status"]["top"] == [{"value": "paid", "count": 3}, {"value": "shipped", "count": 2}]
    assert orders["customer_id"]["top"] == [{"value": "c1", "count": 3}, {"value": "c2", "count": 2}]
    assert "top" not in orders["total_amount"]  # numbers get min/max, not top values
    assert "top" not in orders["device_type"]  # nothing but nulls
    numbers = profiled["summary"]["datasets"]["scratch/numbers"]["columns"]
    assert numbers["kind"]["top"] == [{"value": "a", "count": 3000}, {"value": "b", "count": 1500}]
    assert numbers["flag"]["top"] == [{"value": False, "count": 3333}, {"value": True, "count": 1667}]


def test_distinct_counts_are_within_the_approximation_error(profiled) -> None:
    numbers = profiled["summary"]["datasets"]["scratch/numbers"]["columns"]
    # rsd 0.05: three standard deviations is 15%.
    assert abs(numbers["n"]["approx_distinct"] - 5000) <= 750
    assert abs(numbers["bucket"]["approx_distinct"] - 1000) <= 150
    assert numbers["kind"]["approx_distinct"] == 3
    assert numbers["flag"]["approx_distinct"] == 2


def test_bytes_are_the_size_of_the_data_files(lake: str, profiled) -> None:
    orders = profiled["summary"]["datasets"]["raw/orders"]
    files = list(Path(lake.removeprefix("file://"), "raw/orders").glob("order_date=*/*.parquet"))
    assert orders["bytes"] > 0
    assert orders["bytes"] == sum(f.stat().st_size for f in files)
    assert orders["files"] == len(files)


def test_partitions_are_listed_for_partitioned_datasets(profiled) -> None:
    datasets = profiled["summary"]["datasets"]
    assert datasets["raw/orders"]["partitions"] == {
        "columns": ["order_date"],
        "count": 3,
        "values": [{"order_date": "2024-03-01"}, {"order_date": "2024-03-02"}, {"order_date": "2024-03-03"}],
        "truncated": False,
    }
    assert datasets["scratch/numbers"]["partitions"]["count"] == 0


def test_the_document_is_written_where_asked(lake: str, profiled) -> None:
    written = json.loads(Path(lake.removeprefix("file://"), "profile/test-run.json").read_text())
    assert written["datasets"] == profiled["summary"]["datasets"]
    assert written["out"] == f"{lake}/profile/test-run.json"


def test_lineage_reports_inputs_with_schema_and_metrics_and_no_output(
    lake: str, profiled, validate_openlineage
) -> None:
    events = [json.loads(line) for line in profiled["events"].read_text().splitlines()]
    for event in events:
        validate_openlineage(event)
    complete = events[-1]
    assert complete["eventType"] == "COMPLETE"
    assert complete["outputs"] == []
    orders = next(i for i in complete["inputs"] if i["name"] == "raw/orders")
    assert [f["name"] for f in orders["facets"]["schema"]["fields"]] == ORDERS.columns
    metrics = orders["inputFacets"]["dataQualityMetrics"]
    files = len(list(Path(lake.removeprefix("file://"), "raw/orders").glob("order_date=*/*.parquet")))
    assert (metrics["rowCount"], metrics["fileCount"], metrics["bytes"]) == (6, files, profiled_bytes(profiled))
    assert metrics["columnMetrics"]["total_amount"]["nullCount"] == 1
    assert metrics["columnMetrics"]["total_amount"]["min"] == -3.0
    assert "min" not in metrics["columnMetrics"]["status"]


def profiled_bytes(profiled: dict[str, Any]) -> int:
    return profiled["summary"]["datasets"]["raw/orders"]["bytes"]


@contextlib.contextmanager
def counting_jobs(spark: SparkSession, group: str) -> Iterator[list[int]]:
    """Collects the ids of the Spark jobs run inside the block.

    Adaptive execution submits every shuffle stage as a job of its own, so job counts would measure the plan's
    shape; it is switched off for the block so one job means one action.
    """
    context = spark.sparkContext
    adaptive = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    context.setJobGroup(group, "profile single pass test")
    jobs: list[int] = []
    try:
        yield jobs
    finally:
        jobs.extend(context.statusTracker().getJobIdsForGroup(group))
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        spark.conf.set("spark.sql.adaptive.enabled", adaptive)


def test_statistics_take_one_scan_and_top_values_one_more(spark: SparkSession, lake: str) -> None:
    df = spark.read.parquet(f"{lake}/scratch/numbers")
    frame, _ = profile.statistics_frame(df)
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert plan.count("FileScan parquet") == 1  # every statistic comes from the same scan

    with counting_jobs(spark, "profile-one-pass") as jobs:
        rows, columns = profile.column_statistics(df, top=3, max_distinct=50)
    assert rows == 5000
    assert sorted(name for name, c in columns.items() if "top" in c) == ["flag", "kind"]
    tracker = spark.sparkContext.statusTracker()
    stages = sorted(len(info.stageIds) for info in (tracker.getJobInfo(j) for j in jobs) if info is not None)
    # Job 1: the aggregation (scan with partial aggregates, then the final merge); job 2: the stacked groupBy.
    assert len(jobs) == 2
    assert stages == [2, 2]


def test_string_extremes_are_reported_when_asked(spark: SparkSession, lake: str) -> None:
    df = spark.read.parquet(f"{lake}/raw/orders")
    _, columns = profile.column_statistics(df, top=0, max_distinct=0, string_extremes=True)
    assert (columns["order_id"]["min"], columns["order_id"]["max"]) == ("o1", "o6")
    assert "top" not in columns["status"]


def test_the_cli_profiles_every_canonical_dataset_present_by_default(
    spark: SparkSession, lake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "get_spark", lambda name, **_: spark)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = base.main(profile.NAME, profile.add_arguments, profile.run, argv=["--lake", lake])
    assert status == 0
    summary = json.loads(stdout.getvalue().strip().splitlines()[-1].removeprefix(base.SUMMARY_PREFIX))
    assert list(summary["datasets"]) == ["raw/orders"]
    assert "raw/customers" in summary["absent"]
    assert Path(lake.removeprefix("file://"), "profile/_latest.json").exists()


def test_the_cli_fails_on_a_dataset_that_does_not_exist(
    spark: SparkSession, lake: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(base, "get_spark", lambda name, **_: spark)
    status = base.main(profile.NAME, profile.add_arguments, profile.run, argv=["--lake", lake, "--datasets", "raw/x"])
    assert status == 1
    assert "raw/x does not exist" in capsys.readouterr().err
