"""Throughput of the synthetic lake generator: ten million orders (with their customers, products, lines and
clickstream) written by ``generate_lake`` on a local ``local[*]`` session.

Baseline in the same run: ``spark.range`` of the same number of rows with a few trivial columns written to Parquet,
the floor any generator on this machine pays.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark.jobs.generate import generate_lake
from spark.session import get_spark

ORDERS = 10_000_000
FLOOR = "spark: spark.range(10M) + 3 trivial columns to Parquet"


@pytest.fixture(scope="module")
def local_spark() -> Iterator[SparkSession]:
    session = get_spark("ecap-bench-generate")  # local[*] unless ECAP_SPARK_MASTER says otherwise
    yield session
    session.stop()


def test_generate_ten_million_orders(bench, local_spark: SparkSession, tmp_path: Path) -> None:
    started = time.perf_counter()
    local_spark.range(ORDERS).selectExpr(
        "id", "concat('O', CAST(id AS STRING)) AS order_id", "id % 100000 AS amount_cents"
    ).write.mode("overwrite").parquet("file://" + str(tmp_path / "floor"))
    floor = ORDERS / (time.perf_counter() - started)

    started = time.perf_counter()
    rows = generate_lake(local_spark, "file://" + str(tmp_path / "lake"), orders=ORDERS, seed=1)
    elapsed = time.perf_counter() - started

    assert rows["raw/orders"] >= ORDERS
    total = sum(rows.values())
    bench.record(FLOOR, floor, "rows/s")
    bench.record("spark: generate_lake, orders per second (10M orders)", ORDERS / elapsed, "rows/s", baseline=FLOOR)
    bench.record(
        "spark: generate_lake, rows of all five datasets per second", total / elapsed, "rows/s", baseline=FLOOR
    )
    bench.record("spark: generate_lake, wall time for 10M orders", elapsed, "s")
    for path, count in rows.items():
        bench.record(f"spark: generate_lake rows in {path}", count, "rows")
