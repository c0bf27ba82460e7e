"""The ``pii_scan`` job: which columns of which datasets hold personal data, with category, evidence and confidence.

``python -m spark.jobs.pii_scan --lake URI [--datasets raw/customers,…] [--sample-rows 10000] [--threshold 0.1]``

Per dataset, a deterministic sample (Bernoulli ``sample`` with ``--seed`` at a fraction sized from the Parquet row
count, then ``limit``) of the string columns, plus the date and timestamp columns whose name suggests a birth date,
is read once; one aggregation over its cells, grouped by column, counts the non-empty values and the values each
detector of ``spark.pii`` matches (built-in SQL functions only, no Python UDF). The findings (category, detector,
ratio, confidence, reason) follow the rules in ``spark.pii``.

A row-level sample still reads every row. When a dataset holds at least ``FILE_SAMPLING_FACTOR`` times the sample,
the draw is made from a subset of its files instead: files ordered by a seeded hash of their path, taking at least
``MIN_SAMPLED_FILES`` and enough for about ``FILE_SAMPLE_CAPACITY`` times the sample, so a scan of a large dataset
costs the sample, not the dataset.

Only counts leave Spark: no sampled value is ever put in the summary, the report, a log line or a lineage event. The
summary is also written to ``pii/_latest.json`` under the lake (``--no-report`` skips it); like the profile
document, it is a report about datasets, so lineage lists the scanned datasets as inputs and no output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, TimestampType

from spark.jobs.base import JobContext, JobResult, main
from spark.jobs.validate import hadoop_path, require, write_text
from spark.lineage import input_dataset
from spark.paths import check_relative
from spark.pii import DEFAULT_THRESHOLD, DETECTORS, Detector, Finding, finding, sql_identifier
from spark.schema import DATASETS

NAME = "pii_scan"
REPORT = "pii/_latest.json"
DEFAULT_SAMPLE_ROWS = 10_000
DEFAULT_SEED = 42
FILE_SAMPLING_FACTOR = 20
FILE_SAMPLE_CAPACITY = 4
MIN_SAMPLED_FILES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument(
        "--datasets", default="", help="Comma-separated datasets to scan (default: every lake dataset present)."
    )
    parser.add_argument("--sample-rows", type=int, default=DEFAULT_SAMPLE_ROWS, help="Rows sampled per dataset.")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="Match ratio that flags a column.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Sampling seed (same seed, same sample).")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="Date the birth range counts from (default: today)."
    )
    parser.add_argument("--no-report", action="store_true", help=f"Do not write {REPORT} under the lake.")


def sampled_files(df: DataFrame, base: str, *, rows: int, total: int, seed: int) -> list[str] | None:
    """The files to draw the sample from, or None to draw from all of them (see the module docstring)."""
    files = df.inputFiles()
    if total < rows * FILE_SAMPLING_FACTOR or len(files) <= MIN_SAMPLED_FILES:
        return None
    root = urlsplit(base).path.rstrip("/")

    def rank(uri: str) -> str:
        # Relative to the dataset, so the choice does not depend on where the lake is mounted.
        relative = uri[uri.find(root) + len(root) :] if root in uri else uri
        return hashlib.sha256(f"{seed}:{relative}".encode()).hexdigest()

    wanted = max(MIN_SAMPLED_FILES, math.ceil(len(files) * FILE_SAMPLE_CAPACITY * rows / total))
    return sorted(files, key=rank)[:wanted] if wanted < len(files) else None


def sample(df: DataFrame, columns: list[str], *, rows: int, seed: int, base: str | None) -> tuple[DataFrame, int]:
    """At most ``rows`` rows of ``columns`` drawn without replacement (the same for a seed and the same files), and
    the dataset's row count; ``base`` (the dataset's location) allows drawing from a subset of its files."""
    total = df.count()  # Parquet answers from file footers
    selected = [F.col(sql_identifier(name)) for name in columns]
    if total <= rows:
        return df.select(*selected), total
    source, available = df, total
    files = sampled_files(df, base, rows=rows, total=total, seed=seed) if base else None
    if files:
        source = df.sparkSession.read.schema(df.schema).option("basePath", base).parquet(*files)
        available = source.count()
    # Four standard deviations of oversampling: the Bernoulli draw falls short of ``rows`` about once in 30,000.
    fraction = min(1.0, (rows + 4 * math.sqrt(rows) + 10) / max(available, 1))
    return source.select(*selected).sample(withReplacement=False, fraction=fraction, seed=seed).limit(rows), total


def scanned_columns(df: DataFrame) -> list[tuple[str, str, list[Detector]]]:
    """(column, kind, detectors): every string column with all detectors; dates only where a detector's hint fits."""
    columns = []
    for field in df.schema.fields:
        if isinstance(field.dataType, StringType):
            columns.append((field.name, "string", list(DETECTORS)))
        elif isinstance(field.dataType, DateType | TimestampType):
            detectors = [d for d in DETECTORS if d.dates and d.hints(field.name)]
            if detectors:
                columns.append((field.name, field.dataType.simpleString(), detectors))
    return columns


