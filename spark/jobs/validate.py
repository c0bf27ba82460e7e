"""The ``validate`` job: checks every raw dataset, writes the rows that pass to ``curated/<name>`` and the rows that
fail, with every reason, to ``quarantine/<name>``.

``python -m spark.jobs.validate --lake URI [--datasets raw/orders,…] [--high-value 10000] [--now ISO]``

Checks per dataset (reason codes in brackets): schema conformance against the canonical types (missing and extra
columns and type mismatches are reported; a mismatched column is cast with ``try_cast``, and a value that does not
survive the cast is rejected [``uncastable_<col>``]); nulls in required columns [``null_<col>``]; duplicate primary
keys, keeping one row per key [``duplicate_id``]; negative amounts and prices [``negative_<col>``]; timestamps and
dates after ``--now`` [``future_<col>``]; malformed emails [``invalid_email``]; foreign keys unknown to the parent
raw dataset [``orphan_<col>``]. Orders above ``--high-value`` are counted in the summary, not rejected.

Every check is a column of one plan per dataset, with no shuffle of the wide rows: the few facts that need other
rows (foreign keys unknown to the parent, ids that occur more than once, and which copy of such an id to keep) are
computed first, from the key columns alone and then from the rows of repeated ids only; they are kept in memory
and, being small, broadcast into the plan. The plan then runs twice,
split by ``reasons``: once writing ``curated/<name>`` while an observation counts everything for the summary (read,
valid, per reason, nulls per column, flagged high value) on every row, once writing ``quarantine/<name>``. Two scans
were measured cheaper than caching the whole dataset once (which costs about as much as writing it) or shuffling it
for a window over the key; and a shuffle-free plan writes curated files that follow the raw files' layout.

The summary is returned and written to ``quarantine/_summary.json``. Bad data never fails the job; a missing input
dataset does.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import data_quality_assertions_dataset, input_statistics_input_dataset
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StructField, StructType, TimestampType
from pyspark.sql.utils import AnalysisException

from spark.jobs.base import JobContext, JobResult, main
from spark.lineage import ColumnSource, output_dataset, schema_facet
from spark.schema import DATASETS, LakeDataset

NAME = "validate"
RAW_DATASETS: tuple[str, ...] = tuple(path for path in DATASETS if path.startswith("raw/"))
EMAIL_PATTERN = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$"
DEFAULT_HIGH_VALUE = Decimal("10000")
SUMMARY_PATH = "quarantine/_summary.json"
DUPLICATE = "duplicate_id"
_FLAG = "__validate_"  # prefix of working columns, dropped before anything is written
ROW_FILE, ROW_INDEX = f"{_FLAG}file", f"{_FLAG}row"


@dataclass(frozen=True)
class ForeignKey:
    """A column that must name a row of a parent raw dataset."""

    column: str
    parent: str
    parent_column: str

    @property
    def reason(self) -> str:
        return f"orphan_{self.column}"


FOREIGN_KEYS: dict[str, tuple[ForeignKey, ...]] = {
    "raw/orders": (ForeignKey("customer_id", "raw/customers", "customer_id"),),
    "raw/order_items": (
        ForeignKey("order_id", "raw/orders", "order_id"),
        ForeignKey("product_id", "raw/products", "product_id"),
    ),
    "raw/user_events": (
        ForeignKey("customer_id", "raw/customers", "customer_id"),
        ForeignKey("product_id", "raw/products", "product_id"),
    ),
}
NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "raw/orders": ("total_amount",),
    "raw/order_items": ("quantity", "unit_price"),
    "raw/products": ("price", "cost"),
}
EMAIL_COLUMNS: dict[str, tuple[str, ...]] = {"raw/customers": ("email",)}
HIGH_VALUE_COLUMN: dict[str, str] = {"raw/orders": "total_amount"}


@dataclass(frozen=True)
class Check:
    """One rejection rule: its reason code, the condition that rejects a row, and the columns it reads."""

    reason: str
    condition: Column
    columns: tuple[str, ...]
    kind: str  # the OpenLineage assertion classification
    parent: ForeignKey | None = None


@dataclass
class Conformance:
    """How a raw dataset's schema differs from the canonical one."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # canonical column → raw column it was read from

    def as_dict(self) -> dict[str, Any]:
        return {"missing": self.missing, "extra": self.extra, "mismatched": self.mismatched}


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc


