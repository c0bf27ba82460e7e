"""The ``quality_scan`` job: evaluates the portal's data-quality rules on one lake dataset.

``python -m spark.jobs.quality_scan --lake URI --dataset raw/orders [--rules FILE_OR_JSON] [--rule JSON …]
[--samples 10] [--sample-rows N] [--partitions "order_date>=2025-03-01" …] [--primary-key order_id]``

Rules arrive as JSON: ``--rules`` takes a list (or ``{"rules": [...]}``), inline or in a local file, and each
``--rule`` one rule object inline (the portal sends one compact object per argument, as a Spark run's arguments are
short); both may be given, and at least one rule must be. ``--sample-rows N`` scans only the first N rows of the
(partition-filtered) dataset, kept in memory for the scan's passes, to try rules out on a sample. The summary lists
each rule's metric, failing rows and fraction, outcome (PASS/WARN/FAIL/ERROR), thresholds, message and failing-row
samples (primary key and the rule's columns, unmasked: the portal masks personal columns), the rows scanned and
``sample_rows`` (null for a full scan). Reference datasets of referential rules and reference value sets are lake
paths, always read whole. Lineage: the dataset is an input with ``dataQualityMetrics`` and
``dataQualityAssertions`` facets; the scan writes nothing, so there are no outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from spark.jobs.base import JobContext, JobResult, main
from spark.jobs.validate import require
from spark.lineage import AssertionRecord, input_dataset, quality_input_dataset
from spark.paths import check_relative
from spark.quality.rules import Outcome, Rule, RuleError, parse_rules
from spark.quality.scan import ScanResult, partition_filter, scan
from spark.schema import DATASETS

NAME = "quality_scan"
DEFAULT_SAMPLES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument("--dataset", required=True, help="Dataset path under the lake, e.g. raw/orders.")
    parser.add_argument("--rules", default=None, help="A list of rules as JSON, or the path of a local JSON file.")
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="JSON",
        help="One rule as a JSON object; repeat for more rules (with or instead of --rules).",
    )
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="Failing rows kept per rule (0: none).")
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=None,
        help="Scan only the first N rows of the (partition-filtered) dataset, e.g. to try a rule out.",
    )
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


def collect_rules(rules: str | None, rule: Sequence[str]) -> list[Rule]:
    """The rules of ``--rules`` followed by those of each ``--rule``; ids must be unique across both."""
    documents: list[Any] = []
    if rules is not None:
        loaded = load_rules(rules)
        items = loaded.get("rules") if isinstance(loaded, dict) else loaded
        if not isinstance(items, list):
            raise RuleError('--rules must hold a list of rule objects or {"rules": [...]}')
        documents += items
    for position, text in enumerate(rule, start=1):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RuleError(f"--rule #{position} is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise RuleError(f"--rule #{position} must be one JSON object, got {type(document).__name__}")
        documents.append(document)
    if not documents:
        raise RuleError("no rules: give --rules with a list and/or one --rule per rule")
    return parse_rules(documents)


def thresholds(rule: Rule) -> str:
    """The thresholds of a rule as text; a missing one never trips."""
    parts = [f"{name}>{value:g}" for name, value in (("warn", rule.warn), ("fail", rule.fail)) if value is not None]
    return " ".join(parts) or "no thresholds (never trips)"


def assertions(result: ScanResult) -> list[AssertionRecord]:
    """Each rule's result as an OpenLineage assertion; success means the rule found nothing."""
    return [
        AssertionRecord(
            assertion=str(r.rule.kind),
            success=r.outcome is Outcome.PASS,
            column=r.rule.columns[0] if len(r.rule.columns) == 1 else None,
            name=r.rule.id,
            severity=r.rule.severity,
            expected=thresholds(r.rule),
            actual=str(r.outcome) if r.metric is None else f"{r.outcome} {r.metric:.6g}",
        )
        for r in result.results
    ]


@contextmanager
def _first_rows(df: DataFrame, rows: int | None) -> Iterator[DataFrame]:
    """The dataset, or its first ``rows`` rows kept while the scan runs, so every pass reads the same rows."""
    if rows is None:
        yield df
        return
    # A limit is not a stable choice of rows between jobs; the copy is, and it spares re-reading for each pass.
    head = df.limit(rows).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield head
    finally:
        head.unpersist()


def run(ctx: JobContext) -> JobResult:
    """Reads the dataset (and only the named partitions), scans it and reports the results."""
    path = check_relative(ctx.args.dataset)
    if ctx.args.samples < 0:
        raise ValueError("--samples must not be negative")
    sample_rows: int | None = ctx.args.sample_rows
    if sample_rows is not None and sample_rows < 1:
        raise ValueError("--sample-rows must be a positive number of rows")
    rules = collect_rules(ctx.args.rules, ctx.args.rule)
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
    with _first_rows(df, sample_rows) as scanned:
        result = scan(scanned, rules, primary_key=key, references=reference, samples=ctx.args.samples, now=started)
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
        "sample_rows": sample_rows,
        "started_at": started.isoformat(),
        **result.to_dict(),
    }
    return JobResult(inputs=inputs, outputs=[], summary=summary)


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
