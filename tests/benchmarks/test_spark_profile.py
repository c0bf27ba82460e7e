"""Profile and validate throughput on about 5,000,000 orders, against the floor of a full scan of the same Parquet.

Figures (rows per second): the bare scan (``count`` of every column, so every column is decoded), the profile job
end to end and its statistics pass alone, a plain partitioned rewrite of the orders (what validate cannot avoid:
reading them and writing them back by ``order_date``), and the validate job on ``raw/orders`` (unknown customers,
repeated ids, curated and quarantine writes). Every figure carries the bare scan as its baseline, so the table
shows what fraction of scan speed each reaches. The lake comes from ``spark.jobs.generate.generate_lake`` when it
exists; otherwise orders (and the customers they refer to) are built from ``spark.range`` with the canonical schemas.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.jobs import base, profile, validate
from spark.schema import CUSTOMERS, ORDERS

ORDERS_ROWS = 5_000_000
CUSTOMER_ROWS = 500_000
DAYS = 365


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from spark.session import get_spark

    session = get_spark("ecap-bench-profile")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _pick(options: list[str], seed: Any) -> Any:
    """A deterministic choice from ``options`` by a hash, so the data is the same on every run."""
    return F.element_at(F.array(*[F.lit(o) for o in options]), (F.abs(F.xxhash64(seed)) % len(options) + 1).cast("int"))


def build_customers(spark: SparkSession) -> DataFrame:
    cid = F.concat(F.lit("c"), F.lpad(F.col("id").cast("string"), 7, "0"))
    created = F.timestamp_seconds(F.lit(1_640_995_200) + F.col("id") * 37 % (3 * 365 * 86400))
    values = {
        "customer_id": cid,
        "email": F.when(F.col("id") % 200 == 0, F.lit(None)).otherwise(F.concat(cid, F.lit("@example.com"))),
        "first_name": _pick(["Ann", "Ben", "Chloé", "Dara", "Eve"], F.col("id")),
        "last_name": _pick(["Ng", "Smith", "Okafor", "Müller"], F.col("id") + 1),
        "country": _pick(["DE", "FR", "GB", "US", "NL", "ES"], F.col("id") + 2),
        "created_at": created,
        "updated_at": created,
        "marketing_opt_in": F.col("id") % 3 == 0,
    }
    return spark.range(CUSTOMER_ROWS).select(
        *[values.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in CUSTOMERS.schema.fields]
    )


def build_orders(spark: SparkSession) -> DataFrame:
    """Orders over one year, with the planted faults the validator looks for in the proportions it meets in practice:
    0.5% negative amounts, 0.1% future timestamps, 0.1% duplicate ids, 0.1% unknown customers."""
    n = F.col("id")
    h = F.abs(F.xxhash64(n))
    ts = F.timestamp_seconds(F.lit(1_704_067_200) + h % (DAYS * 86400))
    ts = F.when(n % 1000 == 7, F.timestamp_seconds(F.lit(2_000_000_000))).otherwise(ts)
    # Most baskets are small; one order in five hundred is above the 10,000 high-value line.
    amount = ((h % 50_000) / 100).cast("decimal(12,2)")
    amount = F.when(n % 500 == 5, amount + 10_000).otherwise(amount)
    amount = F.when(n % 200 == 3, -amount).otherwise(amount)
    order_no = F.when(n % 1000 == 11, n - 1).otherwise(n)
    customer = F.when(n % 1000 == 13, F.lit(CUSTOMER_ROWS + 1)).otherwise(h % CUSTOMER_ROWS)
    values = {
        "order_id": F.concat(F.lit("o"), F.lpad(order_no.cast("string"), 9, "0")),
        "customer_id": F.concat(F.lit("c"), F.lpad(customer.cast("string"), 7, "0")),
        "order_ts": ts,
        "status": _pick(["paid", "shipped", "delivered", "cancelled", "refunded"], n),
        "payment_method": _pick(["card", "paypal", "klarna", "bank_transfer"], n + 1),
        "currency": _pick(["EUR", "USD", "GBP"], n + 2),
        "total_amount": amount,
        "shipping_country": _pick(["DE", "FR", "GB", "US", "NL", "ES", "IT", "PL"], n + 3),
        "ip_address": F.concat_ws(".", *[(F.abs(F.xxhash64(n, F.lit(i))) % 256).cast("string") for i in range(4)]),
        "device_type": _pick(["desktop", "mobile", "tablet"], n + 4),
        "session_id": F.concat(F.lit("s"), (h % 3_000_000).cast("string")),
        "order_date": F.to_date(ts),
    }
    return spark.range(ORDERS_ROWS).select(
        *[values[f.name].cast(f.dataType).alias(f.name) for f in ORDERS.schema.fields]
    )


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = "file://" + str(tmp_path_factory.mktemp("bench_lake"))
    started = time.perf_counter()
    if importlib.util.find_spec("spark.jobs.generate") is not None:
        from spark.jobs.generate import generate_lake

        generate_lake(spark, root, orders=ORDERS_ROWS, seed=7)
        source = "generate_lake"
    else:
        build_customers(spark).write.mode("overwrite").parquet(f"{root}/{CUSTOMERS.path}")
        # One file per day, as a daily ingest would leave it.
        build_orders(spark).repartition("order_date").write.mode("overwrite").partitionBy("order_date").parquet(
            f"{root}/{ORDERS.path}"
        )
        source = "spark.range"
    print(f"\nlake built with {source} in {time.perf_counter() - started:.1f}s at {root}")
    return root


def timed(action: Any, repeat: int = 1) -> float:
    """The best wall time of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def job_args(job: Any, root: str, *extra: str) -> Any:
    parser = base.base_parser(job.NAME)
    job.add_arguments(parser)
    return parser.parse_args(["--lake", root, *extra])


