"""The erasure engine behind the ``dsr_erase`` job: deletes, anonymises or rectifies the rows of many data subjects in
one pass per dataset, rewriting only the Parquet files that hold them, each atomically (see ``spark.privacy.rewrite``).

Public surface: ``load_plan`` (the plan document → ``ErasePlan``, or ``PlanError``) and ``erase`` (runs a plan). The
retention engine shares the column checks, strategies and file replacement (``check_columns``, ``fields_satisfied``,
``replacement``, ``replace_file``).

Matching. A dataset rule maps columns to identity kinds (``{"customer_id": "customer_id", "email": "email"}``); a row
belongs to a subject when any such column equals one of the subject's values of that kind (emails lower-cased and
trimmed on both sides). The identities form a small (kind, value, subject) DataFrame that is broadcast; each row's key
columns are exploded into (kind, value) probes and joined with it, so one scan of a dataset serves every subject.
The scan also yields each matching row's file (``_metadata.file_path``, the same value as ``input_file_name()``) and
its position in the file (``_metadata.row_index``); only those files are read again and rewritten.

Identity resolution. A subject is often known by one identity (an email) while a dataset finds people by another
(``raw/orders`` only has ``customer_id``). So before anything is written, ``resolve`` runs over every rule whose keys
map columns to two or more identity kinds (``raw/customers``: ``customer_id`` and ``email``): the rows matching a
subject (the same probes and broadcast join, raw form) give the values of their key columns as further identities
of that subject, normalised as the plan's values are (emails trimmed and lower-cased); nulls and empty values are
ignored, and so is a value of a column the rule anonymises once it already looks anonymised (the row satisfies the
rule, or the value its strategy's post-condition): a pseudonym is not an identity. Each round matches only the
values the previous one found, until nothing new turns up, at most ``RESOLUTION_ROUNDS`` rounds, so identities flow
across datasets (an email finds a customer id, which finds another dataset's account number). The expanded identity
set serves everything that follows: matching, rewriting, the keyed-hash forms and the verification scan, which
therefore also looks for the resolved values (the subject's customer id in ``raw/orders`` after erasure). A value
found for one subject that also belongs to another subject of the plan is kept for both (both are erased). More than
``max_resolved`` (default ``DEFAULT_MAX_RESOLVED``) values of one kind resolved for one subject is a ``PlanError``
naming the subject and the kind, never a value: it means a key column is not a personal identifier (a country, a
shared household phone) and would drag other people's rows into the request. The job summaries carry the number of
values added per subject and kind; the values themselves are neither logged nor reported.

Re-runs and resolution. Resolution reads the lake as it is: once a run has deleted or pseudonymised the rows that
linked a subject's identities (its ``raw/customers`` row), a re-run finds nothing more to resolve and so does not
look for the linked values any more. A re-run therefore relies on the first run having been complete; that run's
verification scan covered the resolved values. Rules that resolve identities are applied after the other rules
(reports keep the plan's order), so a run that stops on one of the other datasets leaves the linking rows for the
re-run to resolve again. A plan may always list values already known (the portal may add them); they are matched
as any other, by a first run and a re-run alike.

Idempotence. A re-run finds nothing to do: deleted rows are gone, and anonymised rows no longer match when a key
column is anonymised (hashed, masked…). When a rule keeps a key column as it is, the row still matches; it is then
skipped when every anonymised field already satisfies its strategy's post-condition (``nullify``: null; ``hash``: 64
lower-case hex digits; ``mask``: first and last character with ``*`` between, or only ``*`` up to two characters;
``postal_prefix``: at most 3 characters; ``year_only``: January 1 / the year's start). ``random`` has no checkable
post-condition, so a rule that keeps a key column must anonymise at least one field with another strategy. A raw
value that happens to look anonymised (a 64-hex string in a hashed column) is therefore left alone; that is the
documented price of not keeping a ledger of rewritten files in the lake.

Rectification. An ``update`` rule gives, per subject id, new values for some columns as strings
(``"updates": {"<uuid>": {"email": "new@example.com"}}``); each is cast to its column's type when the plan is checked
(a value that does not cast, a column the dataset lacks, a partition or key column, or a subject the plan does not
list is a ``PlanError``, which names the subject and column but never the value). The new values travel as a small
broadcast table joined to the matched rows, never as literals in a query plan. A matched row is pending while any of
its subject's columns differs from the new value (null-safe), so a re-run finds nothing to do. A row matched by two
subjects of one update is refused when that dataset is scanned, before any of its files is written, as the plan cannot
say whose values win. The verification of an update counts pending rows only: the subject's rows are meant to stay.

Keyed hashing. ``hash`` is HMAC-SHA256 (hex) with the key read from the environment variable the plan names, applied
to the normalised value when the column is a key column (so pseudonyms of one email agree across datasets). It runs
as a Python UDF holding the key in its closure: a SQL expression would put key material (the HMAC pads) into the
query plan, which Spark shows in its UI and logs. The key is never logged or put in the summary.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import operator
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
from pyspark.sql.types import ArrayType, DataType, DateType, MapType, StringType, StructType, TimestampType

from spark.paths import LakePathError, check_relative, dataset_uri
from spark.privacy.rewrite import Rewriter, relative_path, rewriter_for

log = logging.getLogger(__name__)

ACTIONS = ("delete", "anonymise", "update")
STRATEGIES = ("hash", "mask", "postal_prefix", "year_only", "random", "nullify")
STRING_STRATEGIES = ("hash", "mask", "postal_prefix", "random")
EMAIL_KIND = "email"
DEFAULT_HASH_KEY_ENV = "ECAP_DSR_HASH_KEY"
RAW, HASHED = "raw", "hashed"
_P = "__dsr_"  # prefix of working columns
FILE, ROW, SAT = f"{_P}file", f"{_P}row", f"{_P}satisfied"
SUBJECT = "subject"
RANDOM_ALPHABET = string.ascii_letters + string.digits
DEFAULT_MAX_RESOLVED = 100
RESOLUTION_ROUNDS = 3
FOUND = f"{_P}found"


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
    """What to do to one dataset: its key columns (column → identity kind), the action, the field strategies of an
    anonymise and the new values (subject id → column → value as a string) of an update."""

    dataset: str
    keys: Mapping[str, str]
    action: str
    fields: Mapping[str, str]
    updates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def updated_columns(self) -> tuple[str, ...]:
        return tuple(sorted({column for values in self.updates.values() for column in values}))


@dataclass(frozen=True)
class ErasePlan:
    """The subjects to erase, the rule per dataset and the environment variable holding the hash key."""

    subjects: tuple[Subject, ...]
    datasets: tuple[DatasetRule, ...]
    hash_key_env: str = DEFAULT_HASH_KEY_ENV

    @property
    def uses_hash(self) -> bool:
        return any(s == "hash" for rule in self.datasets for s in rule.fields.values())


def plan_require(condition: bool, message: str) -> None:
    """Raise ``PlanError(message)`` unless ``condition`` holds (shared by the export engine's plan checks)."""
    if not condition:
        raise PlanError(message)


_require = plan_require


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    _require(isinstance(items, list) and bool(items), f"{where} must be a non-empty list of strings")
    _require(all(isinstance(v, str) and v.strip() for v in items), f"{where} must hold non-empty strings")
    return tuple(items)


def subject_parse(item: Any, position: int) -> Subject:
    """``subjects[position]`` of a plan document as a ``Subject`` (shared by the export engine)."""
    where = f"subjects[{position}]"
    _require(isinstance(item, dict), f"{where} must be an object")
    try:
        subject_id = str(uuid.UUID(str(item.get("id"))))
    except ValueError as exc:
        raise PlanError(f"{where}.id must be a UUID") from exc
    keys = item.get("keys")
    _require(isinstance(keys, dict) and bool(keys), f"{where}.keys must be a non-empty object")
    _require(all(kind.strip() for kind in keys), f"{where}.keys must name identity kinds")
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
    updates = item.get("updates") or {}
    _require(isinstance(updates, dict), f"{where}.updates must be an object")
    _require(action == "update" or not updates, f"{where}: only an update takes updates")
    if action == "delete":
        _require(not fields, f"{where}: a delete takes no fields")
    elif action == "update":
        _require(not fields, f"{where}: an update takes updates, not fields")
        _require(bool(updates), f"{where}: an update needs updates")
        return DatasetRule(
            dataset=path, keys=dict(keys), action="update", fields={}, updates=_updates(updates, keys, where)
        )
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


def _updates(updates: dict[Any, Any], keys: Mapping[str, str], where: str) -> dict[str, dict[str, str]]:
    """An update's new values per subject id; the values themselves never go into a message."""
    parsed: dict[str, dict[str, str]] = {}
    for raw_id, values in updates.items():
        try:
            subject_id = str(uuid.UUID(str(raw_id)))
        except ValueError as exc:
            raise PlanError(f"{where}.updates: the keys must be subject UUIDs") from exc
        at = f"{where}.updates.{subject_id}"
        _require(subject_id not in parsed, f"{at} is given twice")
        _require(isinstance(values, dict) and bool(values), f"{at} must map columns to new values")
        _require(all(isinstance(c, str) and c for c in values), f"{at}: column names must be non-empty strings")
        not_strings = sorted(c for c, v in values.items() if not isinstance(v, str))
        _require(not not_strings, f"{at}: the new values of {not_strings} must be strings")
        kept = sorted(set(values) & set(keys))
        _require(not kept, f"{at}: cannot update key columns {kept}")
        parsed[subject_id] = dict(values)
    return parsed


def parse_plan(document: Any) -> ErasePlan:
    """A plan document (already decoded JSON) as an ``ErasePlan``; ``PlanError`` says what is wrong."""
    _require(isinstance(document, dict), "the plan must be a JSON object")
    subjects = document.get("subjects")
    _require(isinstance(subjects, list) and bool(subjects), "plan.subjects must be a non-empty list")
    datasets = document.get("datasets")
    _require(isinstance(datasets, list) and bool(datasets), "plan.datasets must be a non-empty list")
    env = document.get("hash_key_env", DEFAULT_HASH_KEY_ENV)
    _require(isinstance(env, str) and bool(env), "plan.hash_key_env must name an environment variable")
    parsed = tuple(subject_parse(item, i) for i, item in enumerate(subjects))
    _require(len({s.id for s in parsed}) == len(parsed), "subject ids must be unique")
    rules = tuple(_rule(item, i) for i, item in enumerate(datasets))
    known = {s.id for s in parsed}
    for position, rule in enumerate(rules):
        unknown = sorted(set(rule.updates) - known)
        _require(not unknown, f"datasets[{position}].updates: subjects {unknown} are not in plan.subjects")
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


def fields_satisfied(fields: Mapping[str, str], schema: StructType) -> Column:
    """True for a row whose fields all already satisfy their strategies; false when no strategy can be checked."""
    conditions = [satisfied(s, F.col(c), schema[c].dataType) for c, s in fields.items()]
    present = [c for c in conditions if c is not None]
    return functools.reduce(operator.and_, present) if present else F.lit(False)


def rule_satisfied(rule: DatasetRule, schema: StructType) -> Column:
    """True for a row whose anonymised fields all already satisfy their strategies (always false for a delete; an
    update's check depends on the subject, see ``matches``)."""
    return fields_satisfied(rule.fields, schema) if rule.action == "anonymise" else F.lit(False)


def _known(plan: ErasePlan) -> set[tuple[str, str, str]]:
    """The plan's (kind, normalised value, subject) identities."""
    return {
        (kind, normalise_value(kind, value), subject.id)
        for subject in plan.subjects
        for kind, values in subject.keys.items()
        for value in values
    }


def identities(
    spark: SparkSession, plan: ErasePlan, key: bytes | None, resolved: Resolution | None = None
) -> DataFrame:
    """The (kind, value, subject, form) table to broadcast: normalised raw values (the plan's and those ``resolve``
    found) and, with a key, their hashes."""
    raw = _known(plan) | (resolved.triples() if resolved is not None else set())
    rows: set[tuple[str, str, str, str]] = set()
    for kind, value, subject in raw:
        rows.add((kind, value, subject, RAW))
        if key is not None:
            rows.add((kind, keyed_hash(key, value), subject, HASHED))
    schema = f"kind string, value string, {SUBJECT} string, form string"
    return spark.createDataFrame(sorted(rows), schema)


@dataclass(frozen=True)
class Resolution:
    """The identity values ``resolve`` found beyond the plan's: subject id → kind → normalised values. The values are
    kept out of the ``repr``; only ``counts`` is reported."""

    values: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict, repr=False)
    rounds: int = 0

    def triples(self) -> set[tuple[str, str, str]]:
        return {
            (kind, value, subject)
            for subject, kinds in self.values.items()
            for kind, values in kinds.items()
            for value in values
        }

    def counts(self, plan: ErasePlan) -> dict[str, dict[str, int]]:
        """Values added per subject of the plan (every subject, possibly with nothing) and kind: counts only."""
        return {
            s.id: {kind: len(v) for kind, v in sorted(self.values.get(s.id, {}).items()) if v} for s in plan.subjects
        }


