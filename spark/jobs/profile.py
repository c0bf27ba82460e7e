"""The ``profile`` job: schema, size, partitions and per-column statistics of lake datasets, as one JSON document.

``python -m spark.jobs.profile --lake URI [--datasets raw/orders,…] [--top 5] [--out profile/<run>.json]``

Per dataset: the schema, row count, bytes on storage (the Hadoop content summary), data files and partition values
(both from the file index, so no data is read for them). Per column: nulls, approximate distinct count, min/max for
numbers, dates, timestamps and booleans, the shortest and longest length of strings, and the most frequent values of
low-cardinality string and boolean columns.

Strings get min/max lengths, not min/max values, unless ``--string-extremes`` asks for them: the extreme values of
``email``, ``last_name`` or ``ip_address`` are personal data, and a profile document is read more widely than the
lake and lies outside what an erasure request reaches. Comparing strings was also the most expensive part of the
statistics pass (about a third of it on the benchmark's orders); lengths cost little.

How the data is read (at most two Spark jobs per dataset):

1. One aggregation, ``df.agg(*exprs)``, computes the row count and every column's non-null count, approximate
   distinct count (HyperLogLog++), min/max and string lengths in a single scan.
2. Top values need exact counts per value, which no single-row aggregate gives, so they take one more job: the
   string/boolean columns whose approximate distinct count (from job 1) is at most ``--top-max-distinct`` are stacked
   into (column, value) pairs and counted with one ``groupBy``. Map-side partial aggregation keeps the shuffle to
   about one row per distinct value per task. The data is not cached between the jobs: Parquet is columnar, so job 2
   reads only the few low-cardinality columns (usually dictionary-encoded), which is cheaper than materialising every
   column in memory for a reuse that touches a handful of them.

The document is returned as the summary and written to ``--out`` (a path under the lake, default
``profile/_latest.json``, or an absolute URI). Lineage: every profiled dataset is an input with its schema facet and a
``dataQualityMetrics`` input facet (rows, bytes, files, and per column nulls, distinct count, numeric min/max), which
is where the catalog reads statistics from. The document itself is not reported as an output dataset: it is a report
about datasets, not data, and an output would put it in the catalog and in every impact analysis downstream of raw.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from openlineage.client.event_v2 import InputDataset
from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    MapType,
    NumericType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark.jobs.base import JobContext, JobResult, main
from spark.jobs.validate import hadoop_path, require, storage_size, write_text
from spark.lineage import schema_facet
from spark.paths import check_relative, dataset_uri, normalize_root
from spark.schema import DATASETS

NAME = "profile"
DEFAULT_OUT = "profile/_latest.json"
DEFAULT_TOP = 5
DEFAULT_TOP_MAX_DISTINCT = 1000
DEFAULT_RSD = 0.05
MAX_PARTITION_VALUES = 1000  # beyond this the document lists the count only, to stay readable
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument(
        "--datasets",
        default=None,
        help="Comma-separated dataset paths under the lake (default: every canonical dataset that exists).",
    )
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, help="How many top values per column.")
    parser.add_argument(
        "--top-max-distinct",
        type=int,
        default=DEFAULT_TOP_MAX_DISTINCT,
        help="Only string/boolean columns with at most this many distinct values get top values.",
    )
    parser.add_argument(
        "--rsd", type=float, default=DEFAULT_RSD, help="Relative standard deviation of the distinct counts."
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="Lake-relative path or absolute URI of the document.")
    parser.add_argument(
        "--string-extremes",
        action="store_true",
        help="Also report the min/max values of string columns (they may be personal data).",
    )


def _orderable(data_type: DataType, strings: bool) -> bool:
    if isinstance(data_type, StringType):
        return strings
    return isinstance(data_type, NumericType | DateType | TimestampType | TimestampNTZType | BooleanType)


def _atomic(data_type: DataType) -> bool:
    return not isinstance(data_type, ArrayType | MapType | StructType)


def _json_value(value: Any) -> Any:
    """A statistic as JSON: exact decimals as numbers when a float holds them, times as ISO strings."""
    if isinstance(value, Decimal):
        return float(value) if len(value.as_tuple().digits) <= 15 else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Stat:
    """One aggregate of the single statistics pass: which column, which statistic, and its position in the row."""

    column: str
    name: str
    alias: str


def statistics_frame(
    df: DataFrame, rsd: float = DEFAULT_RSD, *, string_extremes: bool = False
) -> tuple[DataFrame, list[Stat]]:
    """The one aggregation that computes every column's statistics in a single scan, and what each output is."""
    stats = [Stat("", "rows", "s_rows")]
    exprs: list[Column] = [F.count(F.lit(1)).alias("s_rows")]
    for position, item in enumerate(df.schema.fields):
        column = F.col(f"`{item.name}`")
        wanted: list[tuple[str, Column]] = [("non_null", F.count(column))]
        if _atomic(item.dataType):
            wanted.append(("approx_distinct", F.approx_count_distinct(column, rsd)))
        if _orderable(item.dataType, string_extremes):
            wanted += [("min", F.min(column)), ("max", F.max(column))]
        if isinstance(item.dataType, StringType):
            wanted += [("min_length", F.min(F.length(column))), ("max_length", F.max(F.length(column)))]
        for name, expr in wanted:
            alias = f"s{position}_{name}"
            stats.append(Stat(item.name, name, alias))
            exprs.append(expr.alias(alias))
    return df.agg(*exprs), stats


