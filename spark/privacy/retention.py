"""The retention engine behind the ``retention`` job: deletes or anonymises the rows of lake datasets that are older
than a policy's cut-off, rewriting only the Parquet files that hold them, each atomically, and removing the files none
of whose rows stays.

Public surface: ``load_policy`` (the policy document → ``RetentionPolicy``, or ``RetentionPolicyError``) and
``apply_retention`` (runs a policy, or with ``dry_run`` only counts what it would do).

Expiry. A row expires when its time column is before the rule's ``older_than`` (an ISO 8601 date-time with a UTC
offset). A date column expires by whole days: a day expires when it is before the cut-off's date in UTC, i.e. when it
has ended by the cut-off. A null time never expires. When the time column is a partition column (``event_date``),
Spark lists and reads only the expired partitions.

Files. One aggregating scan per dataset gives, for every file holding expired rows, its row count, its expired rows,
those still pending (every expired row for a delete; for an anonymise, those whose fields do not yet all satisfy their
strategies' post-conditions, as in ``spark.privacy.erase``), its size and the oldest and newest pending time. A delete
removes each file whose rows all expire (``Rewriter.remove``) and rewrites each other file holding expired rows without
them; an anonymise rewrites each file holding pending rows with those rows anonymised, by the erase engine's strategies
(``hash`` keyed by the environment variable ``hash_key_env``, never logged). Files without pending rows are not
touched. A verification scan counts expired rows still pending afterwards; it must be 0.

Idempotence. A re-run finds nothing pending: deleted rows are gone and anonymised rows satisfy their strategies. So an
anonymise needs one strategy with a checkable post-condition (not only ``random``), and may not touch the time column.

A dry run is the scan alone: nothing is swept, written or removed.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DateType, StructType, TimestampType

from spark.paths import LakePathError, check_relative, dataset_uri
from spark.privacy.erase import (
    DEFAULT_HASH_KEY_ENV,
    STRATEGIES,
    DatasetRule,
    FileChange,
    PlanError,
    check_columns,
    fields_satisfied,
    partition_columns,
    replace_file,
    replacement,
)
from spark.privacy.rewrite import Rewriter, relative_path, rewriter_for

log = logging.getLogger(__name__)

ACTIONS = ("delete", "anonymise")
_P = "__retention_"  # prefix of working columns
FILE, SIZE, EXPIRED, PENDING, TIME = f"{_P}file", f"{_P}size", f"{_P}expired", f"{_P}pending", f"{_P}time"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RetentionPolicyError(ValueError):
    """A policy that cannot be run: bad JSON, a missing or wrong field, a column or type the dataset lacks."""

    code = "invalid_retention_policy"


@dataclass(frozen=True)
class RetentionRule:
    """How long one dataset keeps its rows: the time column, the cut-off, and what happens to older rows."""

    dataset: str
    time_column: str
    older_than: datetime
    action: str
    fields: Mapping[str, str]

    @property
    def as_erase_rule(self) -> DatasetRule:
        """The same action in the erase engine's terms, to share its column checks and strategies."""
        return DatasetRule(dataset=self.dataset, keys={}, action=self.action, fields=self.fields)


@dataclass(frozen=True)
class RetentionPolicy:
    """The retention rule per dataset and the environment variable holding the hash key."""

    datasets: tuple[RetentionRule, ...]
    hash_key_env: str = DEFAULT_HASH_KEY_ENV

    @property
    def uses_hash(self) -> bool:
        return any(s == "hash" for rule in self.datasets for s in rule.fields.values())


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RetentionPolicyError(message)


def _cutoff(value: Any, where: str) -> datetime:
    message = f"{where} must be an ISO 8601 date-time with a UTC offset (2025-11-07T00:00:00+00:00)"
    _require(isinstance(value, str), message)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RetentionPolicyError(message) from exc
    _require(parsed.tzinfo is not None and parsed.utcoffset() is not None, message)
    return parsed.astimezone(UTC)


