"""RFM segmentation: recency, frequency and monetary value per customer as of a date, scored 1-5 and segmented.

``python -m spark.jobs.rfm --lake URI --as-of 2026-11-01 [--lookback-days 365] [--input raw/orders]
[--output analytics/rfm_segments] [--dedupe auto|yes|no]``

One aggregation over the orders (``max(order_ts)``, ``count(order_id)``, ``sum(total_amount)`` per customer) is the
only pass over the input; scoring, segmentation and the per-segment statistics work on the per-customer result,
which is materialised (a local checkpoint) for that.

Window: orders with ``order_ts`` in ``(as_of - lookback, as_of]`` counted by day, i.e. from the start of day
``as_of - lookback + 1`` to the end of day ``as_of`` (UTC). Only valid orders count: the status is not one of
``EXCLUDED_STATUSES`` (case-insensitive; the generator's cancelled, payment_failed, returned and refunded), the
amount is present and not negative, and the order has a customer.

Duplicates: frequency counts distinct orders. ``curated/orders`` (written by ``validate``) already holds one row per
order_id, so ``--dedupe auto`` (the default) counts rows there and collapses repeated order_ids everywhere else
(raw orders carry exact duplicate rows). Collapsing needs every order row in the shuffle instead of one partial
aggregate per customer and task, so it costs noticeably more; the single aggregation above is the ``no`` path.

Scores (5 = best). For each measure, customers are ranked from worst to best (``rank()``: ties share the lowest
rank of their group) and ``score = 1 + floor(5 · (rank - 1) / n)`` over ``n`` customers. Equal values therefore
always get equal scores, whatever the row order, and a tie group takes the score of its first position, so a large
block of one-order customers all score F = 1 instead of being split arbitrarily across quintiles. Worst to best:
recency descending (most days since the last order first), frequency ascending, monetary ascending.

Segments: the one rule table of ``spark.rfm_segments`` (125 codes), applied as a literal array indexed by the code.
The summary lists, for every segment, its customers and their share, its revenue and revenue share, and the average
recency, frequency and monetary value, aggregated from the per-customer result (not from the orders again).

Output: ``analytics/rfm_segments/as_of=YYYY-MM-DD`` (Parquet, the canonical schema; only that partition is
replaced, also when it comes out empty).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

from spark.jobs.base import JobContext, JobResult, main
from spark.lineage import ColumnSource, input_dataset, output_dataset
from spark.paths import check_relative
from spark.rfm_segments import SEGMENT_BY_CODE, SEGMENTS
from spark.schema import ORDERS, RFM_SEGMENTS

NAME = "rfm"
EXCLUDED_STATUSES = ("cancelled", "canceled", "payment_failed", "failed", "returned", "refunded")
MONETARY = RFM_SEGMENTS.schema["monetary"].dataType
UNIQUE = ("customer_id", "monetary")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument("--as-of", required=True, type=date.fromisoformat, help="Scoring date (YYYY-MM-DD).")
    parser.add_argument("--lookback-days", type=int, default=365, help="Days of orders before --as-of to count.")
    parser.add_argument("--input", default=ORDERS.path, help="Orders dataset path (raw/orders or curated/orders).")
    parser.add_argument("--output", default=RFM_SEGMENTS.path, help="Output dataset path.")
    parser.add_argument(
        "--dedupe",
        choices=("auto", "yes", "no"),
        default="auto",
        help="Count a repeated order_id once: auto = unless the input is under curated/ (already unique).",
    )


def deduplicates(mode: str, input_path: str) -> bool:
    """Whether repeated order_ids must be collapsed for this input."""
    return mode == "yes" or (mode == "auto" and not input_path.startswith("curated/"))


def window_bounds(as_of: date, lookback_days: int) -> tuple[datetime, datetime]:
    """``[start, end)`` timestamps of the window ``(as_of - lookback, as_of]`` counted in whole days."""
    if lookback_days < 1:
        raise ValueError("--lookback-days must be at least 1")
    start = datetime.combine(as_of - timedelta(days=lookback_days - 1), time.min, tzinfo=UTC)
    return start, datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


def valid_orders(orders: DataFrame, as_of: date, lookback_days: int) -> DataFrame:
    """The orders that count: inside the window, not cancelled or refunded, not negative, with a customer."""
    start, end = window_bounds(as_of, lookback_days)
    condition = (
        (F.col("order_ts") >= F.lit(start))
        & (F.col("order_ts") < F.lit(end))
        & F.col("customer_id").isNotNull()
        & (F.col("total_amount") >= 0)
        & ~F.lower(F.trim(F.coalesce(F.col("status"), F.lit("")))).isin(*EXCLUDED_STATUSES)
    )
    if "order_date" in orders.columns:
        # Partition pruning on the lake's order_date; a day of slack either side keeps it a pure optimisation.
        condition &= F.col("order_date").between(
            F.lit(start.date() - timedelta(days=1)), F.lit(end.date() + timedelta(days=1))
        )
    return orders.where(condition)


def aggregate(orders: DataFrame, as_of: date, *, dedupe: bool = False) -> DataFrame:
    """The single pass over the orders: customer_id, recency_days, frequency, monetary."""
    if dedupe:
        # Clustering by customer first lets the per-order and the per-customer aggregation share one shuffle.
        orders = (
            orders.select("customer_id", "order_id", "order_ts", "total_amount")
            .repartition("customer_id")
            .groupBy("customer_id", "order_id")
            .agg(F.max("order_ts").alias("order_ts"), F.max("total_amount").alias("total_amount"))
        )
    per_customer = orders.groupBy("customer_id").agg(
        F.max("order_ts").alias("last_order_ts"),
        F.count("order_id").alias("orders"),
        F.sum("total_amount").alias("spent"),
    )
    return per_customer.select(
        "customer_id",
        F.datediff(F.lit(as_of), F.to_date("last_order_ts")).cast(IntegerType()).alias("recency_days"),
        F.col("orders").cast(IntegerType()).alias("frequency"),
        F.col("spent").cast(MONETARY).alias("monetary"),
    )


def quintile(worse: int, customers: int) -> int:
    """1-5 from the number of customers with a strictly worse value (see the module docstring)."""
    return 1 + 5 * worse // customers


def scores_by_value(counts: Mapping[Any, int], *, higher_is_better: bool) -> dict[Any, int]:
    """The score of every distinct value of a measure, from how many customers have each value."""
    customers = sum(counts.values())
    scores, worse = {}, 0
    for value in sorted(counts, reverse=not higher_is_better):
        scores[value] = quintile(worse, customers)
        worse += counts[value]
    return scores


def stepped(column: str, scores: Mapping[int, int], *, higher_is_better: bool) -> Column:
    """The score of a column's values as ``1 + the levels whose threshold the value reaches``.

    Scores never decrease as a value gets better, so each level 2-5 starts at one value: four comparisons per row
    replace a lookup in a table of every distinct value.
    """
    score = F.lit(1)
    for level in range(2, 6):
        reached = [value for value, s in scores.items() if s >= level]
        if not reached:
            continue
        if higher_is_better:
            score = score + (F.col(column) >= F.lit(min(reached))).cast("int")
        else:
            score = score + (F.col(column) <= F.lit(max(reached))).cast("int")
    return score.cast("int")


def level_positions(customers: int) -> list[int]:
    """The 1-based positions ``ceil(k * n / 5)``, k = 1..4, in the worst-to-best order of ``n`` customers.

    ``1 + floor(5 * worse / n)`` reaches level k + 1 exactly when ``worse >= k * n / 5``, i.e. when the value is
    strictly better than the value at position ``ceil(k * n / 5)``.
    """
    return [-(-k * customers // 5) for k in range(1, 5)] if customers else []


def money_bucket(column: Column) -> Column:
    """A coarse, order-preserving bucket of an amount (about 2,800 up to 10^12; -1 for a null, the worst)."""
    return F.coalesce(F.floor(F.log1p(column.cast("double")) * 100).cast("int"), F.lit(-1))


def locate(bucket_counts: Mapping[int, int], positions: list[int]) -> dict[int, tuple[int, int]]:
    """For each position, its bucket and its position inside the bucket (buckets in ascending order)."""
    found: dict[int, tuple[int, int]] = {}
    before = 0
    for bucket in sorted(bucket_counts):
        for position in positions:
            if before < position <= before + bucket_counts[bucket]:
                found[position] = (bucket, position - before)
        before += bucket_counts[bucket]
    return found


def nth_value(counts: list[tuple[Decimal | None, int]], position: int) -> Decimal | None:
    """The value at a 1-based position of a multiset given as (value, count), nulls first."""
    before = 0
    for value, count in sorted(counts, key=lambda vc: (vc[0] is not None, vc[0] or Decimal(0))):
        before += count
        if position <= before:
            return value
    raise ValueError(f"position {position} is past the {before} values")


def better_than(column: str, cut: Decimal | None) -> Column:
    """Whether the column's value is strictly better (higher) than a cut value; null is the worst."""
    return F.col(column).isNotNull() if cut is None else F.coalesce(F.col(column) > F.lit(cut), F.lit(False))


