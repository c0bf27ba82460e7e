"""The ``dsr_erase`` job SIGKILLed (its whole process group: the Python driver and Spark's JVM, as when its container
is lost) while it rewrites a small local lake, after replacing one file of a table and while writing the next:

- what readers see stays consistent: every visible data file reads whole and is either its old version or its
  complete new one (the subject's rows in it all present or all gone, every other row unchanged), every table reads
  with its rows all there, and what the killed run was writing is only in hidden staging files;
- running the job again finishes the erasure: it clears the leftovers, rewrites only the files still holding the
  subject (not the one already replaced), and afterwards the subject is gone from every table, every other row is
  intact and the row counts add up.

The job replaces files one at a time, each atomically: a table whose subject rows span several files can be seen
with some of them replaced until the run is repeated (the killed run never reported success, so the portal runs it
again); no file is ever seen half written.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark.jobs import base, dsr_erase
from spark.privacy import rewrite
from spark.privacy.erase import keyed_hash
from tests.conftest import ROOT
from tests.spark.conftest import spark  # noqa: F401 - the shared local Spark session

pytestmark = pytest.mark.slow

KEY = "fault-test-hmac-key-0c7d1e"
KEY_ENV = "ECAP_FAULT_DSR_KEY"
SUBJECT_ID, SUBJECT_EMAIL = "c-0005", "ana@example.com"
CUSTOMERS, ORDERS, SEGMENTS = "raw/customers", "raw/orders", "analytics/customer_segments"
TABLES = (CUSTOMERS, ORDERS, SEGMENTS)


def _customer(i: int) -> dict[str, Any]:
    email = SUBJECT_EMAIL if i == 5 else f"person{i}@example.com"
    return {"customer_id": f"c-{i:04d}", "email": email, "first_name": f"Name{i}", "country": "DE"}


def _order(n: int, customer: int) -> dict[str, Any]:
    return {"order_id": f"o-{n:04d}", "customer_id": f"c-{customer:04d}", "ip_address": f"10.0.0.{n}", "amount": 1.5}


# Each inner list is one file. The subject (customer 5) has orders in two files of three, one row in the other tables.
LAKE: dict[str, list[list[dict[str, Any]]]] = {
    CUSTOMERS: [[_customer(i) for i in range(5)], [_customer(i) for i in range(5, 10)]],
    ORDERS: [
        [_order(1, 1), _order(2, 5), _order(3, 2), _order(4, 5)],
        [_order(5, 3), _order(6, 5), _order(7, 4)],
        [_order(8, 6), _order(9, 7), _order(10, 8)],
    ],
    SEGMENTS: [
        [{"customer_id": f"c-{i:04d}", "segment": i % 3} for i in range(5)],
        [{"customer_id": f"c-{i:04d}", "segment": i % 3} for i in range(5, 10)],
    ],
}
PLAN = {
    "subjects": [{"id": str(uuid.UUID(int=5)), "keys": {"customer_id": [SUBJECT_ID], "email": [SUBJECT_EMAIL]}}],
    "datasets": [
        {"dataset": CUSTOMERS, "keys": {"customer_id": "customer_id", "email": "email"}, "action": "delete"},
        {
            "dataset": ORDERS,
            "keys": {"customer_id": "customer_id"},
            "action": "anonymise",
            "fields": {"customer_id": "hash", "ip_address": "mask"},
        },
        {"dataset": SEGMENTS, "keys": {"customer_id": "customer_id"}, "action": "delete"},
    ],
    "hash_key_env": KEY_ENV,
}


def write_lake(spark: SparkSession, root: Path) -> dict[str, dict[str, int]]:  # noqa: F811
    """Write ``LAKE`` under ``root``, one Parquet file per chunk; returns per table each file's number of rows."""
    written: dict[str, dict[str, int]] = {}
    for table, chunks in LAKE.items():
        schema = spark.createDataFrame(chunks[0]).schema
        # One partition per chunk, so one file each (``part-<partition>-…``), in a single write.
        partitions = spark.sparkContext.parallelize(chunks, len(chunks)).flatMap(lambda rows: rows)
        spark.createDataFrame(partitions, schema).write.parquet(f"file://{root / table}")
        names = sorted(visible_files(root, table))
        assert len(names) == len(chunks)
        written[table] = {name: len(rows) for name, rows in zip(names, chunks, strict=True)}
    return written


def visible_files(root: Path, table: str) -> dict[str, str]:
    """The data files readers see (Spark and Arrow skip names starting with ``_`` or ``.``): name → SHA-256."""
    directory = root / table
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in directory.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in path.relative_to(directory).parts)
    }


ORDERS_OF = {o["order_id"] for rows in LAKE[ORDERS] for o in rows if o["customer_id"] == SUBJECT_ID}


def names_subject(row: dict[str, Any]) -> bool:
    """Whether a row still names the subject by its raw customer id or e-mail."""
    return row["customer_id"] == SUBJECT_ID or row.get("email") == SUBJECT_EMAIL


def of_subject(row: dict[str, Any]) -> bool:
    """Whether a row is the subject's (an order by its order id, whatever its customer id has become)."""
    return names_subject(row) or row.get("order_id") in ORDERS_OF


def as_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in sorted(row))


def read_table(spark: SparkSession, root: Path, table: str) -> dict[str, list[dict[str, Any]]]:  # noqa: F811
    """A table as readers see it (one read of its directory): per data file, its rows."""
    df = spark.read.parquet(f"file://{root / table}")
    files: dict[str, list[dict[str, Any]]] = {}
    for row in df.select("*", F.col("_metadata.file_path").alias("__file")).collect():
        values = row.asDict()
        name = str(rewrite.local_path(values.pop("__file")).relative_to(root / table))
        files.setdefault(name, []).append(values)
    return files