def test_profile_and_validate_against_a_bare_scan(spark: SparkSession, lake: str, bench) -> None:
    uri = f"{lake}/{ORDERS.path}"
    orders = spark.read.parquet(uri)
    rows = orders.count()
    assert rows >= ORDERS_ROWS * 0.9

    def bare_scan() -> None:
        spark.read.parquet(uri).select([F.count(c) for c in orders.columns]).collect()

    bare_scan()  # warm the JVM and the page cache before anything is measured
    scan = timed(bare_scan, repeat=3)
    bench.record("spark bare scan (all columns)", rows / scan, "rows/s")

    profiled: dict[str, Any] = {}

    def run_profile() -> None:
        args = job_args(profile, lake, "--datasets", ORDERS.path, "--out", "profile/bench.json")
        profiled.update(base.execute(profile.NAME, profile.run, args, spark=spark).summary)

    elapsed = timed(run_profile, repeat=2)
    bench.record("spark profile job", rows / elapsed, "rows/s", baseline="spark bare scan (all columns)")
    assert profiled["datasets"][ORDERS.path]["rows"] == rows

    df = spark.read.parquet(uri)
    stats_only = timed(lambda: profile.statistics_frame(df)[0].collect(), repeat=2)
    bench.record("spark profile statistics pass", rows / stats_only, "rows/s", baseline="spark bare scan (all columns)")

    def rewrite() -> None:
        writer = spark.read.parquet(uri).write.mode("overwrite").partitionBy(*ORDERS.partitioned_by)
        writer.parquet(f"{lake}/scratch/rewrite")

    rewritten = timed(rewrite)
    bench.record("spark partitioned rewrite", rows / rewritten, "rows/s", baseline="spark bare scan (all columns)")

    summary: dict[str, Any] = {}

    def run_validate() -> None:
        args = job_args(validate, lake, "--datasets", ORDERS.path)
        summary.update(base.execute(validate.NAME, validate.run, args, spark=spark).summary)

    elapsed = timed(run_validate)
    bench.record("spark validate job (orders)", rows / elapsed, "rows/s", baseline="spark bare scan (all columns)")
    counts = summary["datasets"][ORDERS.path]
    assert counts["read"] == rows
    assert counts["valid"] + counts["rejected"] == rows
    print(
        f"\nbare scan {scan:.1f}s, profile {rows / bench.value('spark profile job'):.1f}s, "
        f"statistics pass {stats_only:.1f}s, partitioned rewrite {rewritten:.1f}s, validate {elapsed:.1f}s; "
        f"validate rejected {counts['rejected']:,} ({counts['reasons']}), flagged {counts['flagged_high_value']:,}"
    )
