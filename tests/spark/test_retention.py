"""The retention job counts expired rows without writing anything in a dry run; applied, it removes the files of
expired event partitions, deletes expired orders (removing fully expired files, rewriting mixed ones atomically),
anonymises expired customers, leaves unexpired rows and untouched files alone, changes nothing when re-run, verifies
that nothing expired is pending, and never reveals the hash key.

One generated lake (300 orders over 20 days from 2025-01-01, seed 11) is copied for each scenario. Expectations are
computed with Spark filters written independently of the engine's (SQL literals in the session's UTC).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.jobs import base, retention
from spark.privacy import erase as engine
from spark.privacy import rewrite
from spark.privacy.retention import RetentionPolicyError, parse_policy
from spark.schema import CUSTOMERS, ORDERS, USER_EVENTS

KEY = "test-retention-key-4c81d2e0"
KEY_ENV = "ECAP_TEST_RETENTION_KEY"
DATASETS = (USER_EVENTS.path, ORDERS.path, CUSTOMERS.path)
FIELDS = {
    "email": "hash",
    "first_name": "nullify",
    "last_name": "nullify",
    "phone": "mask",
    "postal_code": "postal_prefix",
    "date_of_birth": "year_only",
}
POLICY: dict[str, Any] = {
    "datasets": [
        # 00:30 on January 8 at +01:00 is 23:30 UTC on January 7: the days up to January 6 have ended by then.
        {
            "dataset": USER_EVENTS.path,
            "time_column": "event_date",
            "older_than": "2025-01-08T00:30:00+01:00",
            "action": "delete",
        },
        {
            "dataset": ORDERS.path,
            "time_column": "order_ts",
            "older_than": "2025-01-08T13:30:00+01:00",
            "action": "delete",
        },
        {
            "dataset": CUSTOMERS.path,
            "time_column": "updated_at",
            "older_than": "2025-01-01T00:00:00Z",
            "action": "anonymise",
            "fields": FIELDS,
        },
    ],
    "hash_key_env": KEY_ENV,
}
# The same cut-offs as SQL, in the session's time zone (UTC).
EXPIRED: dict[str, str] = {
    USER_EVENTS.path: "event_date < DATE'2025-01-07'",
    ORDERS.path: "order_ts < TIMESTAMP'2025-01-08 12:30:00'",
    CUSTOMERS.path: "updated_at < TIMESTAMP'2025-01-01 00:00:00'",
}
TIME_COLUMNS = {USER_EVENTS.path: "event_date", ORDERS.path: "order_ts", CUSTOMERS.path: "updated_at"}


def local(root: str, *parts: str) -> Path:
    return Path(root.removeprefix("file://"), *parts)


def files(root: str, path: str) -> dict[str, tuple[str, int]]:
    """Every data file of a dataset: relative path → (SHA-256, mtime in ns)."""
    base_dir = local(root, path)
    return {
        str(f.relative_to(base_dir)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns)
        for f in base_dir.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in f.relative_to(base_dir).parts)
    }


def read(spark: SparkSession, root: str, path: str) -> DataFrame:
    return spark.read.parquet(f"{root}/{path}")


def rows_json(df: DataFrame) -> list[str]:
    return sorted(r[0] for r in df.select(F.to_json(F.struct(*df.columns))).collect())


def is_expired(path: str) -> Column:
    return F.coalesce(F.expr(EXPIRED[path]), F.lit(False))


def relative(file_uri: str, root: str, path: str) -> str:
    return str(rewrite.local_path(file_uri).relative_to(local(root, path)))


def per_file(spark: SparkSession, root: str, path: str) -> dict[str, dict[str, Any]]:
    """Rows and expired rows of every file holding expired rows, from the lake before a run."""
    frame = read(spark, root, path).select(F.col("_metadata.file_path").alias("file"), is_expired(path).alias("old"))
    counted = frame.groupBy("file").agg(F.count("*").alias("rows"), F.sum(F.col("old").cast("int")).alias("expired"))
    return {relative(r["file"], root, path): r.asDict() for r in counted.where("expired > 0").collect()}


def copy_lake(source: str, target: Path) -> str:
    for path in DATASETS:
        shutil.copytree(local(source, path), target / path)
    return "file://" + str(target)


def args_for(root: str, policy: Any, *extra: str) -> Any:
    parser = base.base_parser(retention.NAME)
    retention.add_arguments(parser)
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return parser.parse_args(["--lake", root, "--policy", text, *extra])


@pytest.fixture(scope="module")
def shared_session(spark: SparkSession) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "get_spark", lambda name, **_: spark)
        yield


@pytest.fixture(scope="module")
def source_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    from spark.jobs.generate import generate_lake

    root = "file://" + str(tmp_path_factory.mktemp("retention_source"))
    generate_lake(spark, root, orders=300, seed=11, start=date(2025, 1, 1), days=20)
    return root


@pytest.fixture(scope="module")
def expected(spark: SparkSession, source_lake: str) -> dict[str, dict[str, Any]]:
    """Per dataset, from the source lake: expired rows, the files holding them, and the oldest and newest."""
    out = {}
    for path in DATASETS:
        frame = read(spark, source_lake, path)
        old = frame.where(is_expired(path))
        column = TIME_COLUMNS[path]
        text = "yyyy-MM-dd" if path == USER_EVENTS.path else "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
        bounds = old.agg(F.date_format(F.min(column), text), F.date_format(F.max(column), text)).first()
        holding = per_file(spark, source_lake, path)
        out[path] = {
            "rows": old.count(),
            "unexpired": rows_json(frame.where(~is_expired(path))),
            "files": holding,
            "fully": {name for name, f in holding.items() if f["rows"] == f["expired"]},
            "bytes": sum(local(source_lake, path, name).stat().st_size for name in holding),
            "oldest": bounds[0],
            "newest": bounds[1],
        }
    assert all(out[path]["rows"] > 0 for path in DATASETS)
    # Orders: some files expire whole (earlier days), some only in part (the cut-off's day).
    assert set() != out[ORDERS.path]["fully"] != set(out[ORDERS.path]["files"])
    return out


def as_moment(text: str) -> datetime:
    return datetime.fromisoformat(text if "+" in text else text + "+00:00")


@pytest.fixture(scope="module")
def dry_run(
    spark: SparkSession, source_lake: str, shared_session: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A dry run over a copy of the lake, without the hash key (a dry run hashes nothing)."""
    root = copy_lake(source_lake, tmp_path_factory.mktemp("retention_dry") / "lake")
    before = {path: files(root, path) for path in DATASETS}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(KEY_ENV, raising=False)
        summary = base.execute(retention.NAME, retention.run, args_for(root, POLICY, "--dry-run"), spark=spark).summary
    return {"root": root, "summary": summary, "before": before, "after": {p: files(root, p) for p in DATASETS}}


