"""The dsr_export job packs each subject's rows of every dataset in the plan, matched as erasure matches them, into
one owner-only zip (manifest, JSON and CSV per dataset) whose data entries are the same bytes for the same rows; a
subject known by its email alone also gets the orders of the customer id resolved from its customer row; it reads
the lake without changing it, keeps identity values (given or resolved) out of its summary and log, and refuses bad
plans, a bad ``--out``, subjects with too many rows and key columns shared by many people with clear errors, leaving
nothing behind.

One generated lake (400 orders over 30 days, seed 7) is copied for each scenario; the main scenario runs the command
line once and the same plan again into another directory.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import re
import shutil
import stat
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DecimalType, StructType, TimestampType

from spark.jobs import base, dsr_export
from spark.privacy import export as engine
from spark.privacy.erase import PlanError
from spark.schema import CUSTOMERS, ORDERS

DATASETS = (CUSTOMERS.path, ORDERS.path)
STEMS = {CUSTOMERS.path: "raw__customers", ORDERS.path: "raw__orders"}
SUMMARY_KEYS = {"job", "run_id", "lake", "started_at", "finished_at", "subjects", "totals", "resolved"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local(root: str, *parts: str) -> Path:
    return Path(root.removeprefix("file://"), *parts)


def lake_files(root: str) -> dict[str, tuple[str, int]]:
    """Every file under the lake (data, checksums, markers): relative path → (SHA-256, mtime in ns)."""
    base_dir = local(root)
    return {
        str(f.relative_to(base_dir)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns)
        for f in base_dir.rglob("*")
        if f.is_file()
    }


def read(spark: SparkSession, root: str, path: str) -> DataFrame:
    return spark.read.parquet(f"{root}/{path}")


def plan_for(subjects: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "subjects": [{"id": s["id"], "keys": s["keys"]} for s in subjects],
        "datasets": [
            {
                "dataset": CUSTOMERS.path,
                "keys": {"customer_id": "customer_id", "email": "email"},
                "action": "export",
                "fields": {"email": "hash"},  # ignored: every column is exported
            },
            {"dataset": ORDERS.path, "keys": {"customer_id": "customer_id"}, "action": "export"},
        ],
    }


def copy_lake(source: str, target: Path) -> str:
    for path in DATASETS:
        shutil.copytree(local(source, path), target / path)
    return "file://" + str(target)


def args_for(root: str, plan: Any, out: Path | str, *extra: str) -> Any:
    parser = base.base_parser(dsr_export.NAME)
    dsr_export.add_arguments(parser)
    text = plan if isinstance(plan, str) else json.dumps(plan)
    return parser.parse_args(["--lake", root, "--plan", text, "--out", str(out), *extra])


def run_cli(argv: list[str]) -> tuple[int, str, str, str]:
    """The command line in this process: (status, stdout, stderr, log)."""
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logger = logging.getLogger()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = base.main(dsr_export.NAME, dsr_export.add_arguments, dsr_export.run, argv=argv)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return status, stdout.getvalue(), stderr.getvalue(), logs.getvalue()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unzip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def typed(value: Any, data_type: Any) -> Any:
    """A value of a package's JSON back as the Python value Spark would give (timestamps aware, in UTC)."""
    if value is None:
        return None
    if isinstance(data_type, TimestampType):
        return datetime.fromisoformat(value)
    if isinstance(data_type, DateType):
        return date.fromisoformat(value)
    if isinstance(data_type, DecimalType):
        return Decimal(value)
    return value


def expected_rows(df: DataFrame, condition: Column) -> Counter[tuple[Any, ...]]:
    """The rows an independent filter finds, timestamps read as exact UTC instants (microseconds since the epoch)."""
    timestamps = {f.name for f in df.schema.fields if isinstance(f.dataType, TimestampType)}
    picked = df.where(condition).select(
        *[F.unix_micros(c).alias(c) if c in timestamps else F.col(c) for c in df.columns]
    )
    return Counter(
        tuple(
            None if v is None else EPOCH + timedelta(microseconds=v) if c in timestamps else v
            for c, v in zip(df.columns, row, strict=True)
        )
        for row in picked.collect()
    )


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture(scope="module")
def shared_session(spark: SparkSession) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "get_spark", lambda name, **_: spark)
        yield