def _rule(item: Any, position: int) -> RetentionRule:
    where = f"datasets[{position}]"
    _require(isinstance(item, dict), f"{where} must be an object")
    try:
        path = check_relative(str(item.get("dataset") or ""))
    except LakePathError as exc:
        raise RetentionPolicyError(f"{where}.dataset: {exc}") from exc
    time_column = item.get("time_column")
    _require(isinstance(time_column, str) and bool(time_column), f"{where}.time_column must name a column")
    older_than = _cutoff(item.get("older_than"), f"{where}.older_than")
    action = item.get("action")
    _require(action in ACTIONS, f"{where}.action must be one of {', '.join(ACTIONS)}")
    fields = item.get("fields") or {}
    _require(isinstance(fields, dict), f"{where}.fields must be an object")
    if action == "delete":
        _require(not fields, f"{where}: a delete takes no fields")
    else:
        _require(bool(fields), f"{where}: an anonymise needs fields")
        bad = {c: s for c, s in fields.items() if s not in STRATEGIES}
        _require(not bad, f"{where}.fields: unknown strategies {bad}; choose from {', '.join(STRATEGIES)}")
        _require(
            any(s != "random" for s in fields.values()),
            f"{where}.fields: an anonymise needs a field with a checkable strategy (not only 'random'), "
            "or a re-run could not tell anonymised rows apart",
        )
        _require(time_column not in fields, f"{where}.fields: cannot anonymise the time column {time_column!r}")
    return RetentionRule(
        dataset=path, time_column=time_column, older_than=older_than, action=str(action), fields=dict(fields)
    )


def parse_policy(document: Any) -> RetentionPolicy:
    """A policy document (decoded JSON) as a ``RetentionPolicy``; ``RetentionPolicyError`` says what is wrong."""
    _require(isinstance(document, dict), "the policy must be a JSON object")
    datasets = document.get("datasets")
    _require(isinstance(datasets, list) and bool(datasets), "policy.datasets must be a non-empty list")
    env = document.get("hash_key_env", DEFAULT_HASH_KEY_ENV)
    _require(isinstance(env, str) and bool(env), "policy.hash_key_env must name an environment variable")
    rules = tuple(_rule(item, i) for i, item in enumerate(datasets))
    paths = [r.dataset for r in rules]
    _require(len(set(paths)) == len(paths), "each dataset may appear once in policy.datasets")
    return RetentionPolicy(datasets=rules, hash_key_env=env)


def load_policy(text: str) -> RetentionPolicy:
    """``--policy``: inline JSON (starts with ``{``) or the path of a JSON file."""
    source = text.strip()
    if not source.startswith("{"):
        try:
            source = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise RetentionPolicyError(f"cannot read the policy file {text!r}: {exc.strerror}") from exc
    try:
        document = json.loads(source)
    except json.JSONDecodeError as exc:
        raise RetentionPolicyError(
            f"the policy is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return parse_policy(document)


@dataclass
class FileRemoval:
    """One removed file: its path under the dataset, its rows, and the SHA-256 of its bytes before."""

    file: str
    rows: int
    sha256_before: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "sha256_before": self.sha256_before}


@dataclass(frozen=True)
class FileExpiry:
    """What the scan found in one file holding expired rows."""

    uri: str
    rows: int
    expired: int
    pending: int
    size: int
    oldest: Any
    newest: Any

    @property
    def fully_expired(self) -> bool:
        return self.rows == self.expired


@dataclass
class DatasetRetention:
    """What retention found in, and did to, one dataset."""

    rule: RetentionRule
    dry_run: bool
    started_at: str = ""
    finished_at: str = ""
    files_total: int = 0
    rows_expired: int = 0
    rows_pending: int = 0
    files_affected: int = 0
    files_fully_expired: int = 0
    bytes_affected: int = 0
    oldest_expiring: str | None = None
    newest_expiring: str | None = None
    rows_deleted: int = 0
    rows_anonymised: int = 0
    files_rewritten: list[FileChange] = field(default_factory=list)
    files_removed: list[FileRemoval] = field(default_factory=list)
    leftovers_removed: int = 0
    verification: dict[str, Any] | None = None
    schema: StructType | None = None  # as read before the run (every file of a dataset may be gone after it)

    def as_dict(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "dataset": rule.dataset,
            "action": rule.action,
            "time_column": rule.time_column,
            "older_than": rule.older_than.isoformat(),
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "rows_expired": self.rows_expired,
            "rows_pending": self.rows_pending,
            "rows_already_anonymised": self.rows_expired - self.rows_pending if rule.action == "anonymise" else 0,
            "rows_deleted": self.rows_deleted,
            "rows_anonymised": self.rows_anonymised,
            "files_total": self.files_total,
            "files_affected": self.files_affected,
            "files_fully_expired": self.files_fully_expired,
            "bytes_affected": self.bytes_affected,
            "oldest_expiring": self.oldest_expiring,
            "newest_expiring": self.newest_expiring,
            "files_rewritten": [f.as_dict() for f in self.files_rewritten],
            "files_rewritten_count": len(self.files_rewritten),
            "files_removed": [f.as_dict() for f in self.files_removed],
            "files_removed_count": len(self.files_removed),
            "files_untouched": self.files_total - len(self.files_rewritten) - len(self.files_removed),
            "leftovers_removed": self.leftovers_removed,
            "verification": self.verification,
        }