def top_value_columns(df: DataFrame, distinct: dict[str, int], max_distinct: int) -> list[str]:
    """String and boolean columns whose approximate distinct count is low enough for top values to mean something."""
    return [
        f.name
        for f in df.schema.fields
        if isinstance(f.dataType, StringType | BooleanType) and 0 < distinct.get(f.name, 0) <= max_distinct
    ]


def top_values(df: DataFrame, columns: list[str], top: int) -> dict[str, list[dict[str, Any]]]:
    """The ``top`` most frequent non-null values of each column, with counts, from one stacked ``groupBy``."""
    if not columns or top <= 0:
        return {}
    pairs = F.explode(
        F.array(
            *[
                F.struct(F.lit(i).alias("c"), F.col(f"`{name}`").cast("string").alias("v"))
                for i, name in enumerate(columns)
            ]
        )
    )
    counted = df.select(pairs.alias("p")).where(F.col("p.v").isNotNull()).groupBy("p.c", "p.v").count().collect()
    by_column: dict[str, list[tuple[int, str]]] = {name: [] for name in columns}
    for row in counted:
        by_column[columns[row["c"]]].append((int(row["count"]), row["v"]))
    booleans = {f.name for f in df.schema.fields if isinstance(f.dataType, BooleanType)}
    out: dict[str, list[dict[str, Any]]] = {}
    for name, values in by_column.items():
        # Ties break on the value so the same data always gives the same list.
        ranked = sorted(values, key=lambda pair: (-pair[0], pair[1]))[:top]
        out[name] = [{"value": (v == "true") if name in booleans else v, "count": n} for n, v in ranked]
    return out


