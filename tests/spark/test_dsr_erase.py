"""The dsr_erase job deletes five customers and anonymises their orders in place, rewriting only the files that hold
them, atomically; leaves every other row and file alone; changes nothing when re-run; survives a crash mid-rewrite;
verifies that nothing of the subjects is left; and never reveals the hash key. A subject known by its email alone
has its customer id resolved from raw/customers, so its orders are anonymised and verified too; a key column that is
not a personal identifier is refused.

One generated lake (400 orders, seed 7) is copied for each scenario; the main scenario runs the command line once
and then the same plan a second time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.jobs import base, dsr_erase
from spark.privacy import erase as engine
from spark.privacy import rewrite
from spark.schema import CUSTOMERS, ORDERS

KEY = "test-hmac-key-5f1e0c9a7b"
KEY_ENV = "ECAP_TEST_DSR_KEY"
DATASETS = (CUSTOMERS.path, ORDERS.path)


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


def hmac_hex(value: str) -> str:
    return engine.keyed_hash(KEY.encode(), value)


def plan_for(subjects: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "subjects": subjects,
        "datasets": [
            {"dataset": CUSTOMERS.path, "keys": {"customer_id": "customer_id", "email": "email"}, "action": "delete"},
            {
                "dataset": ORDERS.path,
                "keys": {"customer_id": "customer_id"},
                "action": "anonymise",
                "fields": {"customer_id": "hash", "ip_address": "mask"},
            },
        ],
        "hash_key_env": KEY_ENV,
    }


def copy_lake(source: str, target: Path) -> str:
    for path in DATASETS:
        shutil.copytree(local(source, path), target / path)
    return "file://" + str(target)


def args_for(root: str, plan: Any, *extra: str) -> Any:
    parser = base.base_parser(dsr_erase.NAME)
    dsr_erase.add_arguments(parser)
    text = plan if isinstance(plan, str) else json.dumps(plan)
    return parser.parse_args(["--lake", root, "--plan", text, *extra])


@pytest.fixture(scope="module")
def hash_key() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        yield


@pytest.fixture(scope="module")
def shared_session(spark: SparkSession) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "get_spark", lambda name, **_: spark)
        yield


@pytest.fixture(scope="module")
def source_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    from spark.jobs.generate import generate_lake

    root = "file://" + str(tmp_path_factory.mktemp("dsr_source"))
    generate_lake(spark, root, orders=400, seed=7)
    return root


@pytest.fixture(scope="module")
def subjects(spark: SparkSession, source_lake: str) -> list[dict[str, Any]]:
    """Five customers with orders and an email; the email is given in another case and padded, as people type it."""
    orders = read(spark, source_lake, ORDERS.path).groupBy("customer_id").count()
    chosen = (
        read(spark, source_lake, CUSTOMERS.path)
        .where(F.col("email").rlike("^[^@]+@[^@]+$"))
        .join(orders, "customer_id")
        .orderBy("customer_id")
        .limit(5)
        .collect()
    )
    assert len(chosen) == 5
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, row["customer_id"])),
            "keys": {"customer_id": [row["customer_id"]], "email": [f"  {row['email'].upper()} "]},
            "customer_id": row["customer_id"],
            "orders": row["count"],
        }
        for row in chosen
    ]


@pytest.fixture(scope="module")
def erased(
    spark: SparkSession,
    source_lake: str,
    subjects: list[dict[str, Any]],
    hash_key: None,
    shared_session: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The command line run over a copy of the lake, then the same plan again; with what was there before."""
    work = tmp_path_factory.mktemp("dsr_erased")
    root = copy_lake(source_lake, work / "lake")
    before = {path: files(root, path) for path in DATASETS}
    rows_before = {path: rows_json(read(spark, root, path)) for path in DATASETS}
    plan = plan_for([{"id": s["id"], "keys": s["keys"]} for s in subjects])
    (work / "plan.json").write_text(json.dumps(plan))
    events = work / "events.jsonl"
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logger = logging.getLogger()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            argv = ["--lake", root, "--plan", str(work / "plan.json"), "--lineage-file", str(events)]
            status = base.main(dsr_erase.NAME, dsr_erase.add_arguments, dsr_erase.run, argv=argv)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    last = stdout.getvalue().strip().splitlines()[-1]
    summary = json.loads(last.removeprefix(base.SUMMARY_PREFIX))
    after = {path: files(root, path) for path in DATASETS}
    second = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    return {
        "root": root,
        "status": status,
        "summary": summary,
        "second": second,
        "before": before,
        "after": after,
        "after_second": {path: files(root, path) for path in DATASETS},
        "rows_before": rows_before,
        "output": stdout.getvalue() + stderr.getvalue() + logs.getvalue(),
        "events": events,
    }