def resolves(rule: DatasetRule) -> bool:
    """Whether a rule links identities: its key columns map to two or more kinds."""
    return len(set(rule.keys.values())) > 1


def _linked_values(rule: DatasetRule, schema: StructType) -> Column:
    """A row's key values as (kind, value) structs that may identify its subject: normalised, and null where the rule
    anonymises the column and the value already looks anonymised (a pseudonym is not an identity)."""
    row_done = rule_satisfied(rule, schema)
    items = []
    for column, kind in rule.keys.items():
        value = normalise(kind, F.col(column).cast("string"))
        strategy = rule.fields.get(column)
        if strategy is not None:
            looks_done = satisfied(strategy, F.col(column), schema[column].dataType)
            done = row_done if looks_done is None else row_done | looks_done
            value = F.when(~F.coalesce(done, F.lit(False)), value)
        items.append(F.struct(F.lit(kind).alias("kind"), value.alias("value")))
    return F.array(*items)


def resolve(
    spark: SparkSession,
    plan: ErasePlan,
    frames: Mapping[str, DataFrame],
    max_resolved: int = DEFAULT_MAX_RESOLVED,
) -> Resolution:
    """The identities of each subject that the plan's linking rules (see ``resolves``) add to the plan's own, found by
    matching, round after round, the values the previous round found (the plan's first); ``PlanError`` when one
    subject would gain more than ``max_resolved`` values of one kind. ``frames`` holds each dataset of the plan."""
    linking = [rule for rule in plan.datasets if resolves(rule)]
    known = _known(plan)
    added: dict[str, dict[str, set[str]]] = {}
    frontier = known
    rounds = 0
    schema = f"kind string, value string, {SUBJECT} string"
    while linking and frontier and rounds < RESOLUTION_ROUNDS:
        rounds += 1
        probe_ids = F.broadcast(spark.createDataFrame(sorted(frontier), schema))
        found = [
            probes(frames[rule.dataset], rule, {FOUND: _linked_values(rule, frames[rule.dataset].schema)})
            .join(probe_ids, ["kind", "value"])
            .select(SUBJECT, F.explode(FOUND).alias(FOUND))
            .select(SUBJECT, f"{FOUND}.kind", f"{FOUND}.value")
            for rule in linking
        ]
        candidates = functools.reduce(DataFrame.unionByName, found).where(
            F.col("value").isNotNull() & (F.trim(F.col("value")) != "")
        )
        every = F.broadcast(spark.createDataFrame(sorted(known), schema))
        fresh = candidates.distinct().join(every, ["kind", "value", SUBJECT], "left_anti").cache()
        try:
            counts = fresh.groupBy(SUBJECT, "kind").count().collect()
            for row in sorted(counts, key=lambda r: (r[SUBJECT], r["kind"])):
                total = len(added.get(row[SUBJECT], {}).get(row["kind"], ())) + row["count"]
                if total > max_resolved:
                    raise PlanError(
                        f"identity resolution gives subject {row[SUBJECT]} more than {max_resolved} {row['kind']} "
                        "values: a key column of the plan is not a personal identifier (one value shared by many "
                        "people), so it would reach other people's rows; fix the rules' keys or raise max_resolved"
                    )
            frontier = {(r["kind"], r["value"], r[SUBJECT]) for r in fresh.collect()} if counts else set()
        finally:
            fresh.unpersist()
        for kind, value, subject in frontier:
            added.setdefault(subject, {}).setdefault(kind, set()).add(value)
        known |= frontier
        log.info("identity resolution round %d: %d values added", rounds, len(frontier))
    return Resolution(
        values={s: {k: frozenset(v) for k, v in kinds.items()} for s, kinds in added.items()}, rounds=rounds
    )