def score(per_customer: DataFrame) -> DataFrame:
    """Scores, code and segment for the per-customer measures, in the canonical column order (without as_of).

    No global sort and no single-partition window: every score is a few comparisons against thresholds found by two
    small actions over ``per_customer`` (which should be materialised). The first counts customers per (recency,
    frequency) pair, which gives the recency and frequency scores of every value, and per coarse monetary bucket.
    The second collects the exact amounts of the (at most four) buckets that hold the level boundaries, which gives
    the exact monetary values at positions ``level_positions(n)``.
    """
    pairs = per_customer.groupBy("recency_days", "frequency").agg(F.count(F.lit(1)).alias("n"))
    buckets = per_customer.groupBy(money_bucket(F.col("monetary")).alias("bucket")).agg(F.count(F.lit(1)).alias("n"))
    counted = pairs.select(
        F.lit("rf").alias("kind"), "recency_days", "frequency", F.lit(None).cast("int").alias("bucket"), "n"
    ).unionByName(
        buckets.select(
            F.lit("m").alias("kind"),
            F.lit(None).cast("int").alias("recency_days"),
            F.lit(None).cast("int").alias("frequency"),
            "bucket",
            "n",
        )
    )
    by_recency: Counter[int] = Counter()
    by_frequency: Counter[int] = Counter()
    by_bucket: dict[int, int] = {}
    for row in counted.collect():
        if row["kind"] == "rf":
            by_recency[row["recency_days"]] += row["n"]
            by_frequency[row["frequency"]] += row["n"]
        else:
            by_bucket[row["bucket"]] = row["n"]

    positions = locate(by_bucket, level_positions(sum(by_bucket.values())))
    wanted = sorted({bucket for bucket, _ in positions.values()})
    in_bucket: dict[int, list[tuple[Decimal | None, int]]] = {bucket: [] for bucket in wanted}
    if wanted:
        amounts = (
            per_customer.select("monetary", money_bucket(F.col("monetary")).alias("bucket"))
            .where(F.col("bucket").isin(wanted))
            .groupBy("bucket", "monetary")
            .agg(F.count(F.lit(1)).alias("n"))
        )
        for row in amounts.collect():
            in_bucket[row["bucket"]].append((row["monetary"], row["n"]))
    m_score = F.lit(1)
    for bucket, inside in positions.values():
        m_score = m_score + better_than("monetary", nth_value(in_bucket[bucket], inside)).cast("int")

    r, f, m = F.col("r_score"), F.col("f_score"), F.col("m_score")
    return per_customer.select(
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        stepped("recency_days", scores_by_value(by_recency, higher_is_better=False), higher_is_better=False).alias(
            "r_score"
        ),
        stepped("frequency", scores_by_value(by_frequency, higher_is_better=True), higher_is_better=True).alias(
            "f_score"
        ),
        m_score.cast("int").alias("m_score"),
    ).select(
        "*",
        F.concat(r.cast("string"), f.cast("string"), m.cast("string")).alias("rfm_code"),
        segment_of(r, f, m).alias("segment"),
    )