def test_subjects_customer_rows_are_deleted_and_their_orders_anonymised(
    spark: SparkSession, erased: dict[str, Any], subjects: list[dict[str, Any]]
) -> None:
    assert erased["status"] == 0
    root = erased["root"]
    ids = [s["customer_id"] for s in subjects]
    customers = read(spark, root, CUSTOMERS.path)
    assert customers.where(F.col("customer_id").isin(ids)).count() == 0
    assert customers.count() == len(erased["rows_before"][CUSTOMERS.path]) - 5
    orders = read(spark, root, ORDERS.path)
    assert orders.count() == len(erased["rows_before"][ORDERS.path])
    assert orders.where(F.col("customer_id").isin(ids)).count() == 0
    for subject in subjects:
        theirs = orders.where(F.col("customer_id") == hmac_hex(subject["customer_id"])).collect()
        assert len(theirs) == subject["orders"]
        for row in theirs:
            ip = row["ip_address"]
            assert ip is None or (ip[1:-1] == "*" * (len(ip) - 2) and len(ip) > 2), ip
    assert [(f.name, f.dataType) for f in orders.schema.fields] == [(f.name, f.dataType) for f in ORDERS.schema.fields]


def test_rows_of_other_people_are_untouched(
    spark: SparkSession, erased: dict[str, Any], subjects: list[dict[str, Any]]
) -> None:
    ids = {s["customer_id"] for s in subjects}
    hashed = {hmac_hex(i) for i in ids}
    for path in DATASETS:
        others_before = [r for r in erased["rows_before"][path] if json.loads(r).get("customer_id") not in ids]
        others_after = [
            r for r in rows_json(read(spark, erased["root"], path)) if json.loads(r).get("customer_id") not in hashed
        ]
        assert others_after == others_before, path


def test_only_files_holding_subjects_are_rewritten(erased: dict[str, Any]) -> None:
    for path in DATASETS:
        before, after = erased["before"][path], erased["after"][path]
        assert set(before) == set(after), path  # no file added or removed
        report = erased["summary"]["datasets"][path]
        rewritten = {f["file"]: f for f in report["files_rewritten"]}
        assert rewritten, path
        for name, (checksum, mtime) in before.items():
            if name in rewritten:
                assert rewritten[name]["sha256_before"] == checksum
                assert rewritten[name]["sha256_after"] == after[name][0] != checksum
            else:
                assert after[name] == (checksum, mtime), name  # same bytes, same mtime
        assert report["files_untouched"] == len(before) - len(rewritten) == report["files_total"] - len(rewritten)
        assert not list(local(erased["root"], path).glob(f"{rewrite.STAGING_PREFIX}*"))


def test_the_summary_counts_rows_per_subject_and_verifies_nothing_is_left(
    erased: dict[str, Any], subjects: list[dict[str, Any]]
) -> None:
    summary = erased["summary"]
    customers, orders = summary["datasets"][CUSTOMERS.path], summary["datasets"][ORDERS.path]
    assert customers["rows_matched"] == {s["id"]: 1 for s in subjects}
    assert customers["rows_deleted"] == 5
    assert orders["rows_matched"] == {s["id"]: s["orders"] for s in subjects}
    assert orders["rows_anonymised"] == sum(s["orders"] for s in subjects)
    assert summary["totals"]["rows_deleted"] == 5
    assert summary["subjects"] == [s["id"] for s in subjects]
    for report in summary["datasets"].values():
        assert report["started_at"] <= report["finished_at"]
    assert summary["verification"][CUSTOMERS.path] == {
        "raw_matches": 0,
        "hashed_matches": 0,
        "pending": 0,
        "verified": True,
    }
    assert summary["verification"][ORDERS.path] == {
        "raw_matches": 0,
        "hashed_matches": sum(s["orders"] for s in subjects),  # the pseudonymised orders are still there
        "pending": 0,
        "verified": True,
    }
    assert summary["verified"] is True
    assert summary["resolved"] == {s["id"]: {} for s in subjects}  # every identity was in the plan already


def test_a_second_run_of_the_same_plan_changes_nothing(erased: dict[str, Any]) -> None:
    second = erased["second"]
    assert second["totals"]["files_rewritten"] == 0
    assert all(kinds == {} for kinds in second["resolved"].values())
    for path in DATASETS:
        assert second["datasets"][path]["rows_matched_total"] == 0
        assert second["verification"][path]["pending"] == 0
    assert erased["after_second"] == erased["after"]


def test_identity_values_and_the_hash_key_never_appear_in_output(
    erased: dict[str, Any], subjects: list[dict[str, Any]]
) -> None:
    texts = [
        json.dumps(erased["summary"]),
        json.dumps(erased["second"]),
        erased["output"],
        erased["events"].read_text(),
    ]
    assert "in part-" in erased["output"] or "order_date=" in erased["output"]  # the log was captured
    for text in texts:
        assert KEY not in text
        for subject in subjects:
            assert subject["keys"]["email"][0].strip().lower() not in text.lower()