@pytest.fixture(scope="module")
def source_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    from spark.jobs.generate import generate_lake

    root = "file://" + str(tmp_path_factory.mktemp("dsr_export_source"))
    generate_lake(spark, root, orders=400, seed=7, days=30)  # a month of orders: few partitions to list
    return root


@pytest.fixture(scope="module")
def subjects(spark: SparkSession, source_lake: str) -> dict[str, dict[str, Any]]:
    """Two customers with several orders: one known by id and email, one by email only (typed in upper case, as
    people type it), whose customer id is resolved from its customer row; and someone the lake does not hold.
    ``customer_ids`` and ``emails`` are every identity the lake links a subject to, ``resolved`` those the plan lacks.
    """
    orders = read(spark, source_lake, ORDERS.path).groupBy("customer_id").count()
    chosen = (
        read(spark, source_lake, CUSTOMERS.path)
        .where(F.col("email").rlike("^[^@ ]+@[^@ ]+$"))
        .join(orders.where(F.col("count") >= 2), "customer_id")
        .orderBy("customer_id")
        .limit(2)
        .collect()
    )
    assert len(chosen) == 2
    both, by_email = chosen
    return {
        "both": {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, both["customer_id"])),
            "keys": {"customer_id": [both["customer_id"]], "email": [f" {both['email'].upper()}  "]},
            "customer_ids": [both["customer_id"]],
            "emails": [both["email"].strip().lower()],
            "resolved": {},
        },
        "email_only": {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, by_email["customer_id"])),
            "keys": {"email": [by_email["email"].upper()]},
            "customer_ids": [by_email["customer_id"]],
            "emails": [by_email["email"].strip().lower()],
            "resolved": {"customer_id": 1},
        },
        "nobody": {
            "id": str(uuid.UUID(int=7)),
            "keys": {"customer_id": ["no-such-customer"], "email": ["nobody@example.invalid"]},
            "customer_ids": ["no-such-customer"],
            "emails": ["nobody@example.invalid"],
            "resolved": {},
        },
    }


