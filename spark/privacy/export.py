"""The export engine behind the ``dsr_export`` job: finds every row of many data subjects in one scan per dataset and
packs each subject's rows into a zip for an access, portability or "right to know" request.

Public surface: ``load_export_plan`` (the plan document → ``ErasePlan`` whose rules all have action ``export``, or
``PlanError``), ``output_dir`` (``--out`` → a local directory, or ``ExportError``) and ``export`` (runs a plan).

Plan. The same document as ``dsr_erase`` reads (see ``spark.privacy.erase``), with ``"action": "export"`` on every
dataset rule. A rule's ``fields`` are ignored: every column of a subject's rows is exported, partition columns
included. Keys that the job does not read (``hash_key_env``, the portal's notes on a rule) are allowed and ignored.

Matching is the erasure engine's: the identities of every subject (raw form only; export needs no hash key) are
broadcast and joined with the (kind, value) probes of each row's key columns, emails lower-cased and trimmed on both
sides, so a subject's rows are exactly those erasure would delete. Identities are first resolved as erasure resolves
them (``spark.privacy.erase.resolve``, before ``--out`` is touched): a subject known by an email also gets the rows
of its customer id found through a rule keyed by both, e.g. its orders; more than ``max_resolved`` values of one kind
for one subject is a ``PlanError``. The report counts the values added per subject and kind, never the values
themselves, which are not logged either. The scan yields (file, row index, subject) for the
matching rows; only the files holding them are read again (a filter on ``_metadata.file_path``, which Spark uses to
skip the other files) to fetch the rows themselves, streamed to the driver one subject at a time. A subject with more
than ``max_rows`` rows in a dataset fails the run before any row is fetched.

Package. Under the output directory (a local one outside the lake, created 0700), each subject gets
``<subject-id>.zip`` (0600) holding, at its root, ``manifest.json`` and, per dataset where the subject has rows,
``<dataset with / as __>.json`` (an array of row objects in column order) and ``.csv`` (a header row, then RFC 4180
quoting). Values: dates and timestamps ISO-8601 (timestamps in UTC with their offset), decimals as strings, binary as
base64, NaN and infinities as strings, nested values as JSON (in the CSV too), null as JSON null and an empty CSV
cell. Rows are sorted by their JSON text, entries carry a fixed timestamp, so the same rows give the same bytes; only
the manifest's ``generated_at`` and ``run_id`` change between runs. The files are written to ``<out>/<subject-id>/``
first and that directory is removed once the zip is in place; a failed run removes whatever it created. Existing
packages are never overwritten.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import math
import os
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    MapType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark.paths import LakePathError, check_relative, dataset_uri, normalize_root
from spark.privacy.erase import (
    DEFAULT_MAX_RESOLVED,
    RAW,
    DatasetRule,
    ErasePlan,
    PlanError,
    identities,
    plan_require,
    probes,
    resolve,
    subject_parse,
)

log = logging.getLogger(__name__)

EXPORT_ACTION = "export"
FORMAT_VERSION = 1
DEFAULT_MAX_ROWS = 1_000_000
MANIFEST = "manifest.json"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold: entries never carry the time of a run
DIR_MODE, FILE_MODE = 0o700, 0o600
_P = "__dsr_export_"  # prefix of working columns
FILE, ROW, SUBJECT = f"{_P}file", f"{_P}row", f"{_P}subject"


class ExportError(RuntimeError):
    """An export that cannot be written: a bad ``--out``, a package already there, a subject with too many rows."""

    code = "export_failed"


# --- The plan ----------------------------------------------------------------------------------------------------


_require = plan_require


def _rule(item: Any, position: int) -> DatasetRule:
    where = f"datasets[{position}]"
    _require(isinstance(item, dict), f"{where} must be an object")
    try:
        path = check_relative(str(item.get("dataset") or ""))
    except LakePathError as exc:
        raise PlanError(f"{where}.dataset: {exc}") from exc
    keys = item.get("keys")
    _require(
        isinstance(keys, dict)
        and bool(keys)
        and all(column.strip() and isinstance(kind, str) and kind.strip() for column, kind in keys.items()),
        f"{where}.keys must map columns to identity kinds",
    )
    action = item.get("action")
    _require(action == EXPORT_ACTION, f"{where}.action must be {EXPORT_ACTION!r} (this job only exports)")
    fields = item.get("fields")
    _require(fields is None or isinstance(fields, dict), f"{where}.fields must be an object")
    # Every column is exported, so the fields of the rule do not matter; empty, they ask nothing of the engine.
    return DatasetRule(dataset=path, keys=dict(keys), action=EXPORT_ACTION, fields={})


def parse_export_plan(document: Any) -> ErasePlan:
    """An export plan document (already decoded JSON) as an ``ErasePlan``; ``PlanError`` says what is wrong."""
    _require(isinstance(document, dict), "the plan must be a JSON object")
    subjects = document.get("subjects")
    _require(isinstance(subjects, list) and bool(subjects), "plan.subjects must be a non-empty list")
    datasets = document.get("datasets")
    _require(isinstance(datasets, list) and bool(datasets), "plan.datasets must be a non-empty list")
    parsed = tuple(subject_parse(item, i) for i, item in enumerate(subjects))
    _require(len({s.id for s in parsed}) == len(parsed), "subject ids must be unique")
    rules = tuple(_rule(item, i) for i, item in enumerate(datasets))
    paths = [r.dataset for r in rules]
    _require(len(set(paths)) == len(paths), "each dataset may appear once in plan.datasets")
    names = [entry_stem(p) for p in paths]
    _require(len(set(names)) == len(names), "two datasets of the plan would have the same file name in a package")
    return ErasePlan(subjects=parsed, datasets=rules)


def load_export_plan(text: str) -> ErasePlan:
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
    return parse_export_plan(document)


def entry_stem(dataset: str) -> str:
    """The file name (without extension) of a dataset in a package: ``raw/orders`` → ``raw__orders``."""
    return dataset.replace("/", "__")


# --- Values ------------------------------------------------------------------------------------------------------


def json_value(value: Any, data_type: DataType) -> Any:
    """A collected Spark value as plain JSON (see the module docstring for each type)."""
    if value is None:
        return None
    if isinstance(data_type, TimestampType):
        # Collected as the naive local time of this process; astimezone reads it back as that, giving the instant.
        return value.astimezone(UTC).isoformat()
    if isinstance(data_type, TimestampNTZType | DateType):
        return value.isoformat()
    if isinstance(data_type, DecimalType):
        return format(value, "f")
    if isinstance(data_type, FloatType | DoubleType):
        return value if math.isfinite(value) else str(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(data_type, BinaryType):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(data_type, ArrayType):
        return [json_value(v, data_type.elementType) for v in value]
    if isinstance(data_type, MapType):
        return {
            _map_key(json_value(k, data_type.keyType)): json_value(v, data_type.valueType) for k, v in value.items()
        }
    if isinstance(data_type, StructType):
        return {f.name: json_value(value[i], f.dataType) for i, f in enumerate(data_type.fields)}
    return value


def _map_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def csv_cell(value: Any) -> str:
    """The CSV text of a JSON value: null is empty, booleans and numbers as JSON spells them, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")