def test_lineage_lists_the_datasets_as_inputs_and_outputs(erased: dict[str, Any], validate_openlineage: Any) -> None:
    events = [json.loads(line) for line in erased["events"].read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_openlineage(event)
    complete = events[1]
    assert [i["name"] for i in complete["inputs"]] == list(DATASETS)
    outputs = {o["name"]: o for o in complete["outputs"]}
    assert list(outputs) == list(DATASETS)
    masked = outputs[ORDERS.path]["facets"]["columnLineage"]["fields"]["customer_id"]["inputFields"][0]
    assert masked["transformations"][0]["masking"] is True
    statistics = outputs[ORDERS.path]["outputFacets"]["outputStatistics"]
    assert statistics["fileCount"] == erased["summary"]["datasets"][ORDERS.path]["files_rewritten_count"]


def test_a_crash_mid_rewrite_leaves_whole_files_and_a_rerun_completes(
    spark: SparkSession,
    source_lake: str,
    subjects: list[dict[str, Any]],
    erased: dict[str, Any],
    hash_key: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = copy_lake(source_lake, tmp_path / "lake")
    before = files(root, ORDERS.path)
    plan = plan_for([{"id": s["id"], "keys": s["keys"]} for s in subjects])
    plan["datasets"] = plan["datasets"][1:]  # orders only: many files
    calls = {"n": 0}
    real_fsync = rewrite._fsync

    def failing_fsync(path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # two commits done (two fsyncs each); the third dies after staging its temp file
            raise OSError("disk went away")
        real_fsync(path)

    monkeypatch.setattr(rewrite, "_fsync", failing_fsync)
    with pytest.raises(OSError, match="disk went away"):
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark)
    monkeypatch.setattr(rewrite, "_fsync", real_fsync)

    crashed = files(root, ORDERS.path)
    assert set(crashed) == set(before)
    changed = [name for name in before if crashed[name][0] != before[name][0]]
    assert len(changed) == 2
    ids = [s["customer_id"] for s in subjects]
    # Each file is whole: every one reads as Parquet, and holds either its old bytes or no raw subject rows.
    every = spark.read.parquet(*[f"{root}/{ORDERS.path}/{name}" for name in sorted(before)])
    per_file = every.groupBy(F.col("_metadata.file_path").alias("file")).agg(
        F.count("*").alias("rows"), F.sum(F.col("customer_id").isin(ids).cast("int")).alias("subjects")
    )
    found = {str(rewrite.local_path(r["file"]).relative_to(local(root, ORDERS.path))): r for r in per_file.collect()}
    assert set(found) == set(before)
    assert all(found[name]["subjects"] == 0 for name in changed)
    leftovers = list(local(root, ORDERS.path).rglob(f"*{rewrite.TMP_SUFFIX}"))
    assert len(leftovers) == 1  # the temp file of the third, hidden from readers
    assert read(spark, root, ORDERS.path).count() == len(erased["rows_before"][ORDERS.path])

    summary = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    report = summary["datasets"][ORDERS.path]
    total = len(erased["summary"]["datasets"][ORDERS.path]["files_rewritten"])
    assert report["files_rewritten_count"] == total - 2
    assert report["leftovers_removed"] == 1
    assert not list(local(root, ORDERS.path).rglob(f"*{rewrite.TMP_SUFFIX}"))
    assert summary["verification"][ORDERS.path]["pending"] == 0
    assert rows_json(read(spark, root, ORDERS.path)) == rows_json(read(spark, erased["root"], ORDERS.path))


def test_every_strategy_keeps_types_and_an_anonymised_row_is_not_rewritten_again(
    spark: SparkSession, hash_key: None, tmp_path: Path
) -> None:
    root = "file://" + str(tmp_path)
    rows = [
        ("c1", "Ann.Lee@Example.com", "Ann", "Lee", "+4915112345", date(1990, 7, 14), "10115", "2024-05-06 10:30:00"),
        ("c2", "bo@example.com", "Bo", "Ng", "+4915100000", date(1985, 3, 2), "80331", "2024-02-01 00:00:00"),
    ]
    columns = ["customer_id", "email", "first_name", "last_name", "phone", "date_of_birth", "postal_code"]
    written = spark.createDataFrame(rows, [*columns, "created_at"]).withColumn(
        "created_at", F.to_timestamp("created_at")
    )
    written.coalesce(1).write.parquet(f"{root}/{CUSTOMERS.path}")
    schema = read(spark, root, CUSTOMERS.path).schema
    plan = {
        "subjects": [{"id": str(uuid.uuid4()), "keys": {"email": [" ann.lee@example.COM"]}}],
        "datasets": [
            {
                "dataset": CUSTOMERS.path,
                "keys": {"email": "email", "customer_id": "customer_id"},  # customer_id is kept as it is
                "action": "anonymise",
                "fields": {
                    "email": "hash",
                    "phone": "mask",
                    "postal_code": "postal_prefix",
                    "date_of_birth": "year_only",
                    "created_at": "year_only",
                    "first_name": "nullify",
                    "last_name": "random",
                },
            }
        ],
        "hash_key_env": KEY_ENV,
    }
    plan["subjects"][0]["keys"]["customer_id"] = ["c1"]
    first = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    assert first["datasets"][CUSTOMERS.path]["rows_anonymised"] == 1
    written_back = read(spark, root, CUSTOMERS.path)
    as_text = F.date_format("created_at", "yyyy-MM-dd HH:mm:ss").alias("created_at_text")
    after = {r["customer_id"]: r for r in written_back.select(*columns, as_text).collect()}
    ann = after["c1"]
    assert ann["email"] == hmac_hex("ann.lee@example.com")
    assert ann["phone"] == "+*********5"
    assert ann["postal_code"] == "101"
    assert ann["date_of_birth"] == date(1990, 1, 1)
    assert ann["created_at_text"] == "2024-01-01 00:00:00"
    assert ann["first_name"] is None
    assert len(ann["last_name"]) == 3
    assert ann["last_name"] != "Lee"
    assert after["c2"] == tuple(rows[1])
    assert read(spark, root, CUSTOMERS.path).schema == schema
    checksum = files(root, CUSTOMERS.path)

    second = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    report = second["datasets"][CUSTOMERS.path]
    assert report["files_rewritten_count"] == 0
    assert report["rows_already_anonymised"] == 1  # still matched by its kept customer_id, but already done
    assert second["verification"][CUSTOMERS.path]["pending"] == 0
    assert files(root, CUSTOMERS.path) == checksum


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("{not json", "the plan is not valid JSON"),
        ("/nonexistent/plan.json", "cannot read the plan file"),
        ('{"subjects": [], "datasets": []}', "plan.subjects must be a non-empty list"),
        ('{"subjects": [{"id": "x", "keys": {"email": ["a@x"]}}], "datasets": [{}]}', "must be a UUID"),
    ],
)
def test_a_bad_plan_fails_the_cli_with_a_clear_error(
    plan: str, message: str, shared_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = base.main(
        dsr_erase.NAME, dsr_erase.add_arguments, dsr_erase.run, ["--lake", str(tmp_path), "--plan", plan]
    )
    captured = capsys.readouterr()
    assert status == 1
    assert "PlanError" in captured.err
    assert message in captured.err
    assert base.SUMMARY_PREFIX not in captured.out


SUBJECT = {"id": str(uuid.UUID(int=1)), "keys": {"customer_id": ["c1"]}}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"dataset": "raw/customers", "keys": {"customer_id": "customer_id"}, "action": "burn"}, "action must be"),
        (
            {"dataset": "raw/customers", "keys": {"customer_id": "customer_id"}, "action": "anonymise", "fields": {}},
            "an anonymise needs fields",
        ),
        (
            {
                "dataset": "raw/customers",
                "keys": {"customer_id": "customer_id"},
                "action": "anonymise",
                "fields": {"email": "scramble"},
            },
            "unknown strategies",
        ),
        (
            {
                "dataset": "raw/customers",
                "keys": {"customer_id": "customer_id"},
                "action": "anonymise",
                "fields": {"email": "random"},
            },
            "checkable strategy",
        ),
        ({"dataset": "../etc", "keys": {"customer_id": "customer_id"}, "action": "delete"}, "unsafe dataset path"),
    ],
)
def test_plan_rules_are_checked_before_anything_runs(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(engine.PlanError, match=message):
        engine.parse_plan({"subjects": [SUBJECT], "datasets": [rule]})


def test_a_hashing_plan_without_its_key_is_refused(
    spark: SparkSession, source_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    plan = plan_for([SUBJECT])
    with pytest.raises(engine.PlanError, match=f"{KEY_ENV} is not set"):
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(source_lake, plan), spark=spark)


def test_a_column_the_dataset_lacks_is_refused(
    spark: SparkSession, source_lake: str, hash_key: None, tmp_path: Path
) -> None:
    root = copy_lake(source_lake, tmp_path / "lake")
    plan = plan_for([SUBJECT])
    plan["datasets"][1]["fields"] = {"iban": "mask"}
    with pytest.raises(engine.PlanError, match=r"has no columns \['iban'\]"):
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark)