def segment_of(r: Column, f: Column, m: Column) -> Column:
    """The segment of a score triple: ``SEGMENT_BY_CODE`` as a literal array indexed by the code (no join, no UDF)."""
    names = F.array(*[F.lit(SEGMENT_BY_CODE[code]) for code in sorted(SEGMENT_BY_CODE)])
    return F.element_at(names, (r - 1) * 25 + (f - 1) * 5 + m)


def segment_statistics(scored: DataFrame) -> dict[str, Any]:
    """Customers, revenue, revenue share and average R/F/M per segment (every segment listed, empty ones as 0)."""
    rows = (
        scored.groupBy("segment")
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum("monetary").alias("revenue"),
            F.avg("recency_days").alias("avg_recency_days"),
            F.avg("frequency").alias("avg_frequency"),
            F.avg("monetary").alias("avg_monetary"),
        )
        .collect()
    )
    found = {row["segment"]: row for row in rows}
    total_customers = sum(int(row["customers"]) for row in rows)
    total_revenue = sum((row["revenue"] or Decimal(0) for row in rows), Decimal(0))
    segments = []
    for name in SEGMENTS:
        row = found.get(name)
        customers = int(row["customers"]) if row else 0
        revenue = (row["revenue"] or Decimal(0)) if row else Decimal(0)
        segments.append(
            {
                "segment": name,
                "customers": customers,
                "customer_share": round(customers / total_customers, 6) if total_customers else 0.0,
                "revenue": str(revenue),
                "revenue_share": float(revenue / total_revenue) if total_revenue else 0.0,
                "avg_recency_days": round(float(row["avg_recency_days"]), 2) if row else None,
                "avg_frequency": round(float(row["avg_frequency"]), 3) if row else None,
                "avg_monetary": round(float(row["avg_monetary"]), 2) if row else None,
            }
        )
    return {"customers": total_customers, "revenue": str(total_revenue), "segments": segments}