@dataclass
class RetentionReport:
    """The outcome of a whole policy: one report per dataset."""

    dry_run: bool
    started_at: str
    finished_at: str
    datasets: list[DatasetRetention]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def expired(rule: RetentionRule, data_type: DataType) -> Column:
    """True for a row older than the cut-off; null (never expired) for a null time."""
    column = F.col(rule.time_column)
    if isinstance(data_type, DateType):
        return column < F.lit(rule.older_than.date())
    return column < F.lit(rule.older_than)


def pending(rule: RetentionRule, schema: StructType, is_expired: Column) -> Column:
    """True for an expired row this policy still has to act on."""
    if rule.action == "delete":
        return is_expired
    return is_expired & ~fields_satisfied(rule.fields, schema)


def _time_key(data_type: DataType) -> Column:
    """The time column as something that comes back to Python without a time zone: microseconds or the date."""
    return F.unix_micros(F.col(TIME)) if isinstance(data_type, TimestampType) else F.col(TIME)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return (EPOCH + timedelta(microseconds=int(value))).isoformat()


@dataclass(frozen=True)
class OpenDataset:
    """A dataset checked against its rule: the frame, its files, partition columns and the time column's type."""

    frame: DataFrame
    files: list[str]
    partitions: set[str]
    time_type: DataType

    @property
    def schema(self) -> StructType:
        return self.frame.schema


def open_dataset(spark: SparkSession, lake: str, rule: RetentionRule, position: int) -> OpenDataset:
    """The dataset and its data files, after checking the rule against its columns."""
    where = f"datasets[{position}]"
    df = spark.read.parquet(dataset_uri(lake, rule.dataset))
    files = df.inputFiles()
    partitions = partition_columns(spark, df, files)
    types = {f.name: f.dataType for f in df.schema.fields}
    _require(rule.time_column in types, f"{where}.time_column: {rule.dataset} has no column {rule.time_column!r}")
    time_type = types[rule.time_column]
    _require(
        isinstance(time_type, DateType | TimestampType),
        f"{where}.time_column: {rule.dataset}.{rule.time_column} is a {time_type.simpleString()} column, "
        "not a date or timestamp column",
    )
    try:
        check_columns(rule.as_erase_rule, df, partitions)
    except PlanError as exc:
        raise RetentionPolicyError(f"{where}.fields: {exc}") from exc
    return OpenDataset(frame=df, files=files, partitions=partitions, time_type=time_type)


def scan(rule: RetentionRule, data: OpenDataset) -> list[FileExpiry]:
    """Every file holding expired rows, with its counts, in one aggregation (only expired partitions when the time
    column is a partition column)."""
    df = data.frame
    is_expired = expired(rule, data.time_type)
    if rule.time_column in data.partitions:
        df = df.where(is_expired)
    per_file = (
        df.select(
            F.col("_metadata.file_path").alias(FILE),
            F.col("_metadata.file_size").alias(SIZE),
            F.coalesce(is_expired, F.lit(False)).alias(EXPIRED),
            F.coalesce(pending(rule, data.schema, is_expired), F.lit(False)).alias(PENDING),
            F.col(rule.time_column).alias(TIME),
        )
        .groupBy(FILE)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(F.when(F.col(EXPIRED), 1)).alias("expired"),
            F.count(F.when(F.col(PENDING), 1)).alias("pending"),
            F.max(SIZE).alias("size"),
            F.min(F.when(F.col(PENDING), _time_key(data.time_type))).alias("oldest"),
            F.max(F.when(F.col(PENDING), _time_key(data.time_type))).alias("newest"),
        )
        .where(F.col("expired") > 0)
    )
    return sorted(
        (
            FileExpiry(r[FILE], r["rows"], r["expired"], r["pending"], r["size"], r["oldest"], r["newest"])
            for r in per_file.collect()
        ),
        key=lambda f: f.uri,
    )


