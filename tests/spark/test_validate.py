"""The validate job rejects each kind of bad row with its reasons, keeps one row per key, flags high-value orders,
survives schema drift, emits valid OpenLineage, and exits 0 on bad data but 1 on a missing input.

One command-line run over a hand-made lake (every kind of bad row, and a products dataset that drifted from the
canonical schema) serves most tests, so the suite pays for few Spark runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BooleanType, DecimalType, StringType, StructField, StructType

from spark.jobs import base, validate
from spark.schema import CUSTOMERS, DATASETS, ORDER_ITEMS, ORDERS, PRODUCTS, USER_EVENTS, LakeDataset

NOW = "2024-06-01T00:00:00+00:00"
PAST = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
LATER = datetime(2024, 1, 11, 12, 0, tzinfo=UTC)
FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


def nullable(schema: StructType) -> StructType:
    """The schema with every field nullable, so fixtures can hold the nulls the job must reject."""
    return StructType([StructField(f.name, f.dataType, True) for f in schema.fields])


def write(spark: SparkSession, root: str, dataset: LakeDataset, rows: list[dict[str, Any]]) -> None:
    """Writes hand-made rows (missing keys are null) as a raw dataset with its canonical schema and partitioning."""
    full = [tuple(row.get(name) for name in dataset.columns) for row in rows]
    writer = spark.createDataFrame(full, nullable(dataset.schema)).coalesce(1).write.mode("overwrite")
    if dataset.partitioned_by:
        writer = writer.partitionBy(*dataset.partitioned_by)
    writer.parquet(f"{root}/{dataset.path}")


def customer(cid: str | None, email: str | None = None, created_at: datetime = PAST) -> dict[str, Any]:
    return {"customer_id": cid, "email": email or f"{cid}@example.com", "created_at": created_at, "country": "DE"}


def order(oid: str | None, cid: str | None, amount: str, ts: datetime = PAST) -> dict[str, Any]:
    return {
        "order_id": oid,
        "customer_id": cid,
        "order_ts": ts,
        "status": "paid",
        "currency": "EUR",
        "total_amount": Decimal(amount),
        "order_date": ts.date(),
    }


def item(oid: str, line: int | None, pid: str, quantity: int = 1, price: str = "5.00") -> dict[str, Any]:
    return {"order_id": oid, "line_no": line, "product_id": pid, "quantity": quantity, "unit_price": Decimal(price)}


def event(eid: str, cid: str | None, pid: str | None, ts: datetime = PAST) -> dict[str, Any]:
    return {
        "event_id": eid,
        "session_id": "s1",
        "customer_id": cid,
        "event_type": "view",
        "product_id": pid,
        "event_ts": ts,
        "event_date": ts.date(),
    }


CUSTOMER_ROWS = [
    customer("c1"),
    customer("c2"),
    customer("c3", email="not-an-email"),
    {"customer_id": "c4", "email": None, "created_at": PAST},
    customer("c5", created_at=FUTURE),
    customer("c1", email="second@example.com", created_at=LATER),
    customer(None),
]
ORDER_ROWS = [
    order("o1", "c1", "100.00"),
    order("o2", "c2", "20000.00"),
    order("o3", "c1", "-5.00"),
    order("o4", "c9", "10.00"),
    order("o5", "c2", "10.00", ts=FUTURE),
    order("o1", "c1", "999.00", ts=LATER),
    order("o6", None, "10.00"),
    order("o7", "c9", "-1.00"),
    order("o8", "c1", "-3.00"),
    order("o8", "c1", "30.00", ts=LATER),
    order("o9", "c2", "10000.00"),
]
ITEM_ROWS = [
    item("o1", 1, "p1"),
    item("o1", 2, "p9"),
    item("o99", 1, "p1"),
    item("o2", 1, "p1", quantity=-1),
    item("o2", 2, "p1", price="-5.00"),
    item("o1", 1, "p1", quantity=7),
    item("o2", None, "p1"),
]
# Clean: an anonymous visitor (null customer and product) is not an orphan.
EVENT_ROWS = [event("e1", None, None), event("e2", "c1", "p1")]
# Products drifted: price arrives as text, created_at as a boolean (no cast to a timestamp exists), brand and
# subcategory are missing, and a supplier column appeared.
DRIFTED_PRODUCTS = StructType(
    [
        StructField("product_id", StringType()),
        StructField("name", StringType()),
        StructField("category", StringType()),
        StructField("price", StringType()),
        StructField("cost", DecimalType(10, 2)),
        StructField("in_stock", BooleanType()),
        StructField("created_at", BooleanType()),
        StructField("supplier", StringType()),
    ]
)
PRODUCT_ROWS = [
    ("p1", "Mug", "home", "10.00", Decimal("5.00"), True, None, "acme"),
    ("p1", "Mug", "home", "10.00", Decimal("5.00"), True, None, "acme"),  # an exact copy
    ("p2", "Cup", "home", "-1.00", Decimal("5.00"), True, None, None),
    ("p3", "Pan", "home", "10.00", Decimal("-2.00"), True, None, None),
    ("p4", "Pot", "home", "ten", Decimal("5.00"), True, None, None),
    ("p5", "Jar", "home", "3.50", Decimal("1.00"), False, True, None),
]
FIXTURE_ROWS = {
    CUSTOMERS.path: CUSTOMER_ROWS,
    PRODUCTS.path: PRODUCT_ROWS,
    ORDERS.path: ORDER_ROWS,
    ORDER_ITEMS.path: ITEM_ROWS,
    USER_EVENTS.path: EVENT_ROWS,
}


def args_for(root: str, *extra: str, now: str | None = NOW) -> Any:
    parser = base.base_parser(validate.NAME)
    validate.add_arguments(parser)
    return parser.parse_args(["--lake", root, *(["--now", now] if now else []), *extra])


def read(spark: SparkSession, root: str, path: str) -> DataFrame:
    return spark.read.parquet(f"{root}/{path}")


def local(root: str, *parts: str) -> Path:
    return Path(root.removeprefix("file://"), *parts)


@pytest.fixture(scope="module")
def shared_session(spark: SparkSession) -> Iterator[None]:
    """The command line reuses the tests' session instead of building its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "get_spark", lambda name, **_: spark)
        yield


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = "file://" + str(tmp_path_factory.mktemp("validate_lake"))
    for path in (CUSTOMERS.path, ORDERS.path, ORDER_ITEMS.path, USER_EVENTS.path):
        write(spark, root, DATASETS[path], FIXTURE_ROWS[path])
    spark.createDataFrame(PRODUCT_ROWS, DRIFTED_PRODUCTS).coalesce(1).write.parquet(f"{root}/{PRODUCTS.path}")
    return root