def column_lineage(namespace: str, name: str) -> dict[str, list[ColumnSource]]:
    """How each output column derives from the orders."""

    def source(field: str, kind: str, subtype: str, description: str) -> ColumnSource:
        return ColumnSource(namespace, name, field, kind, subtype, description)

    recency = source("order_ts", "DIRECT", "AGGREGATION", "days from the last valid order to as_of")
    frequency = source("order_id", "DIRECT", "AGGREGATION", "count of valid orders")
    monetary = source("total_amount", "DIRECT", "AGGREGATION", "sum of valid order amounts")
    by_recency = source("order_ts", "INDIRECT", "WINDOW", "quintile of recency, 5 = most recent")
    by_frequency = source("order_id", "INDIRECT", "WINDOW", "quintile of frequency, 5 = most orders")
    by_monetary = source("total_amount", "INDIRECT", "WINDOW", "quintile of spend, 5 = highest")
    from_scores = [
        source(field, "INDIRECT", "CONDITIONAL", "from the R, F and M scores")
        for field in ("order_ts", "order_id", "total_amount")
    ]
    return {
        "customer_id": [source("customer_id", "DIRECT", "IDENTITY", "grouping key")],
        "recency_days": [recency],
        "frequency": [frequency],
        "monetary": [monetary],
        "r_score": [by_recency],
        "f_score": [by_frequency],
        "m_score": [by_monetary],
        "rfm_code": from_scores,
        "segment": from_scores,
    }


def run(ctx: JobContext) -> JobResult:
    """Aggregate, score, segment and write one as_of partition; summarise per segment."""
    args = ctx.args
    as_of: date = args.as_of
    orders = ctx.spark.read.parquet(ctx.uri(args.input))
    dedupe = deduplicates(args.dedupe, check_relative(args.input))
    per_customer = aggregate(valid_orders(orders, as_of, args.lookback_days), as_of, dedupe=dedupe)
    partition = f"{ctx.uri(args.output)}/as_of={as_of.isoformat()}"
    # The only scan of the orders materialises the per-customer result on the executors; the scoring, the write and
    # the statistics all read it from there. A local checkpoint stores plain rows: cheaper to build and read than
    # the compressed columnar cache, at the price of failing (not recomputing) if an executor is lost mid-job.
    per_customer = per_customer.localCheckpoint(eager=False)
    scored = score(per_customer)
    # Customer ids and amounts are nearly all distinct: dictionary pages would be built only to be abandoned.
    writer = scored.write.mode("overwrite").options(**{f"parquet.enable.dictionary#{c}": "false" for c in UNIQUE})
    writer.parquet(partition)
    stats = segment_statistics(scored)
    in_ns, in_name = ctx.pair(args.input)
    out_ns, out_name = ctx.pair(args.output)
    start, end = window_bounds(as_of, args.lookback_days)
    summary = {
        "job": NAME,
        "as_of": as_of.isoformat(),
        "lookback_days": args.lookback_days,
        "window": {"from": start.isoformat(), "to_exclusive": end.isoformat()},
        "input": in_name,
        "deduplicated": dedupe,
        "output": f"{out_name}/as_of={as_of.isoformat()}",
        "rows": stats["customers"],
        **stats,
    }
    return JobResult(
        inputs=[input_dataset(in_ns, in_name, orders.schema)],
        outputs=[
            output_dataset(
                out_ns,
                out_name,
                RFM_SEGMENTS.schema,
                rows=stats["customers"],
                columns=column_lineage(in_ns, in_name),
            )
        ],
        summary=summary,
    )


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