def column_statistics(
    df: DataFrame, *, top: int, max_distinct: int, rsd: float = DEFAULT_RSD, string_extremes: bool = False
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Row count and per-column statistics: one aggregation job, then at most one job for top values."""
    frame, stats = statistics_frame(df, rsd, string_extremes=string_extremes)
    row = frame.first()
    assert row is not None  # noqa: S101 - a global aggregation always returns one row
    rows = int(row["s_rows"])
    columns: dict[str, dict[str, Any]] = {
        f.name: {"type": f.dataType.simpleString(), "nullable": f.nullable} for f in df.schema.fields
    }
    for stat in stats[1:]:
        value = row[stat.alias]
        if stat.name == "non_null":
            columns[stat.column]["nulls"] = rows - int(value)
            columns[stat.column]["null_fraction"] = round((rows - int(value)) / rows, 6) if rows else 0.0
        elif stat.name == "approx_distinct":
            columns[stat.column]["approx_distinct"] = int(value)
        else:
            columns[stat.column][stat.name] = _json_value(value)
    distinct = {name: c.get("approx_distinct", 0) for name, c in columns.items()}
    for name, values in top_values(df, top_value_columns(df, distinct, max_distinct), top).items():
        columns[name]["top"] = values
    return rows, columns


def partitions(df: DataFrame, uri: str) -> dict[str, Any]:
    """Partition columns and values, read from the directory layout of the data files (no data is read).

    A partition column is a ``name=value`` directory under the dataset that names one of its columns, in the order
    the directories nest.
    """
    base = urlsplit(uri).path.rstrip("/")
    names = set(df.columns)
    found: list[str] = []
    files = df.inputFiles()
    layouts: list[dict[str, str | None]] = []
    for file in files:
        path = urlsplit(file).path
        relative = path[len(base) :] if path.startswith(base + "/") else path
        pairs: dict[str, str | None] = {}
        for segment in relative.strip("/").split("/")[:-1]:
            key, sep, raw = segment.partition("=")
            key = unquote(key)
            if sep and key in names:
                value = unquote(raw)
                pairs[key] = None if value == NULL_PARTITION else value
                if key not in found:
                    found.append(key)
        if pairs:
            layouts.append(pairs)
    values = {tuple(pairs.get(k) for k in found) for pairs in layouts}
    ordered = sorted(values, key=lambda t: tuple((v is None, v or "") for v in t))
    return {
        "columns": found,
        "count": len(ordered),
        "values": [dict(zip(found, v, strict=True)) for v in ordered[:MAX_PARTITION_VALUES]],
        "truncated": len(ordered) > MAX_PARTITION_VALUES,
        "files": len(files),
    }


def profile_dataset(
    spark: SparkSession,
    uri: str,
    path: str,
    *,
    top: int,
    max_distinct: int,
    rsd: float = DEFAULT_RSD,
    string_extremes: bool = False,
) -> tuple[dict[str, Any], StructType]:
    """The profile of one dataset (schema, rows, bytes, files, partitions, column statistics) and its Spark schema."""
    require(spark, uri, path)
    df = spark.read.parquet(uri)
    layout = partitions(df, uri)
    size, _ = storage_size(spark, uri)
    rows, columns = column_statistics(df, top=top, max_distinct=max_distinct, rsd=rsd, string_extremes=string_extremes)
    profile = {
        "path": path,
        "uri": uri,
        "rows": rows,
        "bytes": size,
        "files": layout.pop("files"),
        "partitions": layout,
        "schema": [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in df.schema],
        "columns": columns,
    }
    return profile, df.schema


def lineage_input(namespace: str, profile: dict[str, Any], schema: StructType) -> InputDataset:
    """A profiled dataset as an OpenLineage input: its schema and its statistics as ``dataQualityMetrics``."""
    metrics = {}
    numeric = {f.name for f in schema.fields if isinstance(f.dataType, NumericType)}
    for name, column in profile["columns"].items():
        # The facet's min/max are numbers; a decimal too wide for a float is a string in the profile and left out.
        low, high = (
            float(column[key]) if name in numeric and isinstance(column.get(key), int | float) else None
            for key in ("min", "max")
        )
        metrics[name] = dq.ColumnMetrics(
            nullCount=column["nulls"],
            distinctCount=column.get("approx_distinct"),
            count=float(profile["rows"] - column["nulls"]),
            min=low,
            max=high,
        )
    facet = dq.DataQualityMetricsInputDatasetFacet(
        columnMetrics=metrics, rowCount=profile["rows"], bytes=profile["bytes"], fileCount=profile["files"]
    )
    return InputDataset(
        namespace=namespace,
        name=profile["path"],
        facets={"schema": schema_facet(schema)},
        inputFacets={"dataQualityMetrics": facet},
    )


def output_uri(lake: str, out: str) -> str:
    """``--out`` as a URI: a lake-relative path lands under the lake root; an absolute URI or path is used as given."""
    if "://" not in out and not out.startswith("/"):
        return dataset_uri(lake, out)
    parent, _, name = out.rstrip("/").rpartition("/")
    return dataset_uri(normalize_root(parent or "/"), name)


def chosen_datasets(ctx: JobContext) -> tuple[list[str], list[str]]:
    """The datasets to profile and the canonical ones skipped because they do not exist (only when none were named)."""
    if ctx.args.datasets:
        return [check_relative(p) for p in ctx.args.datasets.split(",") if p.strip()], []
    present: list[str] = []
    absent: list[str] = []
    for path in DATASETS:
        fs, hpath = hadoop_path(ctx.spark, ctx.uri(path))
        (present if fs.exists(hpath) else absent).append(path)
    return present, absent


def run(ctx: JobContext) -> JobResult:
    """Profiles each dataset, writes the document and reports the datasets as inputs with their statistics."""
    if ctx.args.top < 0 or ctx.args.top_max_distinct < 0:
        raise ValueError("--top and --top-max-distinct must not be negative")
    paths, absent = chosen_datasets(ctx)
    out = output_uri(ctx.lake, ctx.args.out)
    results = {
        path: profile_dataset(
            ctx.spark,
            ctx.uri(path),
            path,
            top=ctx.args.top,
            max_distinct=ctx.args.top_max_distinct,
            rsd=ctx.args.rsd,
            string_extremes=ctx.args.string_extremes,
        )
        for path in paths
    }
    profiles = {path: profile for path, (profile, _) in results.items()}
    inputs = [lineage_input(ctx.pair(path)[0], profile, schema) for path, (profile, schema) in results.items()]
    document: dict[str, Any] = {
        "job": NAME,
        "run_id": ctx.lineage.run_id,
        "lake": ctx.lake,
        "generated_at": datetime.now(UTC).isoformat(),
        "out": out,
        "top": ctx.args.top,
        "top_max_distinct": ctx.args.top_max_distinct,
        "string_extremes": ctx.args.string_extremes,
        "datasets": profiles,
        "absent": absent,
    }
    write_text(ctx.spark, out, json.dumps(document, indent=2, sort_keys=True, default=str))
    return JobResult(inputs=inputs, outputs=[], summary=document)


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