def others(files: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """Every row not of the subject, in a stable order."""
    return sorted(as_tuple(row) for rows in files.values() for row in rows if not of_subject(row))


def others_written(table: str) -> list[tuple[Any, ...]]:
    return sorted(as_tuple(row) for rows in LAKE[table] for row in rows if not of_subject(row))


def run_job(root: Path, plan_path: Path, log: Path) -> subprocess.Popen[bytes]:
    """The job as the local backend runs it: its own process (and process group), plain arguments."""
    command = [sys.executable, "-m", "spark.jobs.dsr_erase", "--lake", f"file://{root}", "--plan", str(plan_path)]
    # Local mode sized for a lake of a few rows (two threads, two shuffle partitions, a JVM tuned to start fast).
    submit = (
        "--master local[2] --driver-memory 1g --conf spark.ui.enabled=false --conf spark.sql.shuffle.partitions=2 "
        "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell"
    )
    env = {**os.environ, KEY_ENV: KEY, "PYSPARK_SUBMIT_ARGS": submit}
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_when_writing_the_second_file(job: subprocess.Popen[bytes], orders: Path, log: Path) -> None:
    """SIGKILL the job's process group as soon as it stages the replacement of its second file of the orders (its
    staging directory ``<n>`` is created when Spark starts writing file ``n``, after file ``n - 1`` was put in
    place)."""
    deadline = time.monotonic() + 90
    while not any(orders.glob(f"{rewrite.STAGING_PREFIX}*/1")):
        if job.poll() is not None:
            pytest.fail(f"the job ended (status {job.returncode}) before it was killed:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(job.pid, signal.SIGKILL)
            pytest.fail("the job never started writing")
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=20)


def test_a_killed_erasure_leaves_whole_files_and_a_rerun_finishes_it(
    spark: SparkSession,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "lake"
    file_rows = write_lake(spark, root)
    before = {table: visible_files(root, table) for table in TABLES}
    rows_before = {table: sum(len(rows) for rows in LAKE[table]) for table in TABLES}
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(PLAN))

    log = tmp_path / "job.log"
    kill_when_writing_the_second_file(run_job(root, plan_path, log), root / ORDERS, log)

    # What the killed run was writing is hidden from readers.
    assert list((root / ORDERS).glob(f"{rewrite.STAGING_PREFIX}*"))
    after_kill = {table: visible_files(root, table) for table in TABLES}
    for table in TABLES:
        assert set(after_kill[table]) == set(before[table]), table  # no file visible that was not there
        replaced = {name for name, digest in after_kill[table].items() if digest != before[table][name]}
        # Each file reads whole, all its rows there; one replaced holds the complete new version, nothing of the
        # subject left in it (the others hold their old bytes, the subject's rows in them untouched).
        found = read_table(spark, root, table)
        assert set(found) == set(before[table]), table
        for name, rows in found.items():
            assert len(rows) == file_rows[table][name], (table, name)
            if name in replaced:
                assert not any(names_subject(row) for row in rows), (table, name)
        assert others(found) == others_written(table), table  # nothing else lost, changed or doubled
        if table != ORDERS:
            assert not replaced, table  # the orders are rewritten first; the job died in them
    replaced_orders = {n for n, d in after_kill[ORDERS].items() if d != before[ORDERS][n]}
    assert len(replaced_orders) == 1  # one file of the orders put in place before the kill
    left = [row for rows in read_table(spark, root, ORDERS).values() for row in rows if names_subject(row)]
    assert 0 < len(left) < len(ORDERS_OF)  # the subject's orders, some pseudonymised, the rest not yet

    # Running the job again (here in this process, with the same arguments) finishes the erasure.
    monkeypatch.setenv(KEY_ENV, KEY)
    parser = base.base_parser(dsr_erase.NAME)
    dsr_erase.add_arguments(parser)
    args = parser.parse_args(["--lake", f"file://{root}", "--plan", str(plan_path)])
    summary = base.execute(dsr_erase.NAME, dsr_erase.run, args, spark=spark).summary
    assert summary["verified"] is True
    report = summary["datasets"][ORDERS]
    assert report["leftovers_removed"] >= 1
    still_old = {n for n in before[ORDERS] if n not in replaced_orders}
    rewritten = {f["file"] for f in report["files_rewritten"]}
    assert rewritten < still_old  # the file already replaced is not rewritten again
    assert len(rewritten) == 1
    assert not [p for p in root.rglob("*") if p.name.startswith(rewrite.STAGING_PREFIX)]
    assert not list(root.rglob(f"*{rewrite.TMP_SUFFIX}"))

    final = {table: read_table(spark, root, table) for table in TABLES}
    for table, files in final.items():
        assert not any(names_subject(row) for rows in files.values() for row in rows), table
        assert others(files) == others_written(table), table
    count = {table: sum(len(rows) for rows in files.values()) for table, files in final.items()}
    assert count[CUSTOMERS] == rows_before[CUSTOMERS] - 1
    assert count[SEGMENTS] == rows_before[SEGMENTS] - 1
    assert count[ORDERS] == rows_before[ORDERS]  # kept for tax, pseudonymised
    pseudonym = keyed_hash(KEY.encode(), SUBJECT_ID)
    anonymised = [row for rows in final[ORDERS].values() for row in rows if row["order_id"] in ORDERS_OF]
    assert {row["customer_id"] for row in anonymised} == {pseudonym}
    assert {row["ip_address"] for row in anonymised} == {"1******2", "1******4", "1******6"}