def scan_dataset(
    df: DataFrame, *, rows: int, seed: int, threshold: float, today: date, base: str | None = None
) -> dict[str, Any]:
    """The findings of one dataset from one aggregation over its sample (counts only)."""
    columns = scanned_columns(df)
    if not columns or rows == 0:
        return {"rows_total": None, "rows_sampled": 0, "columns": []}
    sampled, total = sample(df, [name for name, _, _ in columns], rows=rows, seed=seed, base=base)
    # One (column, value) row per sampled cell, so each detector appears once in the plan, not once per column:
    # analysis and code generation stay small however wide the dataset. Blank strings count as empty; dates and
    # timestamps become ISO dates, which the date-of-birth detector reads like any other. Positional aliases keep
    # arbitrary column names out of the generated SQL.
    cells = sampled.select(
        *[
            F.expr(
                f"nullif(trim({sql_identifier(name)}), '')"
                if kind == "string"
                else f"CAST(CAST({sql_identifier(name)} AS DATE) AS STRING)"
            ).alias(f"c{i}")
            for i, (name, kind, _) in enumerate(columns)
        ]
    )
    pairs = ", ".join(f"{i}, c{i}" for i in range(len(columns)))
    long = cells.select(F.expr(f"stack({len(columns)}, {pairs}) AS (col, value)"))
    counted = long.groupBy("col").agg(
        F.count(F.lit(1)).alias("rows"),
        F.count("value").alias("non_empty"),
        *[F.expr(f"count_if({d.sql('value', today)})").alias(d.key) for d in DETECTORS],
    )
    counts = {row["col"]: row.asDict() for row in counted.collect()}
    empty = {"rows": 0, "non_empty": 0} | {d.key: 0 for d in DETECTORS}
    out_columns = []
    for i, (name, kind, detectors) in enumerate(columns):
        column = counts.get(i, empty)
        non_empty = int(column["non_empty"])
        findings: list[Finding] = []
        for detector in detectors:
            matched = int(column[detector.key])
            hinted = detector.hints(name)
            if matched or hinted:
                findings.append(
                    finding(detector, matched=matched, sampled=non_empty, hinted=hinted, threshold=threshold)
                )
        findings.sort(key=lambda f: (not f["flagged"], -f["confidence"], f["detector"]))
        top = findings[0] if findings and findings[0]["flagged"] else None
        out_columns.append(
            {
                "column": name,
                "type": kind,
                "non_empty": non_empty,
                "flagged": top is not None,
                "category": top["category"] if top else None,
                "confidence": top["confidence"] if top else None,
                "findings": findings,
            }
        )
    return {"rows_total": total, "rows_sampled": int(counts.get(0, empty)["rows"]), "columns": out_columns}


def chosen_datasets(ctx: JobContext) -> tuple[list[str], list[str]]:
    """The datasets to scan and the lake datasets skipped because they do not exist (only when none were named)."""
    named = [check_relative(p) for p in ctx.args.datasets.split(",") if p.strip()]
    if named:
        for path in named:
            require(ctx.spark, ctx.uri(path), path)
        return named, []
    present: list[str] = []
    absent: list[str] = []
    for path in DATASETS:
        fs, hpath = hadoop_path(ctx.spark, ctx.uri(path))
        (present if fs.exists(hpath) else absent).append(path)
    return present, absent


def run(ctx: JobContext) -> JobResult:
    """Sample and scan each dataset, summarise the flagged columns and write the report."""
    args = ctx.args
    if args.sample_rows < 1:
        raise ValueError("--sample-rows must be at least 1")
    if not 0 < args.threshold <= 1:
        raise ValueError("--threshold must be in (0, 1]")
    today = args.today or datetime.now(UTC).date()
    paths, absent = chosen_datasets(ctx)
    datasets = []
    inputs = []
    flagged = []
    for path in paths:
        uri = ctx.uri(path)
        df = ctx.spark.read.parquet(uri)
        result = scan_dataset(
            df, rows=args.sample_rows, seed=args.seed, threshold=args.threshold, today=today, base=uri
        )
        namespace, name = ctx.pair(path)
        inputs.append(input_dataset(namespace, name, df.schema))
        datasets.append({"dataset": name, "namespace": namespace, **result})
        flagged += [
            {"dataset": name, "column": c["column"], "category": c["category"], "confidence": c["confidence"]}
            for c in result["columns"]
            if c["flagged"]
        ]
    summary: dict[str, Any] = {
        "job": NAME,
        "run_id": ctx.lineage.run_id,
        "lake": ctx.lake,
        "generated_at": datetime.now(UTC).isoformat(),
        "today": today.isoformat(),
        "sample_rows": args.sample_rows,
        "seed": args.seed,
        "threshold": args.threshold,
        "rows_sampled": sum(d["rows_sampled"] for d in datasets),
        "datasets": datasets,
        "flagged": flagged,
        "skipped": absent,
    }
    if not args.no_report:
        report = ctx.uri(REPORT)
        write_text(ctx.spark, report, json.dumps(summary, indent=2, sort_keys=True))
        summary["report"] = report
    return JobResult(inputs=inputs, outputs=[], summary=summary)


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