@pytest.fixture(scope="module")
def exported(
    spark: SparkSession,
    source_lake: str,
    subjects: dict[str, dict[str, Any]],
    shared_session: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The command line run over a copy of the lake, then the same plan into another directory."""
    work = tmp_path_factory.mktemp("dsr_exported")
    root = copy_lake(source_lake, work / "lake")
    before = lake_files(root)
    plan = plan_for(list(subjects.values()))
    (work / "plan.json").write_text(json.dumps(plan))
    events = work / "events.jsonl"
    out = work / "exports" / "run-1"
    staged: dict[str, dict[str, int]] = {}
    real_package = engine._package

    def recording_package(target: Path, subject: str, manifest: dict[str, Any], staging: Path) -> engine.Package:
        staged[subject] = {p.name: mode(p) for p in [staging, *staging.iterdir()]}
        return real_package(target, subject, manifest, staging)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "_package", recording_package)
        argv = ["--lake", root, "--plan", str(work / "plan.json"), "--out", f"file://{out}"]
        status, stdout, stderr, logs = run_cli([*argv, "--lineage-file", str(events)])
    summary = json.loads(stdout.strip().splitlines()[-1].removeprefix(base.SUMMARY_PREFIX))
    second_out = work / "exports" / "run-2"
    second = base.execute(dsr_export.NAME, dsr_export.run, args_for(root, plan, second_out), spark=spark).summary
    return {
        "root": root,
        "plan": plan,
        "status": status,
        "summary": summary,
        "out": out,
        "second": second,
        "second_out": second_out,
        "before": before,
        "after": lake_files(root),
        "staged": staged,
        "output": stdout + stderr + logs,
        "events": events,
    }


def test_each_subject_gets_one_zip_and_nothing_else_is_left(
    exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    assert exported["status"] == 0, exported["output"]
    out: Path = exported["out"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s['id']}.zip" for s in subjects.values())
    names = {key: set(unzip(out / f"{s['id']}.zip")) for key, s in subjects.items()}
    every = {"manifest.json", *(f"{stem}.{kind}" for stem in STEMS.values() for kind in ("json", "csv"))}
    assert names["both"] == every
    assert names["email_only"] == every  # its orders too, found through its resolved customer id
    assert names["nobody"] == {"manifest.json"}


def test_package_files_are_owner_only(exported: dict[str, Any], subjects: dict[str, dict[str, Any]]) -> None:
    out: Path = exported["out"]
    assert mode(out) == 0o700
    for subject in subjects.values():
        package = out / f"{subject['id']}.zip"
        assert mode(package) == 0o600
        with zipfile.ZipFile(package) as archive:
            for info in archive.infolist():
                assert stat.S_IMODE(info.external_attr >> 16) == 0o600, info.filename
                assert info.date_time == engine.ZIP_TIME
                assert info.compress_type == zipfile.ZIP_DEFLATED
        staged = dict(exported["staged"][subject["id"]])  # the working directory just before it was zipped and removed
        assert staged.pop(subject["id"]) == 0o700
        assert all(m == 0o600 for m in staged.values()), staged
    assert len(exported["staged"][subjects["both"]["id"]]) == 5  # the directory and its four data files


def test_exported_rows_are_exactly_what_a_filter_on_the_lake_finds(
    spark: SparkSession, exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    root = exported["root"]
    customers, orders = read(spark, root, CUSTOMERS.path), read(spark, root, ORDERS.path)
    for key, subject in subjects.items():
        files = unzip(exported["out"] / f"{subject['id']}.zip")
        manifest = json.loads(files["manifest.json"])
        conditions = {
            CUSTOMERS.path: F.col("customer_id").isin(subject["customer_ids"])
            | F.lower(F.trim("email")).isin(subject["emails"]),
            ORDERS.path: F.col("customer_id").isin(subject["customer_ids"]),
        }
        for path, df in ((CUSTOMERS.path, customers), (ORDERS.path, orders)):
            entry = manifest["datasets"][path]
            assert entry["columns"] == df.columns  # partition columns included
            want = expected_rows(df, conditions[path])
            assert entry["rows"] == sum(want.values())
            if not want:
                assert entry["files"] == {}
                continue
            rows = json.loads(files[f"{STEMS[path]}.json"])
            assert all(list(r) == df.columns for r in rows)  # stable column order
            types = [f.dataType for f in df.schema.fields]
            got = Counter(tuple(typed(r[c], t) for c, t in zip(df.columns, types, strict=True)) for r in rows)
            assert got == want, (key, path)
    found = {k: json.loads(unzip(exported["out"] / f"{s['id']}.zip")["manifest.json"]) for k, s in subjects.items()}
    assert found["both"]["datasets"][CUSTOMERS.path]["rows"] >= 1
    assert found["both"]["datasets"][ORDERS.path]["rows"] >= 2
    assert found["email_only"]["datasets"][CUSTOMERS.path]["rows"] >= 1  # matched by an upper-case email alone
    assert found["email_only"]["datasets"][ORDERS.path]["rows"] >= 2  # matched by the customer id resolved from it
    assert all(d["rows"] == 0 and d["files"] == {} for d in found["nobody"]["datasets"].values())


def test_values_are_written_as_iso_dates_and_decimal_strings(
    exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    files = unzip(exported["out"] / f"{subjects['both']['id']}.zip")
    order = json.loads(files["raw__orders.json"])[0]
    assert isinstance(order["total_amount"], str)
    assert Decimal(order["total_amount"]).as_tuple().exponent == -2
    assert order["order_ts"].endswith("+00:00")
    assert date.fromisoformat(order["order_date"])
    customer = json.loads(files["raw__customers.json"])[0]
    assert customer["customer_id"] == subjects["both"]["customer_ids"][0]
    assert customer["created_at"] is None or datetime.fromisoformat(customer["created_at"]).tzinfo is not None


def test_the_manifest_describes_the_files_and_csv_agrees_with_json(
    exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    summary = exported["summary"]
    for subject in subjects.values():
        files = unzip(exported["out"] / f"{subject['id']}.zip")
        manifest = json.loads(files["manifest.json"])
        assert set(manifest) == {"subject", "generated_at", "run_id", "format_version", "datasets"}
        assert manifest["subject"] == subject["id"]
        assert manifest["run_id"] == summary["run_id"]
        assert manifest["format_version"] == 1
        assert datetime.fromisoformat(manifest["generated_at"]).tzinfo is not None
        assert list(manifest["datasets"]) == list(DATASETS)
        for path, entry in manifest["datasets"].items():
            for kind, described in entry["files"].items():
                data = files[described["name"]]
                assert described["name"] == f"{STEMS[path]}.{kind}"
                assert described["sha256"] == hashlib.sha256(data).hexdigest()
                assert described["bytes"] == len(data)
            if not entry["files"]:
                continue
            rows = json.loads(files[entry["files"]["json"]["name"]])
            table = list(csv.reader(io.StringIO(files[entry["files"]["csv"]["name"]].decode("utf-8"), newline="")))
            assert table[0] == entry["columns"]
            assert table[1:] == [[csv_text(row[c]) for c in entry["columns"]] for row in rows]
            assert len(rows) == entry["rows"]


def test_the_summary_names_each_package_with_its_checksum_and_rows(
    exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    summary = exported["summary"]
    assert set(summary) == SUMMARY_KEYS
    assert summary["job"] == "dsr_export"
    assert summary["lake"] == exported["root"]
    assert summary["started_at"] <= summary["finished_at"]
    assert set(summary["subjects"]) == {s["id"] for s in subjects.values()}  # the printed summary sorts its keys
    total = 0
    for subject in subjects.values():
        package = summary["subjects"][subject["id"]]
        assert set(package) == {"package", "sha256", "bytes", "rows"}
        data = (exported["out"] / package["package"]).read_bytes()
        assert package["package"] == f"{subject['id']}.zip"
        assert package["sha256"] == hashlib.sha256(data).hexdigest()
        assert package["bytes"] == len(data)
        manifest = json.loads(unzip(exported["out"] / package["package"])["manifest.json"])
        assert package["rows"] == {path: d["rows"] for path, d in manifest["datasets"].items()}
        total += sum(package["rows"].values())
    assert summary["totals"] == {"rows": total, "datasets": 2}
    assert total > 0
    assert summary["resolved"] == {s["id"]: s["resolved"] for s in subjects.values()}  # counts, never values


def test_the_same_rows_give_the_same_package_bytes(
    exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    for subject in subjects.values():
        first = unzip(exported["out"] / f"{subject['id']}.zip")
        second = unzip(exported["second_out"] / f"{subject['id']}.zip")
        assert list(first) == list(second)  # same entries in the same order
        manifests = [json.loads(files.pop("manifest.json")) for files in (first, second)]
        assert first == second
        assert manifests[0]["run_id"] != manifests[1]["run_id"]
        for manifest in manifests:
            del manifest["generated_at"], manifest["run_id"]
        assert manifests[0] == manifests[1]
        assert (
            exported["second"]["subjects"][subject["id"]]["rows"]
            == exported["summary"]["subjects"][subject["id"]]["rows"]
        )


def test_the_lake_is_not_changed(exported: dict[str, Any]) -> None:
    assert exported["after"] == exported["before"]
    assert exported["before"]


def test_identity_values_never_appear_in_the_summary_or_log(
    exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    assert "dsr_export raw/orders" in exported["output"]  # the log was captured
    texts = [
        json.dumps(exported["summary"]).lower(),
        json.dumps(exported["second"]).lower(),
        exported["output"].lower(),
        exported["events"].read_text().lower(),
    ]
    for text in texts:
        for subject in subjects.values():
            for value in [*subject["customer_ids"], *subject["emails"]]:
                assert value.lower() not in text


def test_lineage_lists_the_datasets_as_inputs_and_no_outputs(
    exported: dict[str, Any], validate_openlineage: Any
) -> None:
    events = [json.loads(line) for line in exported["events"].read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_openlineage(event)
    complete = events[1]
    assert [i["name"] for i in complete["inputs"]] == list(DATASETS)
    assert complete["inputs"][0]["namespace"] == exported["root"]
    assert "schema" in complete["inputs"][1]["facets"]
    assert complete["outputs"] == []


def test_an_existing_package_is_never_overwritten(
    spark: SparkSession, exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    out: Path = exported["out"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(engine.ExportError, match=r"already holds .*an export never overwrites a package"):
        base.execute(dsr_export.NAME, dsr_export.run, args_for(exported["root"], exported["plan"], out), spark=spark)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_subject_with_too_many_rows_fails_and_leaves_nothing(
    source_lake: str, subjects: dict[str, dict[str, Any]], shared_session: None, tmp_path: Path
) -> None:
    root = copy_lake(source_lake, tmp_path / "lake")
    (tmp_path / "out").mkdir()
    plan = plan_for([subjects["both"], subjects["nobody"]])
    argv = ["--lake", root, "--plan", json.dumps(plan), "--out", str(tmp_path / "out"), "--max-rows", "1"]
    status, stdout, stderr, _ = run_cli(argv)
    assert status == 1
    assert f"raw/orders: subject {subjects['both']['id']} has" in stderr
    assert "more than --max-rows 1" in stderr
    assert base.SUMMARY_PREFIX not in stdout
    assert list((tmp_path / "out").iterdir()) == []  # no package, no working directory with the customer's rows


def test_an_email_only_subject_gets_the_orders_of_its_resolved_customer_id(
    spark: SparkSession, exported: dict[str, Any], subjects: dict[str, dict[str, Any]]
) -> None:
    subject = subjects["email_only"]
    assert "customer_id" not in subject["keys"]
    files = unzip(exported["out"] / f"{subject['id']}.zip")
    orders = json.loads(files["raw__orders.json"])
    assert {o["customer_id"] for o in orders} == set(subject["customer_ids"])
    lake = read(spark, exported["root"], ORDERS.path).where(F.col("customer_id").isin(subject["customer_ids"]))
    assert sorted(o["order_id"] for o in orders) == sorted(r["order_id"] for r in lake.select("order_id").collect())
    assert exported["summary"]["subjects"][subject["id"]]["rows"][ORDERS.path] == len(orders) >= 2


def test_a_key_column_shared_by_many_people_is_refused_and_leaves_nothing(
    spark: SparkSession, source_lake: str, subjects: dict[str, dict[str, Any]], shared_session: None, tmp_path: Path
) -> None:
    subject = subjects["email_only"]
    plan = plan_for([subject])
    # A country links the subject to everybody living there: their customer ids are no identities of it.
    plan["datasets"][0]["keys"] = {"customer_id": "customer_id", "email": "email", "country": "country"}
    home = read(spark, source_lake, CUSTOMERS.path).where(F.col("customer_id") == subject["customer_ids"][0]).first()
    assert home is not None
    assert read(spark, source_lake, CUSTOMERS.path).where(F.col("country") == home["country"]).count() > 1
    out = tmp_path / "out"
    argv = ["--lake", source_lake, "--plan", json.dumps(plan), "--out", str(out), "--max-resolved", "1"]
    status, stdout, stderr, logs = run_cli(argv)
    assert status == 1
    assert "PlanError" in stderr
    assert f"identity resolution gives subject {subject['id']} more than 1 customer_id values" in stderr
    assert base.SUMMARY_PREFIX not in stdout
    assert not out.exists()
    for text in (stderr, logs):
        assert subject["customer_ids"][0] not in text
        assert subject["emails"][0] not in text.lower()


def test_a_column_the_dataset_lacks_is_refused(
    spark: SparkSession, source_lake: str, subjects: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    plan = plan_for([subjects["both"]])
    plan["datasets"][1]["keys"] = {"iban": "iban"}
    with pytest.raises(PlanError, match=r"raw/orders has no columns \['iban'\]"):
        base.execute(dsr_export.NAME, dsr_export.run, args_for(source_lake, plan, tmp_path / "out"), spark=spark)
    assert not (tmp_path / "out").exists()


SUBJECT = {"id": str(uuid.UUID(int=1)), "keys": {"customer_id": ["c1"]}}
RULE = {"dataset": "raw/customers", "keys": {"customer_id": "customer_id"}, "action": "export"}


def with_rules(*rules: dict[str, Any], subjects: list[Any] | None = None) -> str:
    return json.dumps({"subjects": subjects or [SUBJECT], "datasets": list(rules)})


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("{not json", "the plan is not valid JSON"),
        ("/nonexistent/plan.json", "cannot read the plan file"),
        ('{"subjects": [], "datasets": []}', "plan.subjects must be a non-empty list"),
        (with_rules(), "plan.datasets must be a non-empty list"),
        (with_rules(RULE, subjects=[{"id": "x", "keys": {"email": ["a@x"]}}]), r"subjects\[0\].id must be a UUID"),
        (with_rules(RULE, subjects=[{"id": SUBJECT["id"], "keys": {}}]), r"subjects\[0\].keys must be a non-empty"),
        (
            with_rules(RULE, subjects=[{"id": SUBJECT["id"], "keys": {"email": [" "]}}]),
            r"subjects\[0\].keys.email must hold non-empty strings",
        ),
        (with_rules(RULE, subjects=[SUBJECT, SUBJECT]), "subject ids must be unique"),
        (with_rules({**RULE, "action": "delete"}), r"datasets\[0\].action must be 'export'"),
        (with_rules(RULE, {"dataset": "raw/orders", "action": "export"}), r"datasets\[1\].keys must map columns"),
        (with_rules({**RULE, "keys": {"customer_id": 3}}), r"datasets\[0\].keys must map columns"),
        (with_rules({**RULE, "fields": ["email"]}), r"datasets\[0\].fields must be an object"),
        (with_rules({**RULE, "dataset": "../etc"}), r"datasets\[0\].dataset: unsafe dataset path"),
        (with_rules(RULE, RULE), "each dataset may appear once"),
        (
            with_rules({**RULE, "dataset": "raw/a__b"}, {**RULE, "dataset": "raw__a/b"}),
            "would have the same file name",
        ),
    ],
)
def test_a_bad_plan_fails_the_cli_with_a_clear_error(
    plan: str, message: str, shared_session: None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    status, stdout, stderr, _ = run_cli(["--lake", str(tmp_path), "--plan", plan, "--out", str(out)])
    assert status == 1
    assert "PlanError" in stderr
    assert re.search(message, stderr), stderr
    assert base.SUMMARY_PREFIX not in stdout
    assert not out.exists()


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("s3://bucket/exports", "--out must be a local directory or a file:// URI, not s3://"),
        ("https://example.com/exports", "not https://"),
        ("file://fileserver/exports", "--out must be a local file:// URI with an absolute path"),
        ("  ", "not an empty value"),
        ("a-file", "--out names a file, not a directory"),
        ("lake/raw/exports", "--out must not be inside the lake"),
    ],
)
def test_a_bad_out_fails_the_cli_with_a_clear_error(
    out: str, message: str, shared_session: None, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    target = str(tmp_path / out) if out in ("a-file", "lake/raw/exports") else out
    lake = tmp_path / "lake"
    status, stdout, stderr, _ = run_cli(["--lake", str(lake), "--plan", with_rules(RULE), "--out", target])
    assert status == 1
    assert "ExportError" in stderr
    assert message in stderr
    assert base.SUMMARY_PREFIX not in stdout
    assert not lake.exists()


def test_values_of_every_kind_become_json_and_csv() -> None:
    schema = StructType.fromJson(
        {
            "type": "struct",
            "fields": [
                {"name": "n", "type": "double", "nullable": True, "metadata": {}},
                {"name": "b", "type": "binary", "nullable": True, "metadata": {}},
                {
                    "name": "tags",
                    "type": {"type": "array", "elementType": "string", "containsNull": True},
                    "nullable": True,
                    "metadata": {},
                },
                {"name": "d", "type": "decimal(10,8)", "nullable": True, "metadata": {}},
            ],
        }
    )
    types = [f.dataType for f in schema.fields]
    row = [float("nan"), b"\x00\xff", ["a", 'b,"c"'], Decimal("0E-8")]
    values = [engine.json_value(v, t) for v, t in zip(row, types, strict=True)]
    assert values == ["NaN", "AP8=", ["a", 'b,"c"'], "0.00000000"]
    as_json, as_csv = engine.render(["n", "b", "tags", "d"], [values, [None, None, None, None]])
    assert json.loads(as_json) == [
        {"n": "NaN", "b": "AP8=", "tags": ["a", 'b,"c"'], "d": "0.00000000"},
        {"n": None, "b": None, "tags": None, "d": None},
    ]
    assert as_csv.decode() == 'n,b,tags,d\r\nNaN,AP8=,"[""a"",""b,\\""c\\""""]",0.00000000\r\n,,,\r\n'