@pytest.fixture(scope="module")
def validated(lake: str, shared_session: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The command line run once over the whole lake: exit status, stdout, summary and lineage events."""
    events = tmp_path_factory.mktemp("validate_events") / "events.jsonl"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = base.main(
            validate.NAME,
            validate.add_arguments,
            validate.run,
            argv=["--lake", lake, "--now", NOW, "--lineage-file", str(events)],
        )
    last = stdout.getvalue().strip().splitlines()[-1]
    summary = json.loads(last.removeprefix(base.SUMMARY_PREFIX)) if last.startswith(base.SUMMARY_PREFIX) else None
    return {"status": status, "last_line": last, "summary": summary, "events": events}


def quarantined(spark: SparkSession, root: str, name: str) -> dict[tuple[Any, ...], list[str]]:
    """Quarantined rows of a dataset as {primary key: sorted reasons}; a repeated key collects all its reasons."""
    key = DATASETS[f"raw/{name}"].primary_key
    out: dict[tuple[Any, ...], list[str]] = {}
    for row in read(spark, root, f"quarantine/{name}").collect():
        out.setdefault(tuple(row[k] for k in key), []).extend(row["reasons"])
    return {k: sorted(v) for k, v in out.items()}


def test_the_cli_prints_the_summary_and_exits_zero_on_bad_data(validated) -> None:
    assert validated["status"] == 0
    assert validated["last_line"].startswith(base.SUMMARY_PREFIX)
    assert validated["summary"]["totals"]["rejected"] > 0


def test_each_bad_row_is_quarantined_with_its_reasons(spark: SparkSession, lake: str, validated) -> None:
    assert quarantined(spark, lake, "customers") == {
        ("c1",): ["duplicate_id"],
        ("c3",): ["invalid_email"],
        ("c5",): ["future_created_at"],
        (None,): ["null_customer_id"],
    }
    assert quarantined(spark, lake, "products") == {
        ("p1",): ["duplicate_id"],
        ("p2",): ["negative_price"],
        ("p3",): ["negative_cost"],
        ("p4",): ["uncastable_price"],
        ("p5",): ["uncastable_created_at"],
    }
    assert quarantined(spark, lake, "orders") == {
        ("o1",): ["duplicate_id"],
        ("o3",): ["negative_total_amount"],
        ("o4",): ["orphan_customer_id"],
        ("o5",): ["future_order_date", "future_order_ts"],
        ("o7",): ["negative_total_amount", "orphan_customer_id"],
        ("o8",): ["duplicate_id", "negative_total_amount"],  # the clean copy of o8 is kept (see below)
    }
    assert quarantined(spark, lake, "order_items") == {
        ("o1", 1): ["duplicate_id"],
        ("o1", 2): ["orphan_product_id"],
        ("o99", 1): ["orphan_order_id"],
        ("o2", 1): ["negative_quantity"],
        ("o2", 2): ["negative_unit_price"],
        ("o2", None): ["null_line_no"],
    }
    assert quarantined(spark, lake, "user_events") == {}  # written empty, with its schema, for a clean dataset


def test_curated_and_quarantine_add_up_to_the_input(spark: SparkSession, lake: str, validated) -> None:
    for path, rows in FIXTURE_ROWS.items():
        name = path.split("/")[1]
        counts = validated["summary"]["datasets"][path]
        curated = read(spark, lake, f"curated/{name}").count()
        rejected = read(spark, lake, f"quarantine/{name}").count()
        assert (curated, rejected) == (counts["valid"], counts["rejected"]), path
        assert curated + rejected == len(rows) == counts["read"], path


def test_duplicates_keep_exactly_one_row_and_prefer_the_clean_earliest(
    spark: SparkSession, lake: str, validated
) -> None:
    orders = {r["order_id"]: r for r in read(spark, lake, "curated/orders").collect()}
    assert sorted(orders) == ["o1", "o2", "o6", "o8", "o9"]
    assert orders["o1"]["total_amount"] == Decimal("100.00")  # the earlier of two clean copies
    assert orders["o8"]["total_amount"] == Decimal("30.00")  # the clean copy beats an earlier broken one
    customers = read(spark, lake, "curated/customers").where("customer_id = 'c1'").collect()
    assert [c["email"] for c in customers] == ["c1@example.com"]
    assert read(spark, lake, "curated/products").where("product_id = 'p1'").count() == 1  # one of two exact copies
    items = read(spark, lake, "curated/order_items").where("order_id = 'o1' AND line_no = 1").collect()
    assert [i["quantity"] for i in items] == [1]


def test_curated_keeps_the_canonical_schema_and_partitioning(spark: SparkSession, lake: str, validated) -> None:
    for dataset in (ORDERS, PRODUCTS):
        curated = read(spark, lake, f"curated/{dataset.path.split('/')[1]}")
        assert [(f.name, f.dataType) for f in curated.schema.fields] == [
            (f.name, f.dataType) for f in dataset.schema.fields
        ]
    assert any(local(lake, "curated/orders").glob("order_date=2024-01-10/*.parquet"))
    assert read(spark, lake, "quarantine/orders").columns == [*ORDERS.columns, "reasons"]


def test_schema_drift_is_reported_and_cast_where_possible(spark: SparkSession, lake: str, validated) -> None:
    products = validated["summary"]["datasets"][PRODUCTS.path]
    assert products["schema"]["extra"] == ["supplier"]
    assert products["schema"]["missing"] == ["subcategory", "brand", "stock_quantity"]
    mismatched = {m["column"]: m for m in products["schema"]["mismatched"]}
    assert mismatched == {
        "price": {"column": "price", "expected": "decimal(10,2)", "actual": "string", "cast": True},
        "created_at": {"column": "created_at", "expected": "timestamp", "actual": "boolean", "cast": False},
    }
    assert products["nulls"]["brand"] == len(PRODUCT_ROWS)
    prices = {r["product_id"]: r["price"] for r in read(spark, lake, "curated/products").collect()}
    assert prices == {"p1": Decimal("10.00")}


def test_high_value_orders_are_flagged_not_rejected(spark: SparkSession, lake: str, validated) -> None:
    summary = validated["summary"]
    assert summary["datasets"]["raw/orders"]["flagged_high_value"] == 1  # o2; o9 at exactly 10,000 is not above
    assert read(spark, lake, "curated/orders").where("order_id = 'o2'").count() == 1
    assert summary["high_value_threshold"] == "10000"


def test_the_summary_counts_reasons_and_nulls_and_is_written_to_the_lake(lake: str, validated) -> None:
    summary = validated["summary"]
    orders = summary["datasets"]["raw/orders"]
    assert (orders["read"], orders["valid"], orders["rejected"]) == (11, 5, 6)
    assert orders["reasons"]["negative_total_amount"] == 3
    assert orders["reasons"]["duplicate_id"] == 2
    assert orders["nulls"]["customer_id"] == 1
    assert orders["nulls"]["device_type"] == 11
    customers = summary["datasets"]["raw/customers"]
    assert customers["nulls"]["email"] == 1  # a null email is a null finding, not an invalid one
    assert customers["reasons"]["invalid_email"] == 1
    assert summary["totals"]["read"] == sum(len(rows) for rows in FIXTURE_ROWS.values())
    written = json.loads(local(lake, "quarantine/_summary.json").read_text())
    assert written["datasets"] == summary["datasets"]


def test_lineage_events_validate_and_describe_curated_and_quarantine(
    lake: str, validated, validate_openlineage
) -> None:
    events = [json.loads(line) for line in validated["events"].read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event_ in events:
        validate_openlineage(event_)
    complete = events[1]
    assert {i["name"] for i in complete["inputs"]} == set(validate.RAW_DATASETS)
    outputs = {o["name"]: o for o in complete["outputs"]}
    assert set(outputs) == {
        f"{kind}/{p.split('/')[1]}" for p in validate.RAW_DATASETS for kind in ("curated", "quarantine")
    }
    curated = outputs["curated/orders"]
    statistics = curated["outputFacets"]["outputStatistics"]
    files = list(local(lake, "curated/orders").glob("order_date=*/*.parquet"))
    assert (statistics["rowCount"], statistics["fileCount"]) == (5, len(files))
    assert statistics["size"] >= sum(f.stat().st_size for f in files) > 0
    identity = curated["facets"]["columnLineage"]["fields"]["total_amount"]["inputFields"][0]
    assert (identity["name"], identity["field"]) == ("raw/orders", "total_amount")
    assert identity["transformations"][0]["subtype"] == "IDENTITY"
    cast = outputs["curated/products"]["facets"]["columnLineage"]["fields"]["price"]["inputFields"][0]
    assert cast["transformations"][0]["subtype"] == "TRANSFORMATION"
    reasons = outputs["quarantine/orders"]["facets"]["columnLineage"]["fields"]["reasons"]["inputFields"]
    filters = {(f["name"], f["field"]) for f in reasons if f["transformations"][0]["subtype"] == "FILTER"}
    assert {("raw/orders", "total_amount"), ("raw/orders", "order_id"), ("raw/orders", "order_ts")} <= filters
    assert any(f["name"] == "raw/customers" and f["transformations"][0]["subtype"] == "JOIN" for f in reasons)
    orders_in = next(i for i in complete["inputs"] if i["name"] == "raw/orders")
    assertions = {a["name"]: a for a in orders_in["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert assertions["negative_total_amount"]["success"] is False
    assert assertions["null_order_id"]["success"] is True
    assert orders_in["inputFacets"]["inputStatistics"]["rowCount"] == 11


def test_the_cli_exits_one_when_an_input_dataset_is_missing(
    spark: SparkSession, tmp_path: Path, shared_session: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root = "file://" + str(tmp_path)
    write(spark, root, ORDERS, [order("o1", "c1", "1.00")])  # raw/customers, its parent, is missing
    argv = ["--lake", root, "--datasets", "raw/orders"]
    status = base.main(validate.NAME, validate.add_arguments, validate.run, argv=argv)
    captured = capsys.readouterr()
    assert status == 1
    assert "raw/customers does not exist" in captured.err
    assert base.SUMMARY_PREFIX not in captured.out
    assert not (tmp_path / "curated").exists()


def test_validate_finds_the_faults_planted_in_the_generated_lake(
    spark: SparkSession, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pytest.importorskip("spark.jobs.generate", reason="the lake generator is not available yet")
    shared = local(request.getfixturevalue("small_lake"))
    # A copy, so the curated and quarantine outputs do not change the lake other tests share.
    for path in (CUSTOMERS.path, ORDERS.path):
        shutil.copytree(shared / path, tmp_path / "lake" / path)
    root = "file://" + str(tmp_path / "lake")
    args = args_for(root, "--datasets", f"{CUSTOMERS.path},{ORDERS.path}", now=None)
    datasets = base.execute(validate.NAME, validate.run, args, spark=spark).summary["datasets"]
    for path, counts in datasets.items():
        assert counts["valid"] + counts["rejected"] == counts["read"] > 0, path
    orders = datasets[ORDERS.path]["reasons"]
    planted = ("negative_total_amount", "future_order_ts", "duplicate_id", "orphan_customer_id")
    assert all(orders[reason] > 0 for reason in planted), orders
    assert datasets[CUSTOMERS.path]["reasons"]["invalid_email"] > 0
    assert datasets[CUSTOMERS.path]["nulls"]["email"] > 0