def rewrite_file(
    spark: SparkSession, rule: RetentionRule, data: OpenDataset, key: bytes | None, file_uri: str, staged_uri: str
) -> None:
    """Write the replacement of one Parquet file: its rows in order, the pending ones deleted or anonymised."""
    df = spark.read.parquet(file_uri)  # the file's own columns: partition values stay in the path
    # A partition time column is not in the file; every row of the file then has the same, expired, time.
    is_expired = F.lit(True) if rule.time_column in data.partitions else expired(rule, data.time_type)
    chosen = pending(rule, df.schema, is_expired)
    out = replacement(df, rule.action, rule.fields, chosen, key)
    out.coalesce(1).write.mode("errorifexists").parquet(staged_uri)


def verify(spark: SparkSession, lake: str, rule: RetentionRule, data: OpenDataset) -> dict[str, Any]:
    """Expired rows still pending after the run (reading with the known schema: every file may be gone)."""
    df = spark.read.schema(data.schema).parquet(dataset_uri(lake, rule.dataset))
    left = df.where(pending(rule, data.schema, expired(rule, data.time_type))).count()
    return {"pending": left, "verified": left == 0}


def retain_dataset(
    spark: SparkSession,
    lake: str,
    rule: RetentionRule,
    position: int,
    key: bytes | None,
    run_token: str,
    dry_run: bool,
    rewriter: Rewriter | None = None,
) -> DatasetRetention:
    """Scan one dataset for expired rows; unless a dry run, remove or rewrite the files holding them and verify."""
    report = DatasetRetention(rule=rule, dry_run=dry_run, started_at=_now())
    uri = dataset_uri(lake, rule.dataset)
    rewriter = rewriter or rewriter_for(uri)
    if not dry_run:
        report.leftovers_removed = rewriter.sweep(uri)
    data = open_dataset(spark, lake, rule, position)
    report.schema = data.schema
    report.files_total = len(data.files)
    found = scan(rule, data)
    affected = [f for f in found if f.pending]
    report.rows_expired = sum(f.expired for f in found)
    report.rows_pending = sum(f.pending for f in found)
    report.files_affected = len(affected)
    report.files_fully_expired = sum(1 for f in affected if f.fully_expired)
    report.bytes_affected = sum(f.size for f in affected)
    report.oldest_expiring = _iso(min((f.oldest for f in affected), default=None))
    report.newest_expiring = _iso(max((f.newest for f in affected), default=None))
    if dry_run or not affected:
        report.verification = None if dry_run else {"pending": 0, "verified": True}
        report.finished_at = _now()
        return report

    removals = [f for f in affected if rule.action == "delete" and f.fully_expired]
    rewrites = [f for f in affected if f not in removals]
    for expiry in removals:
        before = rewriter.checksum(expiry.uri)
        rewriter.remove(expiry.uri)
        removal = FileRemoval(relative_path(expiry.uri, uri), expiry.rows, before)
        report.files_removed.append(removal)
        report.rows_deleted += expiry.rows
        log.info("retention %s: removed %s (%d rows)", rule.dataset, removal.file, expiry.rows)
    if rewrites:
        staging = rewriter.staging(uri, run_token)
        try:
            for number, expiry in enumerate(rewrites):
                write = functools.partial(rewrite_file, spark, rule, data, key, expiry.uri)
                change = replace_file(rewriter, uri, expiry.uri, f"{staging}/{number}", expiry.pending, write)
                report.files_rewritten.append(change)
                if rule.action == "delete":
                    report.rows_deleted += change.rows
                else:
                    report.rows_anonymised += change.rows
                log.info("retention %s: %s %d rows in %s", rule.dataset, rule.action, change.rows, change.file)
        finally:
            rewriter.discard(staging)
    spark.catalog.refreshByPath(uri)
    report.verification = verify(spark, lake, rule, data)
    report.finished_at = _now()
    return report


def apply_retention(
    spark: SparkSession,
    lake: str,
    policy: RetentionPolicy,
    key: bytes | None,
    run_token: str,
    *,
    dry_run: bool = False,
    rewriter: Rewriter | None = None,
) -> RetentionReport:
    """Apply (or with ``dry_run`` only count) a policy on every dataset it names, each checked before any is written."""
    if policy.uses_hash and not key and not dry_run:
        raise RetentionPolicyError(
            f"the policy hashes values but the environment variable {policy.hash_key_env} is not set"
        )
    started = _now()
    for position, rule in enumerate(policy.datasets):
        open_dataset(spark, lake, rule, position)
    reports = [
        retain_dataset(spark, lake, rule, position, key, run_token, dry_run, rewriter)
        for position, rule in enumerate(policy.datasets)
    ]
    return RetentionReport(dry_run=dry_run, started_at=started, finished_at=_now(), datasets=reports)