def _moment(text: str) -> datetime:
    try:
        return parse_now(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO timestamp: {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument(
        "--datasets",
        default=",".join(RAW_DATASETS),
        help="Comma-separated raw datasets to validate (default: all of them).",
    )
    parser.add_argument(
        "--high-value", type=_decimal, default=DEFAULT_HIGH_VALUE, help="Flag orders above this total_amount."
    )
    parser.add_argument(
        "--now", type=_moment, default=None, help="ISO timestamp that counts as now (default: the current time)."
    )


def parse_now(text: str) -> datetime:
    """``--now`` as an aware UTC datetime; a naive value is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_datasets(text: str) -> list[str]:
    """``--datasets`` as raw dataset paths, refusing anything that is not a raw dataset of the lake."""
    chosen = [part.strip().strip("/") for part in text.split(",") if part.strip()]
    unknown = [path for path in chosen if path not in RAW_DATASETS]
    if unknown or not chosen:
        raise ValueError(f"unknown raw datasets {unknown or text!r}; choose from {', '.join(RAW_DATASETS)}")
    return list(dict.fromkeys(chosen))


def hadoop_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """The Hadoop ``(FileSystem, Path)`` of a URI, through the JVM gateway (works for file://, s3://, s3a://)."""
    jvm = spark._jvm
    assert jvm is not None  # noqa: S101 - a live session always has its gateway
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark._jsc.hadoopConfiguration()), path


def storage_size(spark: SparkSession, uri: str) -> tuple[int, int]:
    """Bytes and data files under a URI, from the file system's content summary (the ``_SUCCESS`` marker is not
    counted as a file)."""
    fs, path = hadoop_path(spark, uri)
    summary = fs.getContentSummary(path)
    marker = 1 if fs.exists(hadoop_path(spark, uri.rstrip("/") + "/_SUCCESS")[1]) else 0
    return int(summary.getLength()), int(summary.getFileCount()) - marker


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write a small text document to a lake URI, overwriting it, through the Hadoop file system."""
    fs, path = hadoop_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def require(spark: SparkSession, uri: str, path: str) -> None:
    """Refuse a missing input dataset: that is an error, unlike bad rows in it."""
    fs, hpath = hadoop_path(spark, uri)
    if not fs.exists(hpath):
        raise FileNotFoundError(f"input dataset {path} does not exist at {uri}")


def _castable(df: DataFrame, expression: Column) -> bool:
    # Analysis is eager in PySpark, so an impossible cast raises here without running anything.
    try:
        df.select(expression)
    except AnalysisException:
        return False
    return True


def conform(df: DataFrame, dataset: LakeDataset) -> tuple[DataFrame, Conformance, list[Check]]:
    """The raw rows in the canonical column order and types, what differed, and the checks for values lost to a cast.

    Names match case-insensitively, as Spark resolves them. A missing column becomes nulls; an extra one is dropped.
    Each row keeps its physical identity (file and row index from the Parquet ``_metadata`` column), which tells
    identical duplicates apart.
    """
    report = Conformance()
    actual = {f.name.lower(): f for f in df.schema.fields}
    wanted = {f.name.lower() for f in dataset.schema.fields}
    report.extra = [f.name for f in df.schema.fields if f.name.lower() not in wanted]
    columns: list[Column] = []
    checks: list[Check] = []
    for target in dataset.schema.fields:
        found: StructField | None = actual.get(target.name.lower())
        if found is None:
            report.missing.append(target.name)
            columns.append(F.lit(None).cast(target.dataType).alias(target.name))
            continue
        report.sources[target.name] = found.name
        source = F.col(f"`{found.name}`")
        if found.dataType == target.dataType:
            columns.append(source.alias(target.name))
            continue
        converted = F.expr(f"try_cast(`{found.name}` AS {target.dataType.simpleString()})")
        castable = _castable(df, converted)
        value = converted if castable else F.lit(None).cast(target.dataType)
        report.mismatched.append(
            {
                "column": target.name,
                "expected": target.dataType.simpleString(),
                "actual": found.dataType.simpleString(),
                "cast": castable,
            }
        )
        flag = f"{_FLAG}lost_{target.name}"
        columns.extend([value.alias(target.name), (source.isNotNull() & value.isNull()).alias(flag)])
        checks.append(Check(f"uncastable_{target.name}", F.col(flag), (target.name,), "castable"))
    identity = [F.col("_metadata.file_path").alias(ROW_FILE), F.col("_metadata.row_index").alias(ROW_INDEX)]
    return df.select(*columns, *identity), report, checks


def row_checks(dataset: LakeDataset, now: datetime) -> list[Check]:
    """The checks that look at one row alone: required values, signs, time and email format."""
    checks = [
        Check(f"null_{f.name}", F.col(f.name).isNull(), (f.name,), "not_null")
        for f in dataset.schema.fields
        if not f.nullable
    ]
    checks += [Check(f"negative_{c}", F.col(c) < 0, (c,), "non_negative") for c in NON_NEGATIVE.get(dataset.path, ())]
    for f in dataset.schema.fields:
        if isinstance(f.dataType, TimestampType):
            checks.append(Check(f"future_{f.name}", F.col(f.name) > F.lit(now), (f.name,), "not_in_future"))
        elif isinstance(f.dataType, DateType):
            checks.append(Check(f"future_{f.name}", F.col(f.name) > F.lit(now.date()), (f.name,), "not_in_future"))
    checks += [
        Check(f"invalid_{c}", F.col(c).isNotNull() & ~F.col(c).rlike(EMAIL_PATTERN), (c,), "format")
        for c in EMAIL_COLUMNS.get(dataset.path, ())
    ]
    return checks


def materialise(df: DataFrame, held: list[DataFrame]) -> tuple[DataFrame, int]:
    """Persists a small intermediate result, computes it now and returns it with its row count.

    Once computed, its size is known exactly, so the planner broadcasts it to the wide rows when it is small (the
    usual case: few unknown keys, few duplicated ids) instead of shuffling the wide rows to meet it.
    """
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    held.append(df)
    return df, df.count()


def mark_orphans(
    df: DataFrame, dataset: LakeDataset, parents: dict[str, DataFrame], held: list[DataFrame]
) -> tuple[DataFrame, list[Check], list[str]]:
    """Flags foreign keys unknown to their parent dataset; also returns the checks skipped for lack of a parent key.

    The unknown keys are found from the key column alone (distinct child keys anti-joined with the parent's keys),
    then joined back to the rows: the wide rows are never shuffled for a foreign key.
    """
    source = df
    checks: list[Check] = []
    skipped: list[str] = []
    for position, fk in enumerate(FOREIGN_KEYS.get(dataset.path, ())):
        parent = parents[fk.parent]
        names = {f.name.lower(): f.name for f in parent.schema.fields}
        if fk.parent_column.lower() not in names:
            skipped.append(fk.reason)
            continue
        key, unknown = f"{_FLAG}key{position}", f"{_FLAG}unknown{position}"
        parent_keys = parent.select(F.col(f"`{names[fk.parent_column.lower()]}`").cast("string").alias(key))
        orphans = (
            source.select(F.col(fk.column).alias(key))
            .where(F.col(key).isNotNull())
            .distinct()
            .join(parent_keys, key, "left_anti")
            .withColumn(unknown, F.lit(True))
        )
        orphans, count = materialise(orphans, held)
        condition = F.lit(False)
        if count:
            df = df.join(orphans, F.col(fk.column) == F.col(key), "left").drop(key)
            condition = F.col(unknown).isNotNull()
        checks.append(Check(fk.reason, condition, (fk.column,), "referential_integrity", parent=fk))
    return df, checks, skipped


def _reason_array(checks: list[Check]) -> Column:
    # A check whose condition is null (e.g. a null amount compared with 0) adds no reason: nulls are judged
    # only by the required-column checks.
    return F.array_compact(F.array(*[F.when(c.condition, F.lit(c.reason)) for c in checks]))


def mark_duplicates(
    df: DataFrame, keys: DataFrame, dataset: LakeDataset, reasons: str, held: list[DataFrame]
) -> tuple[DataFrame, Column]:
    """The rows with what they need to judge duplicates, and a condition true for every row but one per primary key.

    The row kept is the first by: no other rejection reason, then the earliest event time, then every other column,
    then its place in the files; so the same input always keeps the same row, and a clean copy wins over a broken
    one. Rows with a null key part are left to the null check.

    Duplicated keys are found from the key columns of ``keys`` (the conformed rows, before any join) alone, and
    only the rows carrying one of them are ranked (a ``min`` over a struct in that order, per key); the keeper of
    each such key is joined back. The wide rows are never shuffled or sorted as a whole.
    """
    key = list(dataset.primary_key)
    complete = F.lit(True)
    for name in key:
        complete = complete & F.col(name).isNotNull()
    repeated = keys.select(*key).where(complete).groupBy(*key).count().where(F.col("count") > 1).drop("count")
    repeated, count = materialise(repeated, held)
    if not count:
        return df, F.lit(False)
    times = [f.name for f in dataset.schema.fields if isinstance(f.dataType, TimestampType)]
    rest = [name for name in dataset.columns if name not in key and name not in times]
    # Struct comparison puts nulls first; the (is null, value) pairs put them last, as asc_nulls_last would.
    order = [F.when(F.size(reasons) == 0, 0).otherwise(1).alias("clean")]
    for position, name in enumerate(times + rest):
        order += [F.col(name).isNull().alias(f"n{position}"), F.col(name).alias(f"v{position}")]
    first = F.min(F.struct(*order, F.col(ROW_FILE).alias("file"), F.col(ROW_INDEX).alias("row"))).alias("first")
    keep_file, keep_row = f"{_FLAG}keep_file", f"{_FLAG}keep_row"
    keepers = (
        df.join(repeated, key, "left_semi")
        .groupBy(*key)
        .agg(first)
        .select(*key, F.col("first.file").alias(keep_file), F.col("first.row").alias(keep_row))
    )
    keepers, _ = materialise(keepers, held)
    kept = (F.col(ROW_FILE) == F.col(keep_file)) & (F.col(ROW_INDEX) == F.col(keep_row))
    return df.join(keepers, key, "left"), F.col(keep_file).isNotNull() & ~kept


@dataclass
class Validation:
    """The checked rows of one dataset (canonical columns, ``reasons``, flags), what was checked, and the small
    persisted intermediates to release afterwards."""

    dataset: LakeDataset
    rows: DataFrame
    checks: list[Check]
    conformance: Conformance
    skipped: list[str]
    raw_schema: StructType
    held: list[DataFrame]

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks] + [DUPLICATE]

    def release(self) -> None:
        for frame in self.held:
            frame.unpersist()


def check_dataset(
    raw: DataFrame, dataset: LakeDataset, parents: dict[str, DataFrame], now: datetime, high_value: Decimal
) -> Validation:
    """One plan with every check as a column: conform, flag orphans, per-row checks, then duplicates."""
    held: list[DataFrame] = []
    try:
        conformed, report, checks = conform(raw, dataset)
        flagged, fk_checks, skipped = mark_orphans(conformed, dataset, parents, held)
        checks = checks + row_checks(dataset, now) + fk_checks
        pre = f"{_FLAG}reasons"
        staged = flagged.withColumn(pre, _reason_array(checks))
        staged, duplicate = mark_duplicates(staged, conformed, dataset, pre, held)
    except BaseException:
        for frame in held:
            frame.unpersist()
        raise
    reasons = F.when(duplicate, F.array_append(F.col(pre), F.lit(DUPLICATE))).otherwise(F.col(pre))
    amount = HIGH_VALUE_COLUMN.get(dataset.path)
    high = (F.col(amount) > F.lit(high_value)) if amount else F.lit(False)
    rows = staged.select(
        *dataset.columns, reasons.alias("reasons"), F.coalesce(high, F.lit(False)).alias(f"{_FLAG}high_value")
    )
    return Validation(dataset, rows, checks, report, skipped, raw.schema, held)


def _target(prefix: str, raw_path: str) -> str:
    return f"{prefix}/{raw_path.split('/', 1)[1]}"


def summary_metrics(validation: Validation) -> dict[str, Column]:
    """Counts read, valid, per reason, nulls per column and flagged high-value rows, as aggregate expressions."""
    valid = F.size("reasons") == 0
    counts = {"read": F.count(F.lit(1)), "valid": F.sum(valid.cast("long"))}
    counts |= {f"reason:{r}": F.sum(F.array_contains("reasons", r).cast("long")) for r in validation.reasons}
    counts |= {f"null:{c}": F.sum(F.col(c).isNull().cast("long")) for c in validation.dataset.columns}
    counts["high_value"] = F.sum((valid & F.col(f"{_FLAG}high_value")).cast("long"))
    return counts


def summarise(validation: Validation, got: dict[str, int]) -> dict[str, Any]:
    """The dataset's part of the summary from the observed counts."""
    out: dict[str, Any] = {
        "read": got["read"],
        "valid": got["valid"],
        "rejected": got["read"] - got["valid"],
        "reasons": {r: got[f"reason:{r}"] for r in validation.reasons},
        "nulls": {c: got[f"null:{c}"] for c in validation.dataset.columns},
        "schema": validation.conformance.as_dict(),
        "skipped_checks": validation.skipped,
    }
    if validation.dataset.path in HIGH_VALUE_COLUMN:
        out["flagged_high_value"] = got["high_value"]
    return out


def write_outputs(ctx: JobContext, validation: Validation) -> tuple[dict[str, Any], str, str]:
    """Writes the valid rows (canonical schema and partitioning) and the rejected rows with their reasons; returns
    the counts, observed on every row while the curated write runs, and the two output paths."""
    dataset = validation.dataset
    curated, quarantine = _target("curated", dataset.path), _target("quarantine", dataset.path)
    metrics = summary_metrics(validation)
    names = list(metrics)
    observation = Observation(f"validate-{uuid.uuid4().hex}")
    observed = validation.rows.observe(observation, *[metrics[n].alias(f"m{i}") for i, n in enumerate(names)])
    # Written as read: scan tasks follow the raw files, which are already laid out by partition, so the curated
    # files mirror them without a shuffle.
    writer = observed.where(F.size("reasons") == 0).select(*dataset.columns).write.mode("overwrite")
    writer = writer.option("partitionOverwriteMode", "static")
    if dataset.partitioned_by:
        writer = writer.partitionBy(*dataset.partitioned_by)
    writer.parquet(ctx.uri(curated))
    values = observation.get
    counts = summarise(validation, {n: int(values.get(f"m{i}") or 0) for i, n in enumerate(names)})
    # Quarantine is small and read whole by stewards, so it is not partitioned; the partition column stays a column.
    rejected = validation.rows.where(F.size("reasons") > 0).select(*dataset.columns, "reasons")
    if not counts["rejected"]:
        # Nothing to quarantine, as the observation showed: an empty dataset replaces the last run's without a scan.
        rejected = ctx.spark.createDataFrame([], rejected.schema)
    rejected.write.mode("overwrite").option("partitionOverwriteMode", "static").parquet(ctx.uri(quarantine))
    return counts, curated, quarantine


def _assertions(
    validation: Validation, counts: dict[str, Any]
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    kinds = {c.reason: (c.kind, c.columns) for c in validation.checks}
    kinds[DUPLICATE] = ("unique", validation.dataset.primary_key)
    items = []
    for reason, count in counts["reasons"].items():
        kind, columns = kinds[reason]
        items.append(
            data_quality_assertions_dataset.Assertion(
                assertion=kind,
                success=count == 0,
                column=columns[0] if len(columns) == 1 else None,
                severity="error",
                name=reason,
                expected="0",
                actual=str(count),
            )
        )
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=items)


def _outputs(
    ctx: JobContext, validation: Validation, counts: dict[str, Any], curated: str, quarantine: str
) -> list[OutputDataset]:
    namespace, raw_name = ctx.pair(validation.dataset.path)
    mismatched = {m["column"]: m for m in validation.conformance.mismatched}
    columns: dict[str, list[ColumnSource]] = {}
    for name, source in validation.conformance.sources.items():
        if name in mismatched:
            change = mismatched[name]
            description = f"cast {change['actual']} to {change['expected']}"
            columns[name] = [
                ColumnSource(namespace, raw_name, source, subtype="TRANSFORMATION", description=description)
            ]
        else:
            columns[name] = [ColumnSource(namespace, raw_name, source)]
    sources = validation.conformance.sources
    judged = [(c.reason, c.columns, c.parent) for c in validation.checks]
    judged.append((DUPLICATE, validation.dataset.primary_key, None))
    checked: list[ColumnSource] = []
    for reason, read, parent in judged:
        checked += [
            ColumnSource(namespace, raw_name, sources[c], kind="INDIRECT", subtype="FILTER", description=reason)
            for c in read
            if c in sources
        ]
        if parent is not None:
            parent_ns, parent_name = ctx.pair(parent.parent)
            checked.append(
                ColumnSource(
                    parent_ns, parent_name, parent.parent_column, kind="INDIRECT", subtype="JOIN", description=reason
                )
            )
    curated_schema = validation.dataset.schema
    quarantine_schema = StructType([*curated_schema.fields, validation.rows.schema["reasons"]])
    outputs = []
    for path, schema, rows, mapping in (
        (curated, curated_schema, counts["valid"], columns),
        (quarantine, quarantine_schema, counts["rejected"], {**columns, "reasons": checked}),
    ):
        size, files = storage_size(ctx.spark, ctx.uri(path))
        out_ns, out_name = ctx.pair(path)
        outputs.append(output_dataset(out_ns, out_name, schema, rows=rows, size=size, files=files, columns=mapping))
    return outputs


def run(ctx: JobContext) -> JobResult:
    """Validates each chosen raw dataset and writes curated, quarantine and the summary."""
    chosen = parse_datasets(ctx.args.datasets)
    now: datetime = ctx.args.now or datetime.now(UTC)
    high_value = Decimal(ctx.args.high_value)
    needed = list(dict.fromkeys(chosen + [fk.parent for path in chosen for fk in FOREIGN_KEYS.get(path, ())]))
    # Every input is checked before anything is written, so a missing one fails the run without partial output.
    for path in needed:
        require(ctx.spark, ctx.uri(path), path)
    raws = {path: ctx.spark.read.parquet(ctx.uri(path)) for path in needed}

    report: dict[str, Any] = {}
    inputs: dict[str, InputDataset] = {}
    outputs: list[OutputDataset] = []
    for path in chosen:
        validation = check_dataset(raws[path], DATASETS[path], raws, now, high_value)
        try:
            counts, curated, quarantine = write_outputs(ctx, validation)
        finally:
            validation.release()
        counts |= {"curated": curated, "quarantine": quarantine}
        report[path] = counts
        size, files = storage_size(ctx.spark, ctx.uri(path))
        namespace, name = ctx.pair(path)
        inputs[path] = InputDataset(
            namespace=namespace,
            name=name,
            facets={"schema": schema_facet(validation.raw_schema)},
            inputFacets={
                "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=counts["read"], size=size, fileCount=files
                ),
                "dataQualityAssertions": _assertions(validation, counts),
            },
        )
        outputs += _outputs(ctx, validation, counts, curated, quarantine)
    for path in needed:
        if path not in inputs:
            namespace, name = ctx.pair(path)
            inputs[path] = InputDataset(
                namespace=namespace, name=name, facets={"schema": schema_facet(raws[path].schema)}
            )

    summary: dict[str, Any] = {
        "job": NAME,
        "run_id": ctx.lineage.run_id,
        "lake": ctx.lake,
        "now": now.isoformat(),
        "high_value_threshold": str(high_value),
        "datasets": report,
        "totals": {k: sum(d[k] for d in report.values()) for k in ("read", "valid", "rejected")},
    }
    write_text(ctx.spark, ctx.uri(SUMMARY_PATH), json.dumps(summary, indent=2, sort_keys=True))
    return JobResult(inputs=list(inputs.values()), outputs=outputs, summary=summary)


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