@pytest.fixture(scope="module")
def applied(
    spark: SparkSession, source_lake: str, shared_session: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The command line applying the policy over a copy of the lake, then the same policy again."""
    work = tmp_path_factory.mktemp("retention_applied")
    root = copy_lake(source_lake, work / "lake")
    (work / "policy.json").write_text(json.dumps(POLICY))
    before = {path: files(root, path) for path in DATASETS}
    customers_before = {r["customer_id"]: r for r in read(spark, root, CUSTOMERS.path).collect()}
    events, summary_file = work / "events.jsonl", work / "summary.json"
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logger = logging.getLogger()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                argv = [
                    "--lake",
                    root,
                    "--policy",
                    str(work / "policy.json"),
                    "--lineage-file",
                    str(events),
                    "--summary",
                    str(summary_file),
                ]
                status = base.main(retention.NAME, retention.add_arguments, retention.run, argv=argv)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous)
        summary = json.loads(stdout.getvalue().strip().splitlines()[-1].removeprefix(base.SUMMARY_PREFIX))
        after = {path: files(root, path) for path in DATASETS}
        second = base.execute(retention.NAME, retention.run, args_for(root, POLICY), spark=spark).summary
        yield {
            "root": root,
            "status": status,
            "summary": summary,
            "summary_file": summary_file,
            "second": second,
            "before": before,
            "after": after,
            "after_second": {path: files(root, path) for path in DATASETS},
            "customers_before": customers_before,
            "output": stdout.getvalue() + stderr.getvalue() + logs.getvalue(),
            "events": events,
        }


def test_a_dry_run_writes_nothing_and_counts_exactly_the_expired_rows(
    dry_run: dict[str, Any], expected: dict[str, dict[str, Any]]
) -> None:
    assert dry_run["after"] == dry_run["before"]  # same files, same bytes, same mtimes
    for path in DATASETS:
        assert not list(local(dry_run["root"], path).glob(f"{rewrite.STAGING_PREFIX}*"))
    summary = dry_run["summary"]
    assert summary["dry_run"] is True
    assert summary["verified"] is None
    for path in DATASETS:
        report, wanted = summary["datasets"][path], expected[path]
        assert report["rows_expired"] == report["rows_pending"] == wanted["rows"], path
        assert report["files_affected"] == len(wanted["files"]), path
        assert report["files_fully_expired"] == len(wanted["fully"]), path
        assert report["bytes_affected"] == wanted["bytes"], path
        if path == USER_EVENTS.path:
            assert (report["oldest_expiring"], report["newest_expiring"]) == (wanted["oldest"], wanted["newest"])
        else:
            assert as_moment(report["oldest_expiring"]) == as_moment(wanted["oldest"]), path
            assert as_moment(report["newest_expiring"]) == as_moment(wanted["newest"]), path
        assert report["rows_deleted"] == report["rows_anonymised"] == 0
        assert report["files_rewritten"] == report["files_removed"] == []
        assert report["files_untouched"] == report["files_total"] == len(dry_run["before"][path])
        assert report["verification"] is None
    assert summary["totals"]["rows_expired"] == sum(expected[p]["rows"] for p in DATASETS)
    assert summary["totals"]["files_removed"] == summary["totals"]["files_rewritten"] == 0


def test_expired_rows_are_deleted_and_only_they(
    spark: SparkSession, applied: dict[str, Any], expected: dict[str, dict[str, Any]]
) -> None:
    assert applied["status"] == 0
    for path in (USER_EVENTS.path, ORDERS.path):
        after = read(spark, applied["root"], path)
        assert after.where(is_expired(path)).count() == 0, path
        assert rows_json(after) == expected[path]["unexpired"], path


def test_whole_expired_files_are_removed_and_partly_expired_ones_rewritten(
    applied: dict[str, Any], expected: dict[str, dict[str, Any]]
) -> None:
    for path in (USER_EVENTS.path, ORDERS.path):
        before, after = applied["before"][path], applied["after"][path]
        report = applied["summary"]["datasets"][path]
        removed = {f["file"]: f for f in report["files_removed"]}
        rewritten = {f["file"]: f for f in report["files_rewritten"]}
        assert set(removed) == expected[path]["fully"], path
        assert set(rewritten) == set(expected[path]["files"]) - expected[path]["fully"], path
        assert set(after) == set(before) - set(removed), path
        for name, entry in removed.items():
            assert entry["sha256_before"] == before[name][0]
            assert entry["rows"] == expected[path]["files"][name]["rows"]
            assert not local(applied["root"], path, name).with_name(f".{Path(name).name}.crc").exists()
        for name, entry in rewritten.items():
            assert entry["sha256_before"] == before[name][0]
            assert entry["sha256_after"] == after[name][0] != before[name][0]
            assert entry["rows"] == expected[path]["files"][name]["expired"]
        for name in set(before) - set(removed) - set(rewritten):
            assert after[name] == before[name], name  # same bytes, same mtime
        assert report["files_untouched"] == len(before) - len(removed) - len(rewritten)
        assert report["rows_deleted"] == expected[path]["rows"]
        assert not list(local(applied["root"], path).glob(f"{rewrite.STAGING_PREFIX}*"))
        assert not list(local(applied["root"], path).rglob(f"*{rewrite.TMP_SUFFIX}"))
    events = applied["summary"]["datasets"][USER_EVENTS.path]
    assert events["files_rewritten"] == []  # a partition is expired whole or not at all
    assert {Path(f["file"]).parent.name for f in events["files_removed"]} == {
        f"event_date=2025-01-0{day}" for day in range(1, 7)
    }


def test_expired_customers_are_anonymised_and_the_others_untouched(
    spark: SparkSession, applied: dict[str, Any], expected: dict[str, dict[str, Any]]
) -> None:
    after = read(spark, applied["root"], CUSTOMERS.path)
    assert rows_json(after.where(~is_expired(CUSTOMERS.path))) == expected[CUSTOMERS.path]["unexpired"]
    old = after.where(is_expired(CUSTOMERS.path)).collect()
    assert len(old) == expected[CUSTOMERS.path]["rows"]
    for row in old:
        was = applied["customers_before"][row["customer_id"]]
        assert row["email"] == (None if was["email"] is None else engine.keyed_hash(KEY.encode(), was["email"]))
        assert row["first_name"] is None
        assert row["last_name"] is None
        assert row["phone"] is None or row["phone"][1:-1] == "*" * (len(row["phone"]) - 2)
        assert row["postal_code"] == (was["postal_code"] and was["postal_code"][:3])
        dob = was["date_of_birth"]
        assert row["date_of_birth"] == (dob and date(dob.year, 1, 1))
        unchanged = set(CUSTOMERS.columns) - set(FIELDS)
        assert {c: row[c] for c in unchanged} == {c: was[c] for c in unchanged}
    report = applied["summary"]["datasets"][CUSTOMERS.path]
    assert report["rows_anonymised"] == expected[CUSTOMERS.path]["rows"]
    assert report["files_removed"] == []
    assert [(f.name, f.dataType) for f in after.schema.fields] == [
        (f.name, f.dataType) for f in CUSTOMERS.schema.fields
    ]


def test_the_summary_verifies_and_totals_the_run(applied: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    summary = applied["summary"]
    assert summary["dry_run"] is False
    assert summary["verified"] is True
    for path in DATASETS:
        report = summary["datasets"][path]
        assert report["verification"] == {"pending": 0, "verified": True}
        assert report["rows_expired"] == expected[path]["rows"]
        assert report["started_at"] <= report["finished_at"]
    totals = summary["totals"]
    assert totals["rows_deleted"] == expected[USER_EVENTS.path]["rows"] + expected[ORDERS.path]["rows"]
    assert totals["rows_anonymised"] == expected[CUSTOMERS.path]["rows"]
    assert totals["files_removed"] == sum(len(summary["datasets"][p]["files_removed"]) for p in DATASETS)
    assert json.loads(applied["summary_file"].read_text()) == summary


def test_a_second_run_changes_nothing(applied: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    second = applied["second"]
    assert applied["after_second"] == applied["after"]
    assert second["totals"]["rows_pending"] == 0
    assert second["totals"]["files_rewritten"] == second["totals"]["files_removed"] == 0
    assert second["datasets"][USER_EVENTS.path]["rows_expired"] == 0
    assert second["datasets"][CUSTOMERS.path]["rows_already_anonymised"] == expected[CUSTOMERS.path]["rows"]
    assert second["verified"] is True


def test_the_hash_key_never_appears_in_output_and_lineage_masks_anonymised_columns(
    applied: dict[str, Any], validate_openlineage: Any
) -> None:
    assert "retention raw/user_events: removed" in applied["output"]  # the log was captured
    for text in (json.dumps(applied["summary"]), applied["output"], applied["events"].read_text()):
        assert KEY not in text
    events = [json.loads(line) for line in applied["events"].read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_openlineage(event)
    complete = events[1]
    assert [i["name"] for i in complete["inputs"]] == list(DATASETS)
    outputs = {o["name"]: o for o in complete["outputs"]}
    assert list(outputs) == list(DATASETS)
    masked = outputs[CUSTOMERS.path]["facets"]["columnLineage"]["fields"]["email"]["inputFields"][0]
    assert masked["transformations"][0]["masking"] is True
    statistics = outputs[USER_EVENTS.path]["outputFacets"]["outputStatistics"]
    assert statistics["fileCount"] == len(applied["summary"]["datasets"][USER_EVENTS.path]["files_removed"])


def rule(**changes: Any) -> dict[str, Any]:
    return {"dataset": ORDERS.path, "time_column": "order_ts", "older_than": "2025-01-08T00:00:00+00:00", **changes}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("{not json", "the policy is not valid JSON"),
        ("/nonexistent/policy.json", "cannot read the policy file"),
        ('{"datasets": []}', "policy.datasets must be a non-empty list"),
        (
            json.dumps({"datasets": [rule(action="delete", older_than="2025-01-08T00:00:00")]}),
            r"datasets\[0\].older_than must be an ISO 8601 date-time with a UTC offset",
        ),
        (json.dumps({"datasets": [rule(action="shred")]}), r"datasets\[0\].action must be one of delete, anonymise"),
    ],
)
def test_a_bad_policy_fails_the_cli_with_a_clear_error(
    policy: str, message: str, shared_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--lake", str(tmp_path), "--policy", policy]
    status = base.main(retention.NAME, retention.add_arguments, retention.run, argv)
    captured = capsys.readouterr()
    assert status == 1
    assert "RetentionPolicyError" in captured.err
    assert re.search(message, captured.err)
    assert base.SUMMARY_PREFIX not in captured.out


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (rule(action="delete", fields={"ip_address": "mask"}), r"datasets\[0\]: a delete takes no fields"),
        (rule(action="anonymise"), r"datasets\[0\]: an anonymise needs fields"),
        (rule(action="anonymise", fields={"ip_address": "scramble"}), "unknown strategies"),
        (rule(action="anonymise", fields={"ip_address": "random"}), "checkable strategy"),
        (rule(action="anonymise", fields={"order_ts": "year_only"}), "cannot anonymise the time column 'order_ts'"),
        (rule(action="delete", time_column=""), r"datasets\[0\].time_column must name a column"),
        (rule(action="delete", dataset="../etc"), "unsafe dataset path"),
        (rule(action="delete", older_than="last year"), r"datasets\[0\].older_than must be an ISO 8601"),
    ],
)
def test_policy_rules_are_checked_before_anything_runs(item: dict[str, Any], message: str) -> None:
    with pytest.raises(RetentionPolicyError, match=message) as caught:
        parse_policy({"datasets": [item]})
    assert caught.value.code == "invalid_retention_policy"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (rule(action="delete", time_column="shipped_at"), r"datasets\[1\].time_column: raw/orders has no column"),
        (rule(action="delete", time_column="status"), r"raw/orders.status is a string column, not a date or"),
        (rule(action="anonymise", fields={"iban": "mask"}), r"datasets\[1\].fields: raw/orders has no columns"),
        (rule(action="anonymise", fields={"order_date": "year_only"}), "cannot anonymise partition columns"),
    ],
)
def test_a_policy_the_dataset_cannot_take_is_refused_before_anything_is_written(
    spark: SparkSession, source_lake: str, item: dict[str, Any], message: str, tmp_path: Path
) -> None:
    root = copy_lake(source_lake, tmp_path / "lake")
    before = {path: files(root, path) for path in DATASETS}
    policy = {"datasets": [POLICY["datasets"][0], item]}  # the first rule is fine, and is not applied either
    with pytest.raises(RetentionPolicyError, match=message):
        base.execute(retention.NAME, retention.run, args_for(root, policy), spark=spark)
    assert {path: files(root, path) for path in DATASETS} == before


def test_applying_a_hashing_policy_without_its_key_is_refused(
    spark: SparkSession, source_lake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(RetentionPolicyError, match=f"{KEY_ENV} is not set"):
        base.execute(retention.NAME, retention.run, args_for(source_lake, POLICY), spark=spark)