def render(columns: list[str], rows: Iterable[list[Any]]) -> tuple[bytes, bytes]:
    """The JSON and CSV files of one subject's rows of one dataset (JSON values, in column order), rows sorted."""
    ordered = sorted(rows, key=lambda row: json.dumps(row, ensure_ascii=False, allow_nan=False))
    as_json = _json_bytes([dict(zip(columns, row, strict=True)) for row in ordered])
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(v) for v in row] for row in ordered)
    return as_json, text.getvalue().encode("utf-8")


# --- Files -------------------------------------------------------------------------------------------------------


def output_dir(out: str, lake: str) -> Path:
    """``--out`` as a local directory: a path or a ``file://`` URI outside the lake; anything else is refused."""
    text = out.strip()
    parts = urlsplit(text)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ExportError("--out must be a local file:// URI with an absolute path (file:///path)")
        path = Path(unquote(parts.path))
    elif not parts.scheme and text:
        path = Path(text)
    else:
        scheme = f"{parts.scheme}://" if parts.scheme else "an empty value"
        raise ExportError(f"--out must be a local directory or a file:// URI, not {scheme}")
    if path.exists() and not path.is_dir():
        raise ExportError("--out names a file, not a directory")
    root = normalize_root(lake)
    if root.startswith("file://") and path.resolve().is_relative_to(Path(root.removeprefix("file://")).resolve()):
        raise ExportError("--out must not be inside the lake: a package is not a lake dataset")
    return path.absolute()


