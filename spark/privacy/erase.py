"""The erasure engine behind the ``dsr_erase`` job: deletes or anonymises the rows of many data subjects in one pass
per dataset, rewriting only the Parquet files that hold them, each atomically (see ``spark.privacy.rewrite``).

Public surface: ``load_plan`` (the plan document → ``ErasePlan``, or ``PlanError``) and ``erase`` (runs a plan).

Matching. A dataset rule maps columns to identity kinds (``{"customer_id": "customer_id", "email": "email"}``); a row
belongs to a subject when any such column equals one of the subject's values of that kind (emails lower-cased and
trimmed on both sides). The identities form a small (kind, value, subject) DataFrame that is broadcast; each row's key
columns are exploded into (kind, value) probes and joined with it, so one scan of a dataset serves every subject.
The scan also yields each matching row's file (``_metadata.file_path``, the same value as ``input_file_name()``) and
its position in the file (``_metadata.row_index``); only those files are read again and rewritten.

Idempotence. A re-run finds nothing to do: deleted rows are gone, and anonymised rows no longer match when a key
column is anonymised (hashed, masked…). When a rule keeps a key column as it is, the row still matches; it is then
skipped when every anonymised field already satisfies its strategy's post-condition (``nullify``: null; ``hash``: 64
lower-case hex digits; ``mask``: first and last character with ``*`` between, or only ``*`` up to two characters;
``postal_prefix``: at most 3 characters; ``year_only``: January 1 / the year's start). ``random`` has no checkable
post-condition, so a rule that keeps a key column must anonymise at least one field with another strategy. A raw
value that happens to look anonymised (a 64-hex string in a hashed column) is therefore left alone; that is the
documented price of not keeping a ledger of rewritten files in the lake.

Keyed hashing. ``hash`` is HMAC-SHA256 (hex) with the key read from the environment variable the plan names, applied
to the normalised value when the column is a key column (so pseudonyms of one email agree across datasets). It runs
as a Python UDF holding the key in its closure: a SQL expression would put key material (the HMAC pads) into the
query plan, which Spark shows in its UI and logs. The key is never logged or put in the summary.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DateType, StringType, StructType, TimestampType

from spark.paths import LakePathError, check_relative, dataset_uri
from spark.privacy.rewrite import Rewriter, local_path, rewriter_for

log = logging.getLogger(__name__)

ACTIONS = ("delete", "anonymise")
STRATEGIES = ("hash", "mask", "postal_prefix", "year_only", "random", "nullify")
STRING_STRATEGIES = ("hash", "mask", "postal_prefix", "random")
EMAIL_KIND = "email"
DEFAULT_HASH_KEY_ENV = "ECAP_DSR_HASH_KEY"
RAW, HASHED = "raw", "hashed"
_P = "__dsr_"  # prefix of working columns
FILE, ROW, SAT = f"{_P}file", f"{_P}row", f"{_P}satisfied"
RANDOM_ALPHABET = string.ascii_letters + string.digits


class PlanError(ValueError):
    """A plan that cannot be run: bad JSON, a missing or wrong field, a column or type the dataset lacks."""

    code = "invalid_plan"


@dataclass(frozen=True)
class Subject:
    """A data subject: its id (a UUID) and identity values per kind."""

    id: str
    keys: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class DatasetRule:
    """What to do to one dataset: its key columns (column → identity kind), the action and the field strategies."""

    dataset: str
    keys: Mapping[str, str]
    action: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class ErasePlan:
    """The subjects to erase, the rule per dataset and the environment variable holding the hash key."""

    subjects: tuple[Subject, ...]
    datasets: tuple[DatasetRule, ...]
    hash_key_env: str = DEFAULT_HASH_KEY_ENV

    @property
    def uses_hash(self) -> bool:
        return any(s == "hash" for rule in self.datasets for s in rule.fields.values())


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PlanError(message)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    _require(isinstance(items, list) and bool(items), f"{where} must be a non-empty list of strings")
    _require(all(isinstance(v, str) and v.strip() for v in items), f"{where} must hold non-empty strings")
    return tuple(items)


def _subject(item: Any, position: int) -> Subject:
    where = f"subjects[{position}]"
    _require(isinstance(item, dict), f"{where} must be an object")
    try:
        subject_id = str(uuid.UUID(str(item.get("id"))))
    except ValueError as exc:
        raise PlanError(f"{where}.id must be a UUID") from exc
    keys = item.get("keys")
    _require(isinstance(keys, dict) and bool(keys), f"{where}.keys must be a non-empty object")
    return Subject(id=subject_id, keys={kind: _strings(v, f"{where}.keys.{kind}") for kind, v in keys.items()})


def _rule(item: Any, position: int) -> DatasetRule:
    where = f"datasets[{position}]"
    _require(isinstance(item, dict), f"{where} must be an object")
    try:
        path = check_relative(str(item.get("dataset") or ""))
    except LakePathError as exc:
        raise PlanError(f"{where}.dataset: {exc}") from exc
    keys = item.get("keys")
    _require(
        isinstance(keys, dict) and bool(keys) and all(isinstance(v, str) and v for v in keys.values()),
        f"{where}.keys must map columns to identity kinds",
    )
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
        kept_key = any(column not in fields for column in keys)
        _require(
            not kept_key or any(s != "random" for s in fields.values()),
            f"{where}: a rule that keeps a key column needs a field with a checkable strategy (not only 'random'), "
            "or a re-run could not tell anonymised rows apart",
        )
    return DatasetRule(dataset=path, keys=dict(keys), action=str(action), fields=dict(fields))


def parse_plan(document: Any) -> ErasePlan:
    """A plan document (already decoded JSON) as an ``ErasePlan``; ``PlanError`` says what is wrong."""
    _require(isinstance(document, dict), "the plan must be a JSON object")
    subjects = document.get("subjects")
    _require(isinstance(subjects, list) and bool(subjects), "plan.subjects must be a non-empty list")
    datasets = document.get("datasets")
    _require(isinstance(datasets, list) and bool(datasets), "plan.datasets must be a non-empty list")
    env = document.get("hash_key_env", DEFAULT_HASH_KEY_ENV)
    _require(isinstance(env, str) and bool(env), "plan.hash_key_env must name an environment variable")
    parsed = tuple(_subject(item, i) for i, item in enumerate(subjects))
    _require(len({s.id for s in parsed}) == len(parsed), "subject ids must be unique")
    rules = tuple(_rule(item, i) for i, item in enumerate(datasets))
    paths = [r.dataset for r in rules]
    _require(len(set(paths)) == len(paths), "each dataset may appear once in plan.datasets")
    return ErasePlan(subjects=parsed, datasets=rules, hash_key_env=env)


def load_plan(text: str) -> ErasePlan:
    """``--plan``: inline JSON (starts with ``{``) or the path of a JSON file."""
    source = text.strip()
    if not source.startswith("{"):
        try:
            source = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise PlanError(f"cannot read the plan file {text!r}: {exc.strerror}") from exc
    try:
        document = json.loads(source)
    except json.JSONDecodeError as exc:
        raise PlanError(f"the plan is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return parse_plan(document)


def normalise_value(kind: str, value: str) -> str:
    return value.strip().lower() if kind == EMAIL_KIND else value


def normalise(kind: str, column: Column) -> Column:
    return F.lower(F.trim(column)) if kind == EMAIL_KIND else column


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _hash_udf(key: bytes) -> Callable[[Column], Column]:
    def digest(value: str | None) -> str | None:
        return None if value is None else keyed_hash(key, value)

    return F.udf(digest, StringType())


def _random_string(value: str | None) -> str | None:
    return None if value is None else "".join(secrets.choice(RANDOM_ALPHABET) for _ in value)


def strategy_column(strategy: str, column: Column, data_type: DataType, key: bytes | None, kind: str | None) -> Column:
    """The anonymised value of a column (same type); null stays null."""
    if strategy == "nullify":
        return F.lit(None).cast(data_type)
    if strategy == "hash":
        if key is None:
            raise PlanError("the hash strategy needs a key")
        return _hash_udf(key)(normalise(kind, column) if kind else column)
    if strategy == "mask":
        return F.when(F.length(column) <= 2, F.regexp_replace(column, "(?s).", "*")).otherwise(
            F.regexp_replace(column, "(?s)(?<=.).(?=.)", "*")
        )
    if strategy == "postal_prefix":
        return F.substring(column, 1, 3)
    if strategy == "year_only":
        return F.date_trunc("year", column) if isinstance(data_type, TimestampType) else F.trunc(column, "year")
    if strategy == "random":
        return F.udf(_random_string, StringType())(column)
    raise PlanError(f"unknown strategy {strategy}")


def satisfied(strategy: str, column: Column, data_type: DataType) -> Column | None:
    """True when a value already looks like the strategy's output; None for ``random`` (nothing to check)."""
    checks: dict[str, Column] = {
        "nullify": column.isNull(),
        "hash": column.rlike("^[0-9a-f]{64}$"),
        "mask": column.rlike(r"^(?s)(\*{1,2}|.\*+.)$"),
        "postal_prefix": F.length(column) <= 3,
    }
    if strategy == "year_only":
        start = F.date_trunc("year", column) if isinstance(data_type, TimestampType) else F.trunc(column, "year")
        return F.coalesce(column == start, F.lit(True))
    check = checks.get(strategy)
    return None if check is None else F.coalesce(check, F.lit(True))


def rule_satisfied(rule: DatasetRule, schema: StructType) -> Column:
    """True for a row whose anonymised fields all already satisfy their strategies (always false for a delete)."""
    if rule.action == "delete":
        return F.lit(False)
    conditions = [satisfied(s, F.col(c), schema[c].dataType) for c, s in rule.fields.items()]
    present = [c for c in conditions if c is not None]
    if not present:
        return F.lit(False)
    out = present[0]
    for condition in present[1:]:
        out = out & condition
    return out


def identities(spark: SparkSession, plan: ErasePlan, key: bytes | None) -> DataFrame:
    """The (kind, value, subject, form) table to broadcast: normalised raw values and, with a key, their hashes."""
    rows: set[tuple[str, str, str, str]] = set()
    for subject in plan.subjects:
        for kind, values in subject.keys.items():
            for value in values:
                normal = normalise_value(kind, value)
                rows.add((kind, normal, subject.id, RAW))
                if key is not None:
                    rows.add((kind, keyed_hash(key, normal), subject.id, HASHED))
    schema = "kind string, value string, subject string, form string"
    return spark.createDataFrame(sorted(rows), schema)


def probes(df: DataFrame, rule: DatasetRule) -> DataFrame:
    """(file, row, satisfied, kind, value) for every non-null key value of every row: one row per key column."""
    structs = [
        F.struct(F.lit(kind).alias("kind"), normalise(kind, F.col(column).cast("string")).alias("value"))
        for column, kind in rule.keys.items()
    ]
    return (
        df.select(
            F.col("_metadata.file_path").alias(FILE),
            F.col("_metadata.row_index").alias(ROW),
            rule_satisfied(rule, df.schema).alias(SAT),
            F.explode(F.array(*structs)).alias("probe"),
        )
        .select(FILE, ROW, SAT, "probe.kind", "probe.value")
        .where(F.col("value").isNotNull())
    )


@dataclass
class FileChange:
    """One replaced file: its path under the dataset, rows changed, and SHA-256 of its bytes before and after."""

    file: str
    rows: int
    sha256_before: str
    sha256_after: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "sha256_before": self.sha256_before,
            "sha256_after": self.sha256_after,
        }