def _current(i: int) -> str:
    return f"{_P}current_{i}"


def _new(i: int) -> str:
    return f"{_P}new_{i}"


def _set(i: int) -> str:
    return f"{_P}set_{i}"


def update_table(spark: SparkSession, rule: DatasetRule, schema: StructType) -> DataFrame:
    """(subject, then per updated column its new value cast to the column's type and whether the subject sets it), to
    broadcast; a value that does not cast is a ``PlanError`` naming the subject and the column, not the value."""
    columns = rule.updated_columns
    rows = [
        (subject, *[item for c in columns for item in (values.get(c), c in values)])
        for subject, values in sorted(rule.updates.items())
    ]
    ddl = ", ".join([f"{SUBJECT} string", *[f"{_new(i)} string, {_set(i)} boolean" for i in range(len(columns))]])
    typed = spark.createDataFrame(rows, ddl).select(
        SUBJECT,
        *[
            item
            for i, c in enumerate(columns)
            for item in (
                F.expr(f"try_cast({_new(i)} AS {schema[c].dataType.simpleString()})").alias(_new(i)),
                F.col(_set(i)),
            )
        ],
    )
    failed = typed.select(
        SUBJECT, *[(F.col(_set(i)) & F.col(_new(i)).isNull()).alias(str(i)) for i in range(len(columns))]
    ).collect()
    for row in failed:
        bad = [c for i, c in enumerate(columns) if row[str(i)]]
        _require(
            not bad,
            f"{rule.dataset}: the new values of {bad} for subject {row[SUBJECT]} do not fit the columns' types "
            f"({', '.join(schema[c].dataType.simpleString() for c in bad)})",
        )
    return typed