def _write_private(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only (never following a link, never replacing a file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE)
    os.chmod(path, DIR_MODE)  # mkdir's mode is narrowed by the umask, never widened: set it exactly


def _digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    """A zip of the entries in the given order, each deflated with the fixed time and owner-only permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the permissions below are read back
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, data)
    _write_private(path, buffer.getvalue())


# --- The export --------------------------------------------------------------------------------------------------


@dataclass
class Package:
    """One subject's zip: its name under the output directory, SHA-256, size, and rows per dataset."""

    name: str
    sha256: str
    bytes: int
    rows: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"package": self.name, "sha256": self.sha256, "bytes": self.bytes, "rows": self.rows}


@dataclass
class ExportReport:
    """The outcome of a plan: one package per subject, and the schema of each dataset read."""

    started_at: str
    finished_at: str
    packages: dict[str, Package] = field(default_factory=dict)
    schemas: dict[str, StructType] = field(default_factory=dict)
    resolved: dict[str, dict[str, int]] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _col(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def open_dataset(spark: SparkSession, lake: str, rule: DatasetRule) -> DataFrame:
    """The dataset, after checking that it has the rule's key columns."""
    df = spark.read.parquet(dataset_uri(lake, rule.dataset))
    missing = [c for c in rule.keys if c not in df.columns]
    _require(not missing, f"{rule.dataset} has no columns {missing}")
    return df


def _subject_rows(rows: Iterator[Any]) -> Iterator[tuple[str, list[list[Any]]]]:
    """(subject, its rows) from rows ordered by subject, each row being (subject, value, value, …)."""
    current: str | None = None
    batch: list[list[Any]] = []
    for row in rows:
        if row[0] != current:
            if current is not None:
                yield current, batch
            current, batch = row[0], []
        batch.append(list(row[1:]))
    if current is not None:
        yield current, batch


def export_dataset(
    df: DataFrame,
    rule: DatasetRule,
    ids: DataFrame,
    work: dict[str, Path],
    max_rows: int,
) -> dict[str, dict[str, Any]]:
    """Write each subject's rows of one dataset into its working directory; the manifest entry per subject.

    ``ids`` holds the raw identities as (kind, value, ``SUBJECT``); ``work`` each subject's working directory.
    """
    columns = df.columns
    types = [f.dataType for f in df.schema.fields]
    probed = probes(df, rule)
    found_in, row_index = probed.columns[:2]  # probes yields (file, row, …, kind, value)
    hits = (
        probed.join(F.broadcast(ids), ["kind", "value"])
        .select(F.col(found_in).alias(FILE), F.col(row_index).alias(ROW), SUBJECT)
        .distinct()
        .cache()
    )
    entries = {subject: {"rows": 0, "columns": columns, "files": {}} for subject in work}
    try:
        counts = {r[SUBJECT]: int(r["count"]) for r in hits.groupBy(SUBJECT).count().collect()}
        over = sorted(subject for subject, n in counts.items() if n > max_rows)
        if over:
            raise ExportError(
                f"{rule.dataset}: subject {over[0]} has {counts[over[0]]} rows, more than --max-rows {max_rows}"
            )
        files = sorted(r[FILE] for r in hits.select(FILE).distinct().collect())
        total = sum(counts.values())
        log.info("dsr_export %s: %d rows of %d subjects in %d files", rule.dataset, total, len(counts), len(files))
        if not files:
            return entries
        located = df.where(F.col("_metadata.file_path").isin(files)).select(
            F.col("_metadata.file_path").alias(FILE), F.col("_metadata.row_index").alias(ROW), *map(_col, columns)
        )
        rows = located.join(hits, [FILE, ROW]).select(SUBJECT, *map(_col, columns)).orderBy(SUBJECT)
        stem = entry_stem(rule.dataset)
        for subject, batch in _subject_rows(rows.toLocalIterator()):
            values = [[json_value(v, t) for v, t in zip(row, types, strict=True)] for row in batch]
            as_json, as_csv = render(columns, values)
            described = {}
            for kind, data in (("json", as_json), ("csv", as_csv)):
                name = f"{stem}.{kind}"
                _write_private(work[subject] / name, data)
                described[kind] = {"name": name, **_digest(data)}
            entries[subject] = {"rows": len(batch), "columns": columns, "files": described}
    finally:
        hits.unpersist()
    return entries


def _package(out: Path, subject: str, manifest: dict[str, Any], work: Path) -> Package:
    """Zip a subject's manifest and data files, then remove its working directory."""
    files = sorted(f["name"] for entry in manifest["datasets"].values() for f in entry["files"].values())
    entries = [(MANIFEST, _json_bytes(manifest)), *[(name, (work / name).read_bytes()) for name in files]]
    target = out / f"{subject}.zip"
    _zip(target, entries)
    shutil.rmtree(work)
    data = target.read_bytes()
    rows = {dataset: entry["rows"] for dataset, entry in manifest["datasets"].items()}
    return Package(name=target.name, rows=rows, **_digest(data))


def export(
    spark: SparkSession,
    lake: str,
    plan: ErasePlan,
    out: Path,
    run_id: str,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    max_resolved: int = DEFAULT_MAX_RESOLVED,
) -> ExportReport:
    """Export every subject of a plan from every dataset it names, one zip per subject under ``out``; the subjects'
    identities are resolved first (see ``spark.privacy.erase.resolve``)."""
    started = _now()
    subjects = [s.id for s in plan.subjects]
    taken = [p.name for s in subjects for p in (out / s, out / f"{s}.zip") if os.path.lexists(p)]
    if taken:
        raise ExportError(f"--out already holds {', '.join(taken)}: an export never overwrites a package")
    frames = {rule.dataset: open_dataset(spark, lake, rule) for rule in plan.datasets}  # every rule checked first
    resolution = resolve(spark, plan, frames, max_resolved)  # may refuse the plan: before --out is touched
    created_out = not out.exists()
    if created_out:
        out.parent.mkdir(parents=True, exist_ok=True)
        _make_private_dir(out)
    table = identities(spark, plan, None, resolution)
    kind, value, subject_id, form = table.columns  # (kind, value, subject, form), as identities documents them
    ids = (
        table.where(F.col(form) == RAW)
        .select(F.col(kind).alias("kind"), F.col(value).alias("value"), F.col(subject_id).alias(SUBJECT))
        .cache()
    )
    work: dict[str, Path] = {}
    report = ExportReport(
        started_at=started,
        finished_at="",
        schemas={p: df.schema for p, df in frames.items()},
        resolved=resolution.counts(plan),
    )
    try:
        for subject in subjects:
            _make_private_dir(out / subject)
            work[subject] = out / subject
        found: dict[str, dict[str, Any]] = {subject: {} for subject in subjects}
        for rule in plan.datasets:
            for subject, entry in export_dataset(frames[rule.dataset], rule, ids, work, max_rows).items():
                found[subject][rule.dataset] = entry
        generated = _now()
        for subject in subjects:
            manifest = {
                "subject": subject,
                "generated_at": generated,
                "run_id": run_id,
                "format_version": FORMAT_VERSION,
                "datasets": found[subject],
            }
            report.packages[subject] = _package(out, subject, manifest, work[subject])
    except BaseException:
        for subject, path in work.items():  # nothing half-made stays behind, the subjects' rows least of all
            shutil.rmtree(path, ignore_errors=True)
            (out / f"{subject}.zip").unlink(missing_ok=True)  # none was there before: see `taken`
        if created_out and not any(out.iterdir()):
            out.rmdir()
        raise
    finally:
        ids.unpersist()
    report.finished_at = _now()
    return report