# Rectification: an update rule sets new values on the subjects' rows only.

NEW_EMAIL = "rectified.address.3f9c@example.org"
NEW_LAST_NAME = "Rectified-Zweite-7d2a"
NEW_UPDATED_AT = "2025-12-01T09:30:00+00:00"


def update_plan(subjects: list[dict[str, Any]], currency: str) -> dict[str, Any]:
    first, second = subjects[0], subjects[1]
    return {
        "subjects": [{"id": s["id"], "keys": s["keys"]} for s in (first, second)],
        "datasets": [
            {
                "dataset": CUSTOMERS.path,
                "keys": {"customer_id": "customer_id"},
                "action": "update",
                "updates": {
                    first["id"]: {
                        "email": NEW_EMAIL,
                        "marketing_opt_in": "true",
                        "date_of_birth": "1980-02-29",
                        "updated_at": NEW_UPDATED_AT,
                    },
                    second["id"]: {"last_name": NEW_LAST_NAME},
                },
            },
            {
                "dataset": ORDERS.path,
                "keys": {"customer_id": "customer_id"},
                "action": "update",
                # The second subject's currency is one some of their orders already hold: those are not pending.
                "updates": {first["id"]: {"shipping_country": "ZZ"}, second["id"]: {"currency": currency}},
            },
        ],
    }