@dataclass
class DatasetReport:
    """What erasure did to one dataset."""

    dataset: str
    action: str
    started_at: str = ""
    finished_at: str = ""
    rows_matched: dict[str, int] = field(default_factory=dict)
    rows_changed: int = 0
    rows_already_anonymised: int = 0
    files_total: int = 0
    files_rewritten: list[FileChange] = field(default_factory=list)
    leftovers_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        changed = "rows_deleted" if self.action == "delete" else "rows_anonymised"
        return {
            "dataset": self.dataset,
            "action": self.action,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "rows_matched": self.rows_matched,
            "rows_matched_total": sum(self.rows_matched.values()),
            changed: self.rows_changed,
            "rows_already_anonymised": self.rows_already_anonymised,
            "files_total": self.files_total,
            "files_rewritten": [f.as_dict() for f in self.files_rewritten],
            "files_rewritten_count": len(self.files_rewritten),
            "files_untouched": self.files_total - len(self.files_rewritten),
            "leftovers_removed": self.leftovers_removed,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _relative(file_uri: str, root_uri: str) -> str:
    return str(local_path(file_uri).relative_to(local_path(root_uri)))


def check_columns(rule: DatasetRule, df: DataFrame, partitions: set[str]) -> None:
    """Refuse a rule naming columns the dataset lacks, anonymising a partition column, or a strategy of a wrong type."""
    schema = {f.name: f.dataType for f in df.schema.fields}
    missing = [c for c in [*rule.keys, *rule.fields] if c not in schema]
    _require(not missing, f"{rule.dataset} has no columns {missing}")
    _require(
        not partitions & set(rule.fields), f"{rule.dataset}: cannot anonymise partition columns {sorted(partitions)}"
    )
    for column, strategy in rule.fields.items():
        data_type = schema[column]
        if strategy in STRING_STRATEGIES:
            _require(isinstance(data_type, StringType), f"{rule.dataset}.{column}: {strategy} needs a string column")
        if strategy == "year_only":
            _require(
                isinstance(data_type, DateType | TimestampType),
                f"{rule.dataset}.{column}: year_only needs a date or timestamp column",
            )


def open_dataset(spark: SparkSession, lake: str, rule: DatasetRule) -> tuple[DataFrame, list[str]]:
    """The dataset and its data files, after checking the rule against its columns."""
    df = spark.read.parquet(dataset_uri(lake, rule.dataset))
    files = df.inputFiles()
    partitions = set(df.columns) - set(spark.read.parquet(files[0]).columns) if files else set()
    check_columns(rule, df, partitions)
    return df, files


def rewrite_file(
    spark: SparkSession,
    file_uri: str,
    rule: DatasetRule,
    rows: list[int],
    key: bytes | None,
    staged_uri: str,
) -> None:
    """Write the replacement of one Parquet file (its rows in order, the chosen rows deleted or anonymised)."""
    df = spark.read.parquet(file_uri)  # the file's own columns: partition values stay in the path
    chosen = F.col("_metadata.row_index").isin(rows)
    if rule.action == "delete":
        out = df.where(~chosen)
    else:
        types = {f.name: f.dataType for f in df.schema.fields}
        out = df.select(
            *[
                F.when(chosen, strategy_column(rule.fields[c], F.col(c), types[c], key, rule.keys.get(c)))
                .otherwise(F.col(c))
                .alias(c)
                if c in rule.fields
                else F.col(c)
                for c in df.columns
            ]
        )
    out.coalesce(1).write.mode("errorifexists").parquet(staged_uri)


def erase_dataset(
    spark: SparkSession,
    lake: str,
    rule: DatasetRule,
    ids: DataFrame,
    key: bytes | None,
    run_token: str,
    rewriter: Rewriter | None = None,
) -> DatasetReport:
    """Find the files holding the plan's subjects in one scan, then rewrite each of them atomically."""
    report = DatasetReport(dataset=rule.dataset, action=rule.action, started_at=_now())
    uri = dataset_uri(lake, rule.dataset)
    rewriter = rewriter or rewriter_for(uri)
    report.leftovers_removed = rewriter.sweep(uri)
    df, files = open_dataset(spark, lake, rule)
    report.files_total = len(files)

    hits = (
        probes(df, rule)
        .join(F.broadcast(ids.where(F.col("form") == RAW)), ["kind", "value"])
        .select(FILE, ROW, SAT, "subject")
        .distinct()
        .cache()
    )
    try:
        report.rows_matched = {r["subject"]: r["count"] for r in hits.groupBy("subject").count().collect()}
        per_row = hits.select(FILE, ROW, SAT).distinct()
        report.rows_already_anonymised = per_row.where(F.col(SAT)).count()
        pending = {
            r[FILE]: sorted(r["rows"])
            for r in per_row.where(~F.col(SAT)).groupBy(FILE).agg(F.collect_list(ROW).alias("rows")).collect()
        }
    finally:
        hits.unpersist()

    if pending:
        staging = rewriter.staging(uri, run_token)
        try:
            for position, (file_uri, rows) in enumerate(sorted(pending.items())):
                relative = _relative(file_uri, uri)
                before = rewriter.checksum(file_uri)
                staged = f"{staging}/{position}"
                rewrite_file(spark, file_uri, rule, rows, key, staged)
                rewriter.commit(staged, file_uri)
                after = rewriter.checksum(file_uri)
                report.files_rewritten.append(FileChange(relative, len(rows), before, after))
                report.rows_changed += len(rows)
                log.info("dsr_erase %s: %s %d rows in %s", rule.dataset, rule.action, len(rows), relative)
        finally:
            rewriter.discard(staging)
        spark.catalog.refreshByPath(uri)
    report.finished_at = _now()
    return report


def verify_dataset(spark: SparkSession, lake: str, rule: DatasetRule, ids: DataFrame) -> dict[str, Any]:
    """Rows still matching a subject's raw identity values, or (with a key) their keyed hashes, and rows pending."""
    df = spark.read.parquet(dataset_uri(lake, rule.dataset))
    counts = (
        probes(df, rule)
        .join(F.broadcast(ids), ["kind", "value"])
        .select(FILE, ROW, SAT, "form")
        .distinct()
        .groupBy("form", SAT)
        .count()
        .collect()
    )
    raw = sum(r["count"] for r in counts if r["form"] == RAW)
    pending = sum(r["count"] for r in counts if r["form"] == RAW and not r[SAT])
    hashed = sum(r["count"] for r in counts if r["form"] == HASHED)
    has_hashes = ids.where(F.col("form") == HASHED).limit(1).count() > 0
    return {
        "raw_matches": raw,
        "hashed_matches": hashed if has_hashes else None,
        "pending": pending,
        "verified": pending == 0 and (rule.action == "anonymise" or hashed == 0),
    }


@dataclass
class EraseReport:
    """The outcome of a whole plan: one report per dataset and the verification scan."""

    started_at: str
    finished_at: str
    datasets: list[DatasetReport]
    verification: dict[str, dict[str, Any]]


def erase(
    spark: SparkSession,
    lake: str,
    plan: ErasePlan,
    key: bytes | None,
    run_token: str,
    rewriter: Rewriter | None = None,
) -> EraseReport:
    """Apply a plan to every dataset it names, then scan each for what is left of the subjects."""
    if plan.uses_hash and not key:
        raise PlanError(f"the plan hashes values but the environment variable {plan.hash_key_env} is not set")
    started = _now()
    for rule in plan.datasets:  # every rule is checked before anything is written
        open_dataset(spark, lake, rule)
    ids = identities(spark, plan, key).cache()
    try:
        reports = [erase_dataset(spark, lake, rule, ids, key, run_token, rewriter) for rule in plan.datasets]
        verification = {rule.dataset: verify_dataset(spark, lake, rule, ids) for rule in plan.datasets}
    finally:
        ids.unpersist()
    return EraseReport(started_at=started, finished_at=_now(), datasets=reports, verification=verification)