def probes(df: DataFrame, rule: DatasetRule, carry: Mapping[str, Column] | None = None) -> DataFrame:
    """(file, row, satisfied, kind, value) for every non-null key value of every row: one row per key column; for an
    update, also the current value of each updated column; then the ``carry`` columns (name → expression on the row),
    as identity resolution needs."""
    structs = [
        F.struct(F.lit(kind).alias("kind"), normalise(kind, F.col(column).cast("string")).alias("value"))
        for column, kind in rule.keys.items()
    ]
    current = [_current(i) for i in range(len(rule.updated_columns))]
    carried = dict(carry or {})
    return (
        df.select(
            F.col("_metadata.file_path").alias(FILE),
            F.col("_metadata.row_index").alias(ROW),
            rule_satisfied(rule, df.schema).alias(SAT),
            *[F.col(c).alias(_current(i)) for i, c in enumerate(rule.updated_columns)],
            *[expression.alias(name) for name, expression in carried.items()],
            F.explode(F.array(*structs)).alias("probe"),
        )
        .select(FILE, ROW, SAT, *current, "probe.kind", "probe.value", *carried)
        .where(F.col("value").isNotNull())
    )


def matches(df: DataFrame, rule: DatasetRule, ids: DataFrame, updates: DataFrame | None) -> DataFrame:
    """(file, row, satisfied, subject, form) for every row matching a subject's identity value. For an update only its
    subjects count, and a row is satisfied when it already holds every new value of its subject (null-safe)."""
    found = probes(df, rule).join(F.broadcast(ids), ["kind", "value"])
    if updates is None:
        return found.select(FILE, ROW, SAT, SUBJECT, "form")
    holds = [~F.col(_set(i)) | F.col(_current(i)).eqNullSafe(F.col(_new(i))) for i in range(len(rule.updated_columns))]
    return found.join(F.broadcast(updates), SUBJECT).select(
        FILE, ROW, functools.reduce(operator.and_, holds).alias(SAT), SUBJECT, "form"
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


CHANGED = {"delete": "rows_deleted", "anonymise": "rows_anonymised", "update": "rows_updated"}


@dataclass
class DatasetReport:
    """What erasure did to one dataset."""

    dataset: str
    action: str
    started_at: str = ""
    finished_at: str = ""
    rows_matched: dict[str, int] = field(default_factory=dict)
    rows_changed: int = 0
    rows_already_done: int = 0
    files_total: int = 0
    files_rewritten: list[FileChange] = field(default_factory=list)
    leftovers_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        already = "rows_already_updated" if self.action == "update" else "rows_already_anonymised"
        return {
            "dataset": self.dataset,
            "action": self.action,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "rows_matched": self.rows_matched,
            "rows_matched_total": sum(self.rows_matched.values()),
            CHANGED[self.action]: self.rows_changed,
            already: self.rows_already_done,
            "files_total": self.files_total,
            "files_rewritten": [f.as_dict() for f in self.files_rewritten],
            "files_rewritten_count": len(self.files_rewritten),
            "files_untouched": self.files_total - len(self.files_rewritten),
            "leftovers_removed": self.leftovers_removed,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat()


NESTED = (ArrayType, MapType, StructType)


def check_columns(rule: DatasetRule, df: DataFrame, partitions: set[str]) -> None:
    """Refuse a rule naming columns the dataset lacks, anonymising or updating a partition column, a strategy of a
    wrong type, or an update of a nested column."""
    schema = {f.name: f.dataType for f in df.schema.fields}
    missing = [c for c in [*rule.keys, *rule.fields, *rule.updated_columns] if c not in schema]
    _require(not missing, f"{rule.dataset} has no columns {missing}")
    _require(
        not partitions & set(rule.fields), f"{rule.dataset}: cannot anonymise partition columns {sorted(partitions)}"
    )
    updated_partitions = sorted(partitions & set(rule.updated_columns))
    _require(not updated_partitions, f"{rule.dataset}: cannot update partition columns {updated_partitions}")
    nested = [c for c in rule.updated_columns if isinstance(schema[c], NESTED)]
    _require(not nested, f"{rule.dataset}: cannot update nested columns {nested}")
    for column, strategy in rule.fields.items():
        data_type = schema[column]
        if strategy in STRING_STRATEGIES:
            _require(isinstance(data_type, StringType), f"{rule.dataset}.{column}: {strategy} needs a string column")
        if strategy == "year_only":
            _require(
                isinstance(data_type, DateType | TimestampType),
                f"{rule.dataset}.{column}: year_only needs a date or timestamp column",
            )


def partition_columns(spark: SparkSession, df: DataFrame, files: list[str]) -> set[str]:
    """The columns of a dataset that live in its directory names rather than in its files."""
    return set(df.columns) - set(spark.read.parquet(files[0]).columns) if files else set()


def open_dataset(spark: SparkSession, lake: str, rule: DatasetRule) -> tuple[DataFrame, list[str]]:
    """The dataset and its data files, after checking the rule against its columns (and an update's values)."""
    df = spark.read.parquet(dataset_uri(lake, rule.dataset))
    files = df.inputFiles()
    check_columns(rule, df, partition_columns(spark, df, files))
    if rule.action == "update":
        update_table(spark, rule, df.schema)
    return df, files


def replacement(
    df: DataFrame,
    action: str,
    fields: Mapping[str, str],
    chosen: Column,
    key: bytes | None,
    kinds: Mapping[str, str] | None = None,
) -> DataFrame:
    """A file's rows, in order, with the chosen ones deleted or anonymised (field → strategy; a field that is a key
    column of some identity kind is hashed in its normalised form)."""
    chosen = F.coalesce(chosen, F.lit(False))
    if action == "delete":
        return df.where(~chosen)
    kinds = kinds or {}
    types = {f.name: f.dataType for f in df.schema.fields}
    return df.select(
        *[
            F.when(chosen, strategy_column(fields[c], F.col(c), types[c], key, kinds.get(c)))
            .otherwise(F.col(c))
            .alias(c)
            if c in fields
            else F.col(c)
            for c in df.columns
        ]
    )


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
    out = replacement(df, rule.action, rule.fields, chosen, key, rule.keys)
    out.coalesce(1).write.mode("errorifexists").parquet(staged_uri)


def update_file(
    spark: SparkSession,
    file_uri: str,
    rule: DatasetRule,
    rows: list[tuple[int, str]],
    updates: DataFrame,
    staged_uri: str,
) -> None:
    """Write the replacement of one Parquet file, its rows in order, the chosen rows (row, subject) holding their
    subject's new values; the values come from the broadcast table, never from the query plan."""
    df = spark.read.parquet(file_uri)
    position = {c: i for i, c in enumerate(rule.updated_columns)}
    chosen = (
        spark.createDataFrame(rows, f"{ROW} long, {SUBJECT} string").join(F.broadcast(updates), SUBJECT).drop(SUBJECT)
    )
    joined = df.select("*", F.col("_metadata.row_index").alias(ROW)).join(F.broadcast(chosen), ROW, "left")
    out = joined.select(
        *[
            F.when(F.col(_set(position[c])), F.col(_new(position[c]))).otherwise(F.col(c)).alias(c)
            if c in position
            else F.col(c)
            for c in df.columns
        ],
        ROW,
    )
    out.coalesce(1).sortWithinPartitions(ROW).drop(ROW).write.mode("errorifexists").parquet(staged_uri)


def replace_file(
    rewriter: Rewriter, root_uri: str, file_uri: str, staged_uri: str, rows: int, write: Callable[[str], None]
) -> FileChange:
    """Replace one file atomically with what ``write`` stages at ``staged_uri``, recording its checksums."""
    before = rewriter.checksum(file_uri)
    write(staged_uri)
    rewriter.commit(staged_uri, file_uri)
    return FileChange(relative_path(file_uri, root_uri), rows, before, rewriter.checksum(file_uri))


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
    updates = update_table(spark, rule, df.schema).cache() if rule.action == "update" else None
    report.files_total = len(files)

    found = matches(df, rule, ids.where(F.col("form") == RAW), updates)
    hits = found.select(FILE, ROW, SAT, SUBJECT).distinct().cache()
    try:
        report.rows_matched = {r[SUBJECT]: r["count"] for r in hits.groupBy(SUBJECT).count().collect()}
        per_row = hits.groupBy(FILE, ROW).agg(
            F.min(SAT).alias(SAT), F.sort_array(F.collect_set(SUBJECT)).alias(SUBJECT)
        )
        if updates is not None:
            shared = per_row.where(F.size(SUBJECT) > 1).limit(1).collect()
            if shared:
                raise PlanError(
                    f"{rule.dataset}: rows match several subjects of the update ({', '.join(shared[0][SUBJECT])}), "
                    "so the plan does not say whose values apply"
                )
        report.rows_already_done = per_row.where(F.col(SAT)).count()
        pending: dict[str, list[tuple[int, str]]] = {}
        for r in per_row.where(~F.col(SAT)).select(FILE, ROW, F.col(SUBJECT)[0].alias(SUBJECT)).collect():
            pending.setdefault(r[FILE], []).append((r[ROW], r[SUBJECT]))
    finally:
        hits.unpersist()

    try:
        if pending:
            staging = rewriter.staging(uri, run_token)
            try:
                for position, (file_uri, rows) in enumerate(sorted(pending.items())):
                    chosen = sorted(rows)
                    write = (
                        functools.partial(rewrite_file, spark, file_uri, rule, [row for row, _ in chosen], key)
                        if updates is None
                        else functools.partial(update_file, spark, file_uri, rule, chosen, updates)
                    )
                    change = replace_file(rewriter, uri, file_uri, f"{staging}/{position}", len(chosen), write)
                    report.files_rewritten.append(change)
                    report.rows_changed += change.rows
                    log.info("dsr_erase %s: %s %d rows in %s", rule.dataset, rule.action, change.rows, change.file)
            finally:
                rewriter.discard(staging)
            spark.catalog.refreshByPath(uri)
    finally:
        if updates is not None:
            updates.unpersist()
    report.finished_at = _now()
    return report


def verify_dataset(spark: SparkSession, lake: str, rule: DatasetRule, ids: DataFrame) -> dict[str, Any]:
    """Rows still matching a subject's raw identity values, or (with a key) their keyed hashes, and rows pending.
    An update is verified when no row is pending: its subjects' rows stay, holding the new values."""
    df = spark.read.parquet(dataset_uri(lake, rule.dataset))
    updates = update_table(spark, rule, df.schema) if rule.action == "update" else None
    counts = (
        matches(df, rule, ids, updates).select(FILE, ROW, SAT, "form").distinct().groupBy("form", SAT).count().collect()
    )
    raw = sum(r["count"] for r in counts if r["form"] == RAW)
    pending = sum(r["count"] for r in counts if r["form"] == RAW and not r[SAT])
    hashed = sum(r["count"] for r in counts if r["form"] == HASHED)
    has_hashes = ids.where(F.col("form") == HASHED).limit(1).count() > 0
    return {
        "raw_matches": raw,
        "hashed_matches": hashed if has_hashes else None,
        "pending": pending,
        "verified": pending == 0 and (rule.action != "delete" or hashed == 0),
    }


@dataclass
class EraseReport:
    """The outcome of a whole plan: one report per dataset and the verification scan."""

    started_at: str
    finished_at: str
    datasets: list[DatasetReport]
    verification: dict[str, dict[str, Any]]
    resolved: dict[str, dict[str, int]] = field(default_factory=dict)


def erase(
    spark: SparkSession,
    lake: str,
    plan: ErasePlan,
    key: bytes | None,
    run_token: str,
    rewriter: Rewriter | None = None,
    *,
    max_resolved: int = DEFAULT_MAX_RESOLVED,
    progress: Callable[[str, DatasetReport | None], None] | None = None,
) -> EraseReport:
    """Check every rule, resolve the subjects' identities, apply the plan to every dataset it names (linking rules
    last), then scan each for what is left of the subjects, resolved values included. ``progress`` hears of each
    phase: ``("resolved", None)``, ``("dataset", report)`` after each dataset, ``("verified", None)``."""
    tell = progress or (lambda phase, report: None)
    if plan.uses_hash and not key:
        raise PlanError(f"the plan hashes values but the environment variable {plan.hash_key_env} is not set")
    started = _now()
    # Every rule is checked, and every identity resolved, before anything is written.
    frames = {rule.dataset: open_dataset(spark, lake, rule)[0] for rule in plan.datasets}
    resolution = resolve(spark, plan, frames, max_resolved)
    ids = identities(spark, plan, key, resolution).cache()
    tell("resolved", None)
    try:
        done: dict[str, DatasetReport] = {}
        for rule in sorted(plan.datasets, key=resolves):  # stable: the plan's order, linking rules last
            done[rule.dataset] = erase_dataset(spark, lake, rule, ids, key, run_token, rewriter)
            tell("dataset", done[rule.dataset])
        reports = [done[rule.dataset] for rule in plan.datasets]
        verification = {rule.dataset: verify_dataset(spark, lake, rule, ids) for rule in plan.datasets}
        tell("verified", None)
    finally:
        ids.unpersist()
    return EraseReport(
        started_at=started,
        finished_at=_now(),
        datasets=reports,
        verification=verification,
        resolved=resolution.counts(plan),
    )
