"""Erasure of 1,000 data subjects from a 10,000,000-order lake: one batched pass against one pass per subject.

The privacy requirement: erasing 1,000 subjects in one batched pass must be at least 20x faster than erasing them one
subject per pass, and the batched time is shown against one plain rewrite of the files it had to rewrite.

Lake. ``raw/customers`` (one customer per three orders) and ``raw/orders`` of the synthetic generator at a fixed seed,
written once by the generator's own ``Generator`` and ``write_dataset`` (the same rows ``generate_lake`` writes for
those two datasets; the other three are not needed here) and cached under ``var/bench/dsr_erase/`` keyed by rows and
seed; a cache without its completion marker is written again. One written by another version of the generator is
kept (it is still a lake of that size) and the printout says so: remove the directory to write it anew. Generating
takes several minutes on 2 cores (about eight on a busy machine); later runs reuse the cache.

Copies. Each measurement works on its own copy of the two datasets, made of hard links to the cached files: erasure
never writes into an existing file. ``LocalRewriter.commit`` moves the staged part over the target with ``os.replace``
(the copy's directory entry then names a new inode; the cached original keeps its own), unlinks only the copy's
``.crc`` link, and writes new files only under the copy (staging directory, temporary file). The benchmark checks it:
every rewritten file of a copy has a new inode, and every cached file keeps its inode, size and mtime.

Subjects. 1,000 customers with a well-formed email, the first by a seeded hash of their id, each known by
``customer_id`` and email. Plan: delete them from ``raw/customers`` (keys customer_id and email) and anonymise their
orders (key customer_id: customer_id hashed with a key from an environment variable, ip_address masked, session_id
nulled).

Measurements, after one discarded warm-up pass:

- per subject: ``PASSES`` single-subject ``erase`` runs, each on the lake the previous one left; 1,000 passes would
  take hours, so the printed per-subject time is the sampled mean times 1,000 (printed as such, with min and max);
- batched: one ``erase`` run with all 1,000 subjects (scan, rewrites, verification), verified;
- plain rewrite: each file the batched run rewrote, read by Spark and written as one file (``coalesce(1)``) to a
  staging directory, one job per file as the engine does, without matching, checksums or the atomic swap;
- bulk copy: the same files read and written by one Spark job per dataset (the floor of moving those bytes).

``ECAP_BENCH_DSR_ROWS`` takes fewer orders and ``ECAP_BENCH_DSR_PASSES`` another sample size, for a quick run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark.jobs import generate
from spark.privacy.erase import ErasePlan, EraseReport, erase, parse_plan
from spark.schema import CUSTOMERS, ORDERS

ROWS = int(os.environ.get("ECAP_BENCH_DSR_ROWS", 10_000_000))
SEED = 11
SUBJECTS = 1_000
PASSES = int(os.environ.get("ECAP_BENCH_DSR_PASSES", 5))
TARGET = 20.0
KEY_ENV = "ECAP_BENCH_DSR_KEY"
KEY = "bench-dsr-hmac-key-3c9d41"
DATASETS = (CUSTOMERS, ORDERS)
MARKER = "lake.json"
EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def generator_digest() -> str:
    """A digest of the generator's source, kept with the cache: a lake written by another version is reported."""
    return hashlib.sha256(inspect.getsource(generate).encode()).hexdigest()[:16]


def write_lake(spark: SparkSession, root: Path) -> dict[str, Any]:
    """The generator's customers and orders for ``ROWS`` orders at ``SEED``, then the completion marker."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.perf_counter()
    plan = generate.make_plan(orders=ROWS, seed=SEED)
    gen = generate.Generator(plan)
    rows: dict[str, int] = {}
    with generate.session_settings(spark, generate.SESSION_SETTINGS):
        frames = ((CUSTOMERS, gen.customers(spark), False), (ORDERS, gen.orders(gen.order_base(spark)), True))
        for dataset, frame, copies in frames:
            rows[dataset.path], _ = generate.write_dataset(frame, dataset, "file://" + str(root), copies=copies)
    meta = {
        "orders": ROWS,
        "seed": SEED,
        "generator": generator_digest(),
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (root / MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def data_files(root: Path, dataset: str) -> list[Path]:
    """The Parquet files Spark reads from a dataset (hidden and ``_`` names skipped)."""
    base = root / dataset
    return sorted(
        f for f in base.rglob("*.parquet") if not any(part.startswith(("_", ".")) for part in f.relative_to(base).parts)
    )


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime) of every file under the cached lake."""
    return {
        str(f.relative_to(root)): (s.st_ino, s.st_size, s.st_mtime_ns)
        for f in root.rglob("*")
        if f.is_file()
        for s in [f.stat()]
    }