def text(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def in_file_order(spark: SparkSession, root: str, path: str, name: str, key: str) -> list[str]:
    frame = spark.read.parquet(f"{root}/{path}/{name}")
    return [r[0] for r in frame.orderBy(F.col("_metadata.row_index")).select(key).collect()]


@pytest.fixture(scope="module")
def rectified(
    spark: SparkSession,
    source_lake: str,
    subjects: list[dict[str, Any]],
    shared_session: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The command line run with an update plan over a copy of the lake, then the same plan again."""
    work = tmp_path_factory.mktemp("dsr_rectified")
    root = copy_lake(source_lake, work / "lake")
    second_orders = read(spark, root, ORDERS.path).where(F.col("customer_id") == subjects[1]["customer_id"])
    currency = second_orders.groupBy("currency").count().orderBy(F.desc("count"), "currency").first()["currency"]
    plan = update_plan(subjects, currency)
    before = {path: files(root, path) for path in DATASETS}
    rows_before = {path: read(spark, root, path).collect() for path in DATASETS}
    events = work / "events.jsonl"
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logger = logging.getLogger()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            argv = ["--lake", root, "--plan", json.dumps(plan), "--lineage-file", str(events)]
            status = base.main(dsr_erase.NAME, dsr_erase.add_arguments, dsr_erase.run, argv=argv)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    summary = json.loads(stdout.getvalue().strip().splitlines()[-1].removeprefix(base.SUMMARY_PREFIX))
    after = {path: files(root, path) for path in DATASETS}
    second = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    return {
        "root": root,
        "status": status,
        "plan": plan,
        "currency": currency,
        "summary": summary,
        "second": second,
        "before": before,
        "after": after,
        "after_second": {path: files(root, path) for path in DATASETS},
        "rows_before": rows_before,
        "output": stdout.getvalue() + stderr.getvalue() + logs.getvalue(),
        "events": events,
    }


def test_an_update_sets_the_new_values_on_the_subjects_rows_only(
    spark: SparkSession, rectified: dict[str, Any], subjects: list[dict[str, Any]]
) -> None:
    assert rectified["status"] == 0
    root = rectified["root"]
    first, second = subjects[0]["customer_id"], subjects[1]["customer_id"]
    expected_changes: dict[str, dict[str, dict[str, Any]]] = {
        CUSTOMERS.path: {
            first: {
                "email": NEW_EMAIL,
                "marketing_opt_in": True,
                "date_of_birth": date(1980, 2, 29),
                "updated_at": "2025-12-01 09:30:00",
            },
            second: {"last_name": NEW_LAST_NAME},
        },
        ORDERS.path: {first: {"shipping_country": "ZZ"}, second: {"currency": rectified["currency"]}},
    }
    for path, changes in expected_changes.items():
        frame = read(spark, root, path)
        as_text = [F.date_format(c, "yyyy-MM-dd HH:mm:ss").alias(c) if c == "updated_at" else c for c in frame.columns]
        before_frame = spark.createDataFrame(rectified["rows_before"][path], frame.schema).select(*as_text)
        before = [r.asDict() for r in before_frame.collect()]
        expected = [{**row, **changes.get(row["customer_id"], {})} for row in before]
        after = [r.asDict() for r in frame.select(*as_text).collect()]
        assert sorted(map(text, after)) == sorted(map(text, expected)), path
        assert sorted(map(text, after)) != sorted(map(text, before)), path
    assert [(f.name, f.dataType) for f in read(spark, root, CUSTOMERS.path).schema.fields] == [
        (f.name, f.dataType) for f in CUSTOMERS.schema.fields
    ]


def test_an_update_rewrites_only_files_holding_pending_rows_keeping_their_order(
    spark: SparkSession, rectified: dict[str, Any], source_lake: str, subjects: list[dict[str, Any]]
) -> None:
    summary = rectified["summary"]
    currency = rectified["currency"]
    for path in DATASETS:
        before, after = rectified["before"][path], rectified["after"][path]
        assert set(before) == set(after), path
        report = summary["datasets"][path]
        rewritten = {f["file"]: f for f in report["files_rewritten"]}
        assert rewritten, path
        for name, (checksum, mtime) in before.items():
            if name in rewritten:
                assert rewritten[name]["sha256_before"] == checksum
                assert rewritten[name]["sha256_after"] == after[name][0] != checksum
                key = "customer_id" if path == CUSTOMERS.path else "order_id"
                assert in_file_order(spark, rectified["root"], path, name, key) == in_file_order(
                    spark, source_lake, path, name, key
                )
            else:
                assert after[name] == (checksum, mtime), name
        assert report["files_untouched"] == len(before) - len(rewritten)
        assert not list(local(rectified["root"], path).glob(f"{rewrite.STAGING_PREFIX}*"))
    customers, orders = summary["datasets"][CUSTOMERS.path], summary["datasets"][ORDERS.path]
    first, second = subjects[0], subjects[1]
    assert customers["action"] == "update"
    assert customers["rows_updated"] == 2
    assert customers["rows_already_updated"] == 0
    assert customers["rows_matched"] == {first["id"]: 1, second["id"]: 1}
    already = sum(
        1
        for r in rectified["rows_before"][ORDERS.path]
        if r["customer_id"] == second["customer_id"] and r["currency"] == currency
    )
    assert already > 0
    assert orders["rows_already_updated"] == already
    assert orders["rows_updated"] == first["orders"] + second["orders"] - already
    assert summary["totals"]["rows_updated"] == 2 + orders["rows_updated"]
    assert summary["totals"]["rows_deleted"] == summary["totals"]["rows_anonymised"] == 0
    for path in DATASETS:
        verification = summary["verification"][path]
        assert verification["pending"] == 0
        assert verification["verified"] is True
        assert verification["raw_matches"] > 0  # the subjects' rows are still there, as they should be
    assert summary["verified"] is True


def test_a_second_run_of_an_update_rewrites_nothing(rectified: dict[str, Any], subjects: list[dict[str, Any]]) -> None:
    second = rectified["second"]
    assert second["totals"]["files_rewritten"] == 0
    assert second["totals"]["rows_updated"] == 0
    assert second["datasets"][CUSTOMERS.path]["rows_already_updated"] == 2
    assert second["datasets"][ORDERS.path]["rows_already_updated"] == subjects[0]["orders"] + subjects[1]["orders"]
    assert all(v["pending"] == 0 and v["verified"] for v in second["verification"].values())
    assert rectified["after_second"] == rectified["after"]


def test_new_values_never_appear_in_output_or_lineage(rectified: dict[str, Any]) -> None:
    assert "update" in rectified["output"]  # the log was captured
    texts = [
        json.dumps(rectified["summary"]),
        json.dumps(rectified["second"]),
        rectified["output"],
        rectified["events"].read_text(),
    ]
    for text in texts:
        for value in (NEW_EMAIL, NEW_LAST_NAME, "1980-02-29", "2025-12-01T09:30", "2025-12-01 09:30"):
            assert value not in text
    complete = json.loads(rectified["events"].read_text().splitlines()[-1])
    lineage = {o["name"]: o["facets"]["columnLineage"]["fields"] for o in complete["outputs"]}
    assert set(lineage[CUSTOMERS.path]) == {"email", "marketing_opt_in", "date_of_birth", "updated_at", "last_name"}
    assert lineage[ORDERS.path]["shipping_country"]["inputFields"][0]["transformations"][0]["masking"] is False


OTHER = str(uuid.UUID(int=2))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"action": "update", "fields": {"email": "hash"}, "updates": {SUBJECT["id"]: {"email": "x"}}},
            "an update takes updates, not fields",
        ),
        ({"action": "update"}, "an update needs updates"),
        ({"action": "delete", "updates": {SUBJECT["id"]: {"email": "x"}}}, "only an update takes updates"),
        ({"action": "update", "updates": {"not-a-uuid": {"email": "x"}}}, "the keys must be subject UUIDs"),
        ({"action": "update", "updates": {OTHER: {"email": "x"}}}, f"subjects \\['{OTHER}'\\] are not in plan"),
        ({"action": "update", "updates": {SUBJECT["id"]: {}}}, "must map columns to new values"),
        ({"action": "update", "updates": {SUBJECT["id"]: {"marketing_opt_in": True}}}, "must be strings"),
        (
            {"action": "update", "updates": {SUBJECT["id"]: {"customer_id": "c2"}}},
            r"cannot update key columns \['customer_id'\]",
        ),
    ],
)
def test_update_rules_are_checked_before_anything_runs(rule: dict[str, Any], message: str) -> None:
    full = {"dataset": CUSTOMERS.path, "keys": {"customer_id": "customer_id"}, **rule}
    with pytest.raises(engine.PlanError, match=message):
        engine.parse_plan({"subjects": [SUBJECT], "datasets": [full]})


@pytest.mark.parametrize(
    ("dataset", "values", "message"),
    [
        (
            CUSTOMERS.path,
            {"date_of_birth": "the fourth of July"},
            rf"new values of \['date_of_birth'\] for subject {SUBJECT['id']} do not fit the columns' types \(date\)",
        ),
        (CUSTOMERS.path, {"marketing_opt_in": "perhaps"}, r"\['marketing_opt_in'\] .* \(boolean\)"),
        (CUSTOMERS.path, {"iban": "DE00"}, r"raw/customers has no columns \['iban'\]"),
        (ORDERS.path, {"order_date": "2025-01-01"}, r"cannot update partition columns \['order_date'\]"),
    ],
)
def test_an_update_the_dataset_cannot_take_is_refused_naming_the_column_but_not_the_value(
    spark: SparkSession, source_lake: str, dataset: str, values: dict[str, str], message: str
) -> None:
    plan = {
        "subjects": [SUBJECT],
        "datasets": [
            {"dataset": dataset, "keys": {"customer_id": "customer_id"}, "action": "update", "updates": {}},
        ],
    }
    plan["datasets"][0]["updates"] = {SUBJECT["id"]: values}
    with pytest.raises(engine.PlanError, match=message) as caught:
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(source_lake, plan), spark=spark)
    for value in values.values():
        assert value not in str(caught.value)


def test_a_row_claimed_by_two_subjects_of_an_update_is_refused_before_it_is_written(
    spark: SparkSession, source_lake: str, subjects: list[dict[str, Any]], tmp_path: Path
) -> None:
    root = copy_lake(source_lake, tmp_path / "lake")
    before = files(root, CUSTOMERS.path)
    shared_key = {"customer_id": [subjects[0]["customer_id"]]}
    twins = [{"id": SUBJECT["id"], "keys": shared_key}, {"id": OTHER, "keys": shared_key}]
    plan = {
        "subjects": twins,
        "datasets": [
            {
                "dataset": CUSTOMERS.path,
                "keys": {"customer_id": "customer_id"},
                "action": "update",
                "updates": {SUBJECT["id"]: {"last_name": "One"}, OTHER: {"last_name": "Two"}},
            }
        ],
    }
    message = f"rows match several subjects of the update \\({SUBJECT['id']}, {OTHER}\\)"
    with pytest.raises(engine.PlanError, match=message):
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark)
    assert files(root, CUSTOMERS.path) == before


# Identity resolution: a subject known by one identity is found by the others that its rows link it to.


def resolving_plan(subject: dict[str, Any]) -> dict[str, Any]:
    """The main plan for one subject known by its email alone (padded and upper-cased, as given)."""
    return plan_for([{"id": subject["id"], "keys": {"email": subject["keys"]["email"]}}])


@pytest.fixture(scope="module")
def resolved_erasure(
    spark: SparkSession,
    source_lake: str,
    subjects: list[dict[str, Any]],
    hash_key: None,
    shared_session: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """An email-only plan run over a copy of the lake, then again, then with the customer id the portal learnt; with
    the verification of the orders before anything was erased, with and without resolution."""
    subject = subjects[0]
    work = tmp_path_factory.mktemp("dsr_resolved")
    root = copy_lake(source_lake, work / "lake")
    email = subject["keys"]["email"][0].strip().lower()
    holders = read(spark, root, CUSTOMERS.path).where(F.lower(F.trim("email")) == email).collect()
    assert [r["customer_id"] for r in holders] == [subject["customer_id"]]  # the email is this customer's alone
    plan = resolving_plan(subject)
    parsed = engine.parse_plan(plan)
    orders_rule = parsed.datasets[1]
    frames = {rule.dataset: engine.open_dataset(spark, root, rule)[0] for rule in parsed.datasets}
    resolution = engine.resolve(spark, parsed, frames)
    key = KEY.encode()
    unresolved = engine.verify_dataset(spark, root, orders_rule, engine.identities(spark, parsed, key))
    skipped = engine.verify_dataset(spark, root, orders_rule, engine.identities(spark, parsed, key, resolution))
    rows_before = {path: rows_json(read(spark, root, path)) for path in DATASETS}
    before = {path: files(root, path) for path in DATASETS}
    first = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    after = {path: files(root, path) for path in DATASETS}
    second = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    after_second = {path: files(root, path) for path in DATASETS}
    known = resolving_plan(subject)
    known["subjects"][0]["keys"]["customer_id"] = [subject["customer_id"]]
    third = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, known), spark=spark).summary
    return {
        "root": root,
        "subject": subject,
        "resolution": resolution,
        "unresolved": unresolved,
        "skipped": skipped,
        "rows_before": rows_before,
        "before": before,
        "first": first,
        "after": after,
        "second": second,
        "after_second": after_second,
        "third": third,
        "after_third": {path: files(root, path) for path in DATASETS},
    }


def test_resolution_finds_the_customer_id_of_an_email_only_subject(resolved_erasure: dict[str, Any]) -> None:
    subject = resolved_erasure["subject"]
    resolution: engine.Resolution = resolved_erasure["resolution"]
    assert resolution.values == {subject["id"]: {"customer_id": frozenset({subject["customer_id"]})}}
    assert resolution.rounds == 2  # the second round found nothing new
    assert subject["customer_id"] not in repr(resolution)
    # Without resolution, the orders would look clean before anything is erased; with it, the subject's are found.
    assert resolved_erasure["unresolved"]["raw_matches"] == 0
    assert resolved_erasure["skipped"]["raw_matches"] == subject["orders"]
    assert resolved_erasure["skipped"]["pending"] == subject["orders"]
    assert resolved_erasure["skipped"]["verified"] is False


def test_an_email_only_subject_loses_its_customer_row_and_its_orders(
    spark: SparkSession, resolved_erasure: dict[str, Any]
) -> None:
    root, subject = resolved_erasure["root"], resolved_erasure["subject"]
    customer_id = subject["customer_id"]
    customers = read(spark, root, CUSTOMERS.path)
    assert customers.where(F.col("customer_id") == customer_id).count() == 0
    assert customers.count() == len(resolved_erasure["rows_before"][CUSTOMERS.path]) - 1
    orders = read(spark, root, ORDERS.path)
    assert orders.where(F.col("customer_id") == customer_id).count() == 0
    theirs = orders.where(F.col("customer_id") == hmac_hex(customer_id)).collect()
    assert len(theirs) == subject["orders"]
    assert all(r["ip_address"] is None or set(r["ip_address"][1:-1]) == {"*"} for r in theirs)
    for path in DATASETS:  # everybody else's rows are as they were
        others_before = [
            r for r in resolved_erasure["rows_before"][path] if json.loads(r).get("customer_id") != customer_id
        ]
        others_after = [
            r
            for r in rows_json(read(spark, root, path))
            if json.loads(r).get("customer_id") not in (customer_id, hmac_hex(customer_id))
        ]
        assert others_after == others_before, path


def test_the_summary_counts_what_was_resolved_and_verifies_the_resolved_values(
    resolved_erasure: dict[str, Any],
) -> None:
    first, subject = resolved_erasure["first"], resolved_erasure["subject"]
    assert first["resolved"] == {subject["id"]: {"customer_id": 1}}
    assert first["datasets"][CUSTOMERS.path]["rows_matched"] == {subject["id"]: 1}
    assert first["datasets"][CUSTOMERS.path]["rows_deleted"] == 1
    assert first["datasets"][ORDERS.path]["rows_matched"] == {subject["id"]: subject["orders"]}
    assert first["datasets"][ORDERS.path]["rows_anonymised"] == subject["orders"]
    # The verification looked for the resolved customer id too: its keyed hash is what the orders now hold.
    assert first["verification"][ORDERS.path] == {
        "raw_matches": 0,
        "hashed_matches": subject["orders"],
        "pending": 0,
        "verified": True,
    }
    assert first["verification"][CUSTOMERS.path]["verified"] is True
    assert first["verified"] is True
    text = json.dumps(first)
    assert subject["customer_id"] not in text
    assert subject["keys"]["email"][0].strip().lower() not in text.lower()


def test_a_rerun_after_resolution_changes_nothing(resolved_erasure: dict[str, Any]) -> None:
    second, subject = resolved_erasure["second"], resolved_erasure["subject"]
    assert resolved_erasure["after_second"] == resolved_erasure["after"]
    assert second["totals"]["files_rewritten"] == 0
    assert second["resolved"] == {subject["id"]: {}}  # the linking customer row is gone: nothing left to resolve
    assert all(d["rows_matched_total"] == 0 for d in second["datasets"].values())
    assert second["verified"] is True
    # With the customer id in the plan (the portal may add what it knows), a re-run still finds nothing to do, and
    # its verification sees the pseudonymised orders again.
    third = resolved_erasure["third"]
    assert resolved_erasure["after_third"] == resolved_erasure["after"]
    assert third["totals"]["files_rewritten"] == 0
    assert third["resolved"] == {subject["id"]: {}}
    assert third["verification"][ORDERS.path]["hashed_matches"] == subject["orders"]
    assert third["verified"] is True


def test_a_failure_before_the_linking_dataset_leaves_it_for_the_rerun(
    spark: SparkSession,
    source_lake: str,
    subjects: list[dict[str, Any]],
    hash_key: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The customers rule links identities, so it runs after the orders: a run that stops after the orders leaves the
    customer row in place, and the re-run still resolves the customer id and completes."""
    subject = subjects[1]
    root = copy_lake(source_lake, tmp_path / "lake")
    plan = resolving_plan(subject)
    assert plan["datasets"][0]["dataset"] == CUSTOMERS.path  # listed first, applied last
    order: list[str] = []
    real = engine.erase_dataset

    def failing(spark: SparkSession, lake: str, rule: engine.DatasetRule, *args: Any, **kwargs: Any) -> Any:
        order.append(rule.dataset)
        if rule.dataset == CUSTOMERS.path:
            raise RuntimeError("the cluster went away")
        return real(spark, lake, rule, *args, **kwargs)

    monkeypatch.setattr(engine, "erase_dataset", failing)
    with pytest.raises(RuntimeError, match="the cluster went away"):
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark)
    monkeypatch.setattr(engine, "erase_dataset", real)
    assert order == [ORDERS.path, CUSTOMERS.path]
    assert read(spark, root, CUSTOMERS.path).where(F.col("customer_id") == subject["customer_id"]).count() == 1

    summary = base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan), spark=spark).summary
    assert summary["resolved"] == {subject["id"]: {"customer_id": 1}}
    assert summary["datasets"][CUSTOMERS.path]["rows_deleted"] == 1
    assert summary["datasets"][ORDERS.path]["rows_already_anonymised"] == 0
    assert summary["datasets"][ORDERS.path]["rows_matched_total"] == 0  # anonymised by the first run
    assert summary["verification"][ORDERS.path]["hashed_matches"] == subject["orders"]
    assert summary["verified"] is True
    assert list(summary["datasets"]) == [CUSTOMERS.path, ORDERS.path]


