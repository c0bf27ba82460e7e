"""The ``quality_scan`` job: evaluates the portal's data-quality rules on one lake dataset.

``python -m spark.jobs.quality_scan --lake URI --dataset raw/orders --rules FILE_OR_JSON [--samples 10]
[--partitions "order_date>=2025-03-01" …] [--primary-key order_id]``

Rules arrive as JSON (a list, or ``{"rules": [...]}``), inline or in a local file. The summary lists each rule's
metric, failing rows and fraction, outcome (PASS/WARN/FAIL/ERROR), message and failing-row samples (primary key and
the rule's columns, unmasked: the portal masks personal columns), and the rows scanned. Reference datasets of
referential rules and reference value sets are lake paths. Lineage: the dataset is an input with
``dataQualityMetrics`` and ``dataQualityAssertions`` facets; the scan writes nothing, so there are no outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from spark.jobs.base import JobContext, JobResult, main
from spark.jobs.validate import require
from spark.lineage import AssertionRecord, input_dataset, quality_input_dataset
from spark.paths import check_relative
from spark.quality.rules import Outcome, parse_rules
from spark.quality.scan import ScanResult, partition_filter, scan
from spark.schema import DATASETS

NAME = "quality_scan"
DEFAULT_SAMPLES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument("--dataset", required=True, help="Dataset path under the lake, e.g. raw/orders.")
    parser.add_argument("--rules", required=True, help="Rules as JSON, or the path of a local JSON file.")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="Failing rows kept per rule (0: none).")
    parser.add_argument(
        "--partitions",
        nargs="*",
        default=[],
        help="Incremental scan: partition filters such as order_date>=2025-03-01 (all must hold).",
    )
    parser.add_argument(
        "--primary-key",
        default=None,
        help="Comma-separated key columns of the samples (default: the canonical dataset's primary key).",
    )


def load_rules(text: str) -> Any:
    """The rules document: inline JSON, or the content of a local file."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        return json.loads(stripped)
    return json.loads(Path(stripped).read_text())


def assertions(result: ScanResult) -> list[AssertionRecord]:
    """Each rule's result as an OpenLineage assertion; success means the rule found nothing."""
    return [
        AssertionRecord(
            assertion=str(r.rule.kind),
            success=r.outcome is Outcome.PASS,
            column=r.rule.columns[0] if len(r.rule.columns) == 1 else None,
            name=r.rule.id,
            severity=r.rule.severity,
            expected=f"warn>{r.rule.warn} fail>{r.rule.fail}",
            actual=str(r.outcome) if r.metric is None else f"{r.outcome} {r.metric:.6g}",
        )
        for r in result.results
    ]


def run(ctx: JobContext) -> JobResult:
    """Reads the dataset (and only the named partitions), scans it and reports the results."""
    path = check_relative(ctx.args.dataset)
    if ctx.args.samples < 0:
        raise ValueError("--samples must not be negative")
    rules = parse_rules(load_rules(ctx.args.rules))
    uri = ctx.uri(path)
    require(ctx.spark, uri, path)
    df = partition_filter(ctx.spark.read.parquet(uri), ctx.args.partitions)
    canonical = DATASETS.get(path)
    if ctx.args.primary_key:
        key = [c.strip() for c in ctx.args.primary_key.split(",") if c.strip()]
    else:
        key = list(canonical.primary_key) if canonical else []
    references: dict[str, DataFrame] = {}

    def reference(other: str) -> DataFrame:
        relative = check_relative(other)
        if relative not in references:
            require(ctx.spark, ctx.uri(relative), relative)
            references[relative] = ctx.spark.read.parquet(ctx.uri(relative))
        return references[relative]

    started = datetime.now(UTC)
    result = scan(df, rules, primary_key=key, references=reference, samples=ctx.args.samples, now=started)
    namespace, name = ctx.pair(path)
    inputs = [
        quality_input_dataset(
            namespace, name, df.schema, rows=result.rows, columns=result.column_metrics, assertions=assertions(result)
        )
    ]
    # Reference datasets are read too, so they are inputs, without statistics of their own.
    inputs += [input_dataset(*ctx.pair(other), frame.schema) for other, frame in references.items()]
    summary: dict[str, Any] = {
        "job": NAME,
        "dataset": path,
        "uri": uri,
        "partitions": list(ctx.args.partitions),
        "primary_key": key,
        "started_at": started.isoformat(),
        **result.to_dict(),
    }
    return JobResult(inputs=inputs, outputs=[], summary=summary)


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