def linked_copy(source: Path, target: Path) -> str:
    """The two datasets under ``target`` as hard links to ``source`` (a plain copy across file systems)."""
    for dataset in DATASETS:
        try:
            shutil.copytree(source / dataset.path, target / dataset.path, copy_function=os.link)
        except (OSError, shutil.Error):
            shutil.rmtree(target / dataset.path, ignore_errors=True)
            shutil.copytree(source / dataset.path, target / dataset.path)
    return "file://" + str(target)


def alive(pid: str) -> bool:
    """Whether a process id (as text) names a running process."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Lake:
    root: Path  # the cached lake: never written once generated
    work: Path  # copies and staging directories of this run
    meta: dict[str, Any]
    generated_now: bool


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from spark.session import get_spark

    session = get_spark("ecap-bench-dsr-erase")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def lake(spark: SparkSession) -> Iterator[Lake]:
    from django.conf import settings

    cache = Path(settings.VAR_DIR) / "bench" / "dsr_erase"
    root = cache / f"orders-{ROWS}-seed-{SEED}"
    marker = root / MARKER
    meta = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    generated_now = (meta.get("orders"), meta.get("seed")) != (ROWS, SEED)
    if generated_now:
        print(f"\n[dsr erase bench] generating {ROWS:,} orders and their customers under {root}", flush=True)
        meta = write_lake(spark, root)
        print(f"[dsr erase bench] generated in {meta['seconds']:.0f}s: {meta['rows']}", flush=True)
    # Beside the cache, so hard links stay on one file system; work directories of interrupted runs go first.
    for stale in cache.glob("work-*"):
        if not alive(stale.name.removeprefix("work-")):
            shutil.rmtree(stale, ignore_errors=True)
    work = cache / f"work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield Lake(root, work, meta, generated_now)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def hash_key() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        yield


def choose_subjects(spark: SparkSession, root: Path) -> list[dict[str, Any]]:
    """``SUBJECTS`` customers with a well-formed email, the first by a seeded hash of their id (any partitioning)."""
    chosen = (
        spark.read.parquet(f"file://{root}/{CUSTOMERS.path}")
        .where(F.col("email").rlike(EMAIL_SHAPE))
        .select("customer_id", "email")
        .orderBy(F.xxhash64(F.lit(SEED), "customer_id"), "customer_id")
        .limit(SUBJECTS)
        .collect()
    )
    assert len(chosen) == SUBJECTS
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ecap-bench:{row['customer_id']}")),
            "keys": {"customer_id": [row["customer_id"]], "email": [row["email"]]},
        }
        for row in chosen
    ]


def plan_for(subjects: list[dict[str, Any]]) -> ErasePlan:
    return parse_plan(
        {
            "subjects": subjects,
            "datasets": [
                {
                    "dataset": CUSTOMERS.path,
                    "keys": {"customer_id": "customer_id", "email": "email"},
                    "action": "delete",
                },
                {
                    "dataset": ORDERS.path,
                    "keys": {"customer_id": "customer_id"},
                    "action": "anonymise",
                    "fields": {"customer_id": "hash", "ip_address": "mask", "session_id": "nullify"},
                },
            ],
            "hash_key_env": KEY_ENV,
        }
    )


def progress(started: float, message: str) -> None:
    """A line per phase as it ends, so a long run shows where its time goes."""
    print(f"\n[dsr erase bench +{time.perf_counter() - started:,.0f}s] {message}", flush=True)


def run_erase(spark: SparkSession, root: str, plan: ErasePlan) -> tuple[float, EraseReport]:
    """One ``erase`` run as the ``dsr_erase`` job makes it (key from the plan's environment variable), timed."""
    key = os.environ[plan.hash_key_env].encode("utf-8")
    started = time.perf_counter()
    report = erase(spark, root, plan, key, uuid.uuid4().hex)
    elapsed = time.perf_counter() - started
    assert all(v["verified"] for v in report.verification.values()), report.verification
    return elapsed, report


def phases(report: EraseReport) -> str:
    """Where an erase run's time went: checks, each dataset (scan and rewrites), the verification scan."""

    def between(start: str, end: str) -> float:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()

    parts = [f"plan checks {between(report.started_at, report.datasets[0].started_at):.1f}s"]
    parts += [
        f"{d.dataset} {between(d.started_at, d.finished_at):.1f}s ({d.action}, {len(d.files_rewritten)} files)"
        for d in report.datasets
    ]
    parts.append(f"verification {between(report.datasets[-1].finished_at, report.finished_at):.1f}s")
    return ", ".join(parts)


def files_rewritten(report: EraseReport) -> int:
    return sum(len(d.files_rewritten) for d in report.datasets)


def rows_changed(report: EraseReport) -> int:
    return sum(d.rows_changed for d in report.datasets)


def expected_rows(spark: SparkSession, root: Path, subjects: list[dict[str, Any]]) -> dict[str, int]:
    """Rows the plan must change, counted on the cached lake: customers by id or email, orders by customer id."""
    ids = [s["keys"]["customer_id"][0] for s in subjects]
    emails = [s["keys"]["email"][0].strip().lower() for s in subjects]
    customers = spark.read.parquet(f"file://{root}/{CUSTOMERS.path}")
    orders = spark.read.parquet(f"file://{root}/{ORDERS.path}")
    return {
        CUSTOMERS.path: customers.where(F.col("customer_id").isin(ids) | F.lower(F.trim("email")).isin(emails)).count(),
        ORDERS.path: orders.where(F.col("customer_id").isin(ids)).count(),
    }


def plain_rewrite(spark: SparkSession, uris: list[str], staging: Path) -> float:
    """Each file read and written as one file to a staging directory, one Spark job per file: no matching."""
    started = time.perf_counter()
    for position, uri in enumerate(uris):
        spark.read.parquet(uri).coalesce(1).write.mode("errorifexists").parquet(f"file://{staging}/{position}")
    return time.perf_counter() - started


def bulk_copy(spark: SparkSession, uris: dict[str, list[str]], staging: Path) -> float:
    """The same files read and written by one Spark job per dataset."""
    started = time.perf_counter()
    for dataset, files in uris.items():
        if files:
            spark.read.parquet(*files).write.mode("errorifexists").parquet(f"file://{staging}/{dataset}")
    return time.perf_counter() - started


def test_batched_erasure_against_one_pass_per_subject(spark: SparkSession, lake: Lake, hash_key: None, bench) -> None:
    began = time.perf_counter()
    cached_before = snapshot(lake.root)
    subjects = choose_subjects(spark, lake.root)
    expected = expected_rows(spark, lake.root, subjects)
    totals = {
        d.path: (spark.read.parquet(f"file://{lake.root}/{d.path}").count(), len(data_files(lake.root, d.path)))
        for d in DATASETS
    }
    progress(began, f"{SUBJECTS:,} subjects chosen, rows to change counted: {expected}")

    # Per subject: a warm-up pass (JIT, page cache; not counted), then PASSES subjects, each on the lake left behind.
    single = linked_copy(lake.root, lake.work / "single")
    warm_up, warm_report = run_erase(spark, single, plan_for(subjects[:1]))
    progress(began, f"warm-up pass: {warm_up:.1f}s ({phases(warm_report)})")
    passes = []
    for subject in subjects[1 : 1 + PASSES]:
        passes.append(run_erase(spark, single, plan_for([subject])))
        progress(began, f"single-subject pass {len(passes)}/{PASSES}: {passes[-1][0]:.1f}s ({phases(passes[-1][1])})")
    seconds = [p[0] for p in passes]
    mean = statistics.mean(seconds)
    per_subject = mean * SUBJECTS

    # Batched: every subject in one run, on a fresh copy.
    batched_root = lake.work / "batched"
    batched_uri = linked_copy(lake.root, batched_root)
    batched, report = run_erase(spark, batched_uri, plan_for(subjects))
    progress(began, f"batched pass: {batched:.1f}s ({phases(report)})")
    by_dataset = {d.dataset: d for d in report.datasets}
    assert by_dataset[CUSTOMERS.path].rows_changed == expected[CUSTOMERS.path] >= SUBJECTS
    assert by_dataset[ORDERS.path].rows_changed == expected[ORDERS.path] > 0
    remaining = spark.read.parquet(f"{batched_uri}/{CUSTOMERS.path}")
    ids = [s["keys"]["customer_id"][0] for s in subjects]
    assert remaining.where(F.col("customer_id").isin(ids)).count() == 0
    assert remaining.count() == totals[CUSTOMERS.path][0] - expected[CUSTOMERS.path]

    # A rewritten file of the copy is a new inode; the cached lake is as it was (hard links were safe).
    for done in report.datasets:
        for change in done.files_rewritten:
            original = lake.root / done.dataset / change.file
            assert (batched_root / done.dataset / change.file).stat().st_ino != original.stat().st_ino
    assert snapshot(lake.root) == cached_before

    # Plain rewrite of the same files, read from the cached originals (the bytes the batched run read).
    affected = {
        d.dataset: [f"file://{lake.root}/{d.dataset}/{c.file}" for c in d.files_rewritten] for d in report.datasets
    }
    every = [uri for uris in affected.values() for uri in uris]
    plain = plain_rewrite(spark, every, lake.work / "plain")
    progress(began, f"plain rewrite: {plain:.1f}s")
    bulk = bulk_copy(spark, affected, lake.work / "bulk")
    assert snapshot(lake.root) == cached_before

    rewritten = files_rewritten(report)
    files_total = sum(d.files_total for d in report.datasets)
    ratio = per_subject / batched
    verdict = "✅" if ratio >= TARGET else "❌"
    sampled_files = [files_rewritten(r) for _, r in passes]
    sampled_rows = [rows_changed(r) for _, r in passes]
    context = spark.sparkContext
    generation = (
        f"generated now in {lake.meta['seconds']:.0f}s"
        if lake.generated_now
        else f"cached (its generation took {lake.meta['seconds']:.0f}s)"
    )
    if lake.meta.get("generator") != generator_digest():
        generation += f"; written by another version of the generator (remove {lake.root} to write it anew)"
    rows = [
        ("measurement", "seconds", "ratio", "files rewritten / total", "rows changed"),
        (
            f"batched: 1 pass, {SUBJECTS:,} subjects",
            f"{batched:,.1f}",
            "",
            f"{rewritten:,} / {files_total:,}",
            " + ".join(f"{d.rows_changed:,} {d.action}d" for d in report.datasets),
        ),
        (
            f"per subject: {SUBJECTS:,} passes (extrapolated)",
            f"{per_subject:,.0f}",
            f"{ratio:,.1f}x batched {verdict} (target >= {TARGET:.0f}x)",
            "",
            "",
        ),
        (
            f"  sampled: {len(seconds)} passes, mean x {SUBJECTS:,}",
            f"{mean:,.1f} / pass",
            f"min {min(seconds):.1f}, max {max(seconds):.1f}",
            f"{min(sampled_files)}-{max(sampled_files)} / {files_total:,} per pass",
            f"{min(sampled_rows)}-{max(sampled_rows)} per pass",
        ),
        (
            "plain rewrite of the affected files",
            f"{plain:,.1f}",
            f"batched / plain = {batched / plain:.2f}x",
            f"{len(every):,} read + written",
            "",
        ),
        (
            "  bulk copy of the same files",
            f"{bulk:,.1f}",
            f"batched / bulk = {batched / bulk:.2f}x",
            f"{len(affected)} jobs",
            "",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    print(
        f"\nDSR erasure of {SUBJECTS:,} subjects: {os.cpu_count()} cores, Spark {context.master} "
        f"(default parallelism {context.defaultParallelism})\n"
        f"lake: {ROWS:,} orders, seed {SEED}, "
        + ", ".join(f"{path} {n:,} rows in {files:,} files" for path, (n, files) in totals.items())
        + f"; {generation}\n"
        + "\n".join(lines)
        + f"\nper subject: {len(seconds)} sampled single-subject passes after one warm-up pass ({warm_up:.1f}s, not "
        f"counted), each on the lake the previous one left; the {SUBJECTS:,}-pass figure is their mean x "
        f"{SUBJECTS:,}, a sampled extrapolation, not a measured run.\n"
        "batched and per-subject times are whole erase runs: the matching scan of both datasets, the rewrites "
        "(checksum, staged write, atomic swap per file) and the verification scan; every run verified.\n"
        f"batched phases: {phases(report)}.\n"
        "plain rewrite: every file the batched run rewrote, read by Spark and written as one file (coalesce(1)) to a "
        "staging directory, one job per file as the engine does, with no matching, checksums or swap; "
        "bulk copy: the same files read and written by one job per dataset."
    )

    bench.record("dsr erase: plain rewrite of the affected files", plain, "s")
    bench.record(
        f"dsr erase: batched, {SUBJECTS:,} subjects in 1 pass",
        batched,
        "s",
        baseline="dsr erase: plain rewrite of the affected files",
    )
    bench.record(
        f"dsr erase: {SUBJECTS:,} single-subject passes (extrapolated from {len(seconds)})",
        per_subject,
        "s",
        baseline=f"dsr erase: batched, {SUBJECTS:,} subjects in 1 pass",
    )