def test_a_key_column_shared_by_many_people_is_refused_naming_the_subject_but_no_value(
    spark: SparkSession, source_lake: str, subjects: list[dict[str, Any]], hash_key: None, tmp_path: Path
) -> None:
    subject = subjects[0]
    root = copy_lake(source_lake, tmp_path / "lake")
    before = {path: files(root, path) for path in DATASETS}
    plan = resolving_plan(subject)
    # A country links the subject to everybody living there: their customer ids and emails are no identities of it.
    plan["datasets"][0]["keys"] = {"customer_id": "customer_id", "email": "email", "country": "country"}
    country = read(spark, root, CUSTOMERS.path).where(F.col("customer_id") == subject["customer_id"]).first()
    assert country is not None
    neighbours = read(spark, root, CUSTOMERS.path).where(F.col("country") == country["country"]).count()
    assert neighbours > 1  # the subject and at least one neighbour: one customer id more than a person has
    message = f"identity resolution gives subject {subject['id']} more than 1 customer_id values"
    with pytest.raises(engine.PlanError, match=message) as caught:
        base.execute(dsr_erase.NAME, dsr_erase.run, args_for(root, plan, "--max-resolved", "1"), spark=spark)
    assert subject["customer_id"] not in str(caught.value)
    assert country["country"] not in str(caught.value)
    assert subject["keys"]["email"][0].strip().lower() not in str(caught.value).lower()
    assert {path: files(root, path) for path in DATASETS} == before  # refused before anything was written
    # Without the country, the same cap lets the subject's own customer id through.
    parsed = engine.parse_plan(resolving_plan(subject))
    frames = {rule.dataset: engine.open_dataset(spark, root, rule)[0] for rule in parsed.datasets}
    assert engine.resolve(spark, parsed, frames, max_resolved=1).values == {
        subject["id"]: {"customer_id": frozenset({subject["customer_id"]})}
    }
