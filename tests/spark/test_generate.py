"""The synthetic lake generator: canonical schemas, determinism per seed, the deliberately bad rows, referential
integrity, power-law activity, seasonality, realistic values, and the command line with its OpenLineage events."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.jobs import generate
from spark.jobs.base import SUMMARY_PREFIX, base_parser, main
from spark.paths import dataset_uri
from spark.schema import CUSTOMERS, ORDER_ITEMS, ORDERS, PRODUCTS, USER_EVENTS, LakeDataset

RAW = (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, USER_EVENTS)
# The stewards' email rule, and the shapes of other values (Java regular expressions, applied with Column.rlike).
EMAIL = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$"
E164 = r"^\+[1-9][0-9]{7,14}$"
IPV4 = r"^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$"
IPV6 = r"^[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
POSTAL = {
    "US": r"^[0-9]{5}$",
    "GB": r"^[A-Z]{1,2}[0-9]{1,2} [0-9][A-Z]{2}$",
    "CA": r"^[A-Z][0-9][A-Z] [0-9][A-Z][0-9]$",
    "NL": r"^[0-9]{4} [A-Z]{2}$",
    "PT": r"^[0-9]{4}-[0-9]{3}$",
    "IE": r"^[A-Z][0-9]{2} [A-Z0-9]{4}$",
    "DE": r"^[0-9]{5}$",
    "FR": r"^[0-9]{5}$",
    "AU": r"^[0-9]{4}$",
    "SG": r"^[0-9]{6}$",
}
TINY = {"orders": 600, "days": 4, "start": date(2025, 11, 27)}


def read(spark: SparkSession, root: str, dataset: LakeDataset) -> DataFrame:
    return spark.read.parquet(dataset_uri(root, dataset.path))


def frames(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    return {dataset.path: read(spark, root, dataset) for dataset in RAW}


def lake_uri(tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    return "file://" + str(tmp_path_factory.mktemp(name))


def sorted_rows(frame: DataFrame) -> list[Any]:
    return frame.orderBy(*frame.columns).collect()


def measured_bad_rows(lake: dict[str, DataFrame]) -> dict[str, int]:
    """Each kind of bad row, found in the written data the way a quality check would find it."""
    customers, products = lake[CUSTOMERS.path], lake[PRODUCTS.path]
    orders, items = lake[ORDERS.path], lake[ORDER_ITEMS.path]
    email = F.col("email")
    people = customers.agg(
        F.sum(email.isNull().cast("int")).alias("null_email"),
        F.sum((email.isNotNull() & ~email.rlike(EMAIL)).cast("int")).alias("malformed_email"),
    ).first()
    sales = orders.agg(
        F.sum((F.col("total_amount") < 0).cast("int")).alias("negative_amount"),
        F.sum((F.col("order_ts") > F.current_timestamp()).cast("int")).alias("future_timestamp"),
        (F.count("*") - F.countDistinct("order_id")).alias("duplicate_id"),
    ).first()
    assert people is not None
    assert sales is not None
    return {
        **{key: int(value or 0) for key, value in people.asDict().items()},
        **{key: int(value or 0) for key, value in sales.asDict().items()},
        "orphan_customer": orders.join(customers, "customer_id", "left_anti").count(),
        "orphan_product": items.join(products, "product_id", "left_anti").count(),
    }


@pytest.fixture(scope="module")
def small(spark: SparkSession, small_lake: str) -> Iterator[dict[str, DataFrame]]:
    """The shared small lake's datasets, read once and cached: each read of a daily-partitioned dataset lists it."""
    lake = {path: frame.cache() for path, frame in frames(spark, small_lake).items()}
    yield lake
    for frame in lake.values():
        frame.unpersist()


@pytest.fixture(scope="module")
def cli_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The generator run through ``main`` (as ``python -m spark.jobs.generate``) with ``--out``, lineage and summary."""
    root = lake_uri(tmp_path_factory, "cli")
    work = tmp_path_factory.mktemp("cli-files")
    lineage, summary = work / "lineage.jsonl", work / "summary.json"
    argv = ["--out", root, "--rows", str(TINY["orders"]), "--seed", "11", "--days", str(TINY["days"])]
    argv += ["--start", TINY["start"].isoformat(), "--lineage-file", str(lineage), "--summary", str(summary)]
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        # The harness asks for a session; pointing it at a master keeps it from re-tuning the shared one.
        patch.setenv("ECAP_SPARK_MASTER", "local[2]")
        status = main(generate.NAME, generate.add_arguments, generate.run, argv)
    events = [json.loads(line) for line in lineage.read_text().splitlines()]
    return {
        "root": root,
        "status": status,
        "stdout": stdout.getvalue(),
        "summary": json.loads(summary.read_text()),
        "events": events,
    }


@pytest.fixture(scope="module")
def same_seed_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = lake_uri(tmp_path_factory, "same-seed")
    return {"root": root, "rows": generate.generate_lake(spark, root, seed=11, **TINY)}


@pytest.fixture(scope="module")
def clean_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = lake_uri(tmp_path_factory, "clean")
    generate.generate_lake(spark, root, seed=13, bad_share=0.0, **TINY)
    return root


# --- pure helpers ---------------------------------------------------------------------------------------------


def test_slot_bounds_cover_every_row_once_in_order() -> None:
    weights = generate.hourly_weights(date(2025, 1, 1), 30, seed=1)
    bounds = generate.slot_bounds(1234, weights)
    assert bounds[0][1] == 0
    assert bounds[-1][2] == 1234
    assert all(a[2] == b[1] for a, b in itertools.pairwise(bounds))
    assert all(low < high for _, low, high in bounds)


def test_hourly_weights_peak_in_the_evening_and_in_december() -> None:
    weights = generate.hourly_weights(date(2025, 1, 1), 365, seed=1)
    assert len(weights) == 365 * 24
    june = sum(weights[151 * 24 : 181 * 24])
    december = sum(weights[334 * 24 : 365 * 24])
    assert december > 1.5 * june
    assert weights[20] > 3 * weights[4]  # 20:00 against 04:00 on the first day


def test_black_friday_is_the_busiest_day_of_the_year() -> None:
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
    busiest = max(days, key=generate.special_day_factor)
    assert busiest == date(2025, 11, 28)


def test_pick_tables_follow_the_weights() -> None:
    table = generate.pick_table([3, 1])
    assert len(table) == generate.PICK_TABLE_SIZE
    assert table.count(0) == 750


def test_sql_literals_escape_quotes_and_backslashes() -> None:
    assert generate.sql_literal(["O'Brien", "a\\b", 1, 0.5, True]) == "array('O\\'Brien', 'a\\\\b', 1, 0.5D, true)"


def test_out_is_another_name_for_the_lake_root() -> None:
    parser = base_parser(generate.NAME)
    generate.add_arguments(parser)
    args = parser.parse_args(["--out", "file:///tmp/lake", "--rows", "5"])
    assert args.lake == "file:///tmp/lake"
    assert args.rows == 5
    assert args.bad_share == 0.02


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="orders"):
        generate.make_plan(orders=0, seed=1)
    with pytest.raises(ValueError, match="bad_share"):
        generate.make_plan(orders=10, seed=1, bad_share=0.9)


# --- the shared small lake (2,000 orders over 2025, seed 7, 2% bad rows) ----------------------------------------


def test_small_lake_has_the_five_raw_datasets_with_the_canonical_schemas(small: dict[str, DataFrame]) -> None:
    for dataset in RAW:
        written = small[dataset.path].schema
        # Parquet reads every column back as nullable; names, order and types are what must match.
        assert [(f.name, f.dataType) for f in written] == [(f.name, f.dataType) for f in dataset.schema], dataset.path
    assert 2000 <= small[ORDERS.path].count() <= 2000 * 1.02


def test_every_bad_row_kind_is_present_at_about_the_requested_share(small: dict[str, DataFrame]) -> None:
    bad = measured_bad_rows(small)
    assert all(count > 0 for count in bad.values()), bad
    customers, orders, items = (small[d.path].count() for d in (CUSTOMERS, ORDERS, ORDER_ITEMS))
    assert 0.01 <= (bad["null_email"] + bad["malformed_email"]) / customers <= 0.04
    order_kinds = ("negative_amount", "future_timestamp", "duplicate_id", "orphan_customer")
    assert 0.01 <= sum(bad[k] for k in order_kinds) / orders <= 0.03
    assert 0.01 <= bad["orphan_product"] / items <= 0.03


def test_order_totals_are_the_sum_of_their_lines(small: dict[str, DataFrame]) -> None:
    orders = small[ORDERS.path].dropDuplicates(["order_id"])
    lines = (
        small[ORDER_ITEMS.path]
        .groupBy("order_id")
        .agg(F.sum(F.col("quantity") * F.col("unit_price")).alias("lines_total"), F.count("*").alias("lines"))
    )
    joined = orders.join(lines, "order_id", "left")
    assert joined.where("lines IS NULL").count() == 0  # every order has lines
    assert joined.where("abs(total_amount) != lines_total").count() == 0
    assert joined.where("total_amount < 0").count() > 0  # the negative ones are the lines' total, negated


def test_referential_integrity_holds_except_for_the_orphans(small: dict[str, DataFrame]) -> None:
    customers, products = small[CUSTOMERS.path], small[PRODUCTS.path]
    orders, items, events = small[ORDERS.path], small[ORDER_ITEMS.path], small[USER_EVENTS.path]
    assert items.join(orders, "order_id", "left_anti").count() == 0
    known = orders.join(customers, "customer_id", "left_semi")
    assert known.count() >= 0.99 * orders.count()
    # Customers exist before they buy: sign-up precedes every order of theirs within the window.
    first = known.where("order_ts <= current_timestamp()").groupBy("customer_id").agg(F.min("order_ts").alias("first"))
    assert first.join(customers, "customer_id").where("created_at > first").count() == 0
    # Each order's session is in the clickstream and ends with a checkout by the same customer.
    checkouts = events.where("event_type = 'checkout'").select("session_id", F.col("customer_id").alias("buyer"))
    matched = orders.dropDuplicates(["order_id"]).join(checkouts, "session_id")
    assert matched.count() == orders.select("order_id").distinct().count()
    assert matched.where("buyer != customer_id").count() == 0
    viewed = events.where("product_id IS NOT NULL").select("product_id").distinct()
    unknown_viewed = viewed.join(products, "product_id", "left_anti").count()
    unknown_lines = items.join(products, "product_id", "left_anti").select("product_id").distinct().count()
    assert unknown_viewed == unknown_lines  # only the orphan lines' products, added to carts


def test_products_cost_less_than_their_price(small: dict[str, DataFrame]) -> None:
    products = small[PRODUCTS.path]
    assert products.where("cost >= price OR price <= 0 OR cost <= 0").count() == 0
    assert products.where("in_stock != (stock_quantity > 0)").count() == 0
    assert products.select("category").distinct().count() >= 8


def test_a_few_customers_hold_much_of_the_revenue(small: dict[str, DataFrame]) -> None:
    orders = small[ORDERS.path].dropDuplicates(["order_id"]).where("total_amount > 0")
    per_customer = orders.groupBy("customer_id").agg(F.sum("total_amount").alias("revenue"), F.count("*").alias("n"))
    rows = per_customer.collect()
    revenue = sorted((float(r.revenue) for r in rows), reverse=True)

    def share(top: float) -> float:
        return sum(revenue[: int(len(revenue) * top)]) / sum(revenue)

    # As on the platform: the top 5-10% of customers hold roughly 25-40% of revenue.
    assert 0.2 <= share(0.05) <= 0.4, share(0.05)
    assert 0.3 <= share(0.10) <= 0.55, share(0.10)
    # A power law, not a uniform draw: the busiest customer orders many times the median.
    counts = sorted(r.n for r in rows)
    assert counts[-1] >= 5 * counts[len(counts) // 2]


def test_orders_follow_the_seasons(small: dict[str, DataFrame]) -> None:
    orders = small[ORDERS.path].where("order_ts <= current_timestamp()")
    by_month = {r.month: r["count"] for r in orders.groupBy(F.month("order_ts").alias("month")).count().collect()}
    assert set(by_month) == set(range(1, 13))
    assert by_month[12] > 1.4 * by_month[6]
    assert by_month[11] + by_month[12] > 2 * sum(by_month.values()) / 12 * 1.2
    by_hour = {r.hour: r["count"] for r in orders.groupBy(F.hour("order_ts").alias("hour")).count().collect()}
    assert by_hour[20] > 2 * by_hour[4]


def test_the_clickstream_has_sessions_funnels_and_anonymous_visitors(small: dict[str, DataFrame]) -> None:
    events = small[USER_EVENTS.path]
    kinds = {r.event_type for r in events.select("event_type").distinct().collect()}
    assert {"page_view", "product_view", "search", "add_to_cart", "checkout"} <= kinds
    sessions = events.groupBy("session_id").agg(F.max(F.col("customer_id").isNull().cast("int")).alias("anonymous"))
    anonymous = sessions.where("anonymous = 1").count() / sessions.count()
    assert 0.1 <= anonymous <= 0.4
    assert events.where(~F.col("session_id").rlike(UUID)).count() == 0
    assert events.select("event_id").distinct().count() == events.count()
    assert events.where("to_date(event_ts) != event_date").count() == 0


# --- determinism, bad_share=0, the command line -------------------------------------------------------------


def test_the_same_seed_writes_the_same_data(spark: SparkSession, cli_lake: dict, same_seed_lake: dict) -> None:
    assert cli_lake["summary"]["rows"] == same_seed_lake["rows"]
    for dataset in RAW:
        first = sorted_rows(read(spark, cli_lake["root"], dataset))
        second = sorted_rows(read(spark, same_seed_lake["root"], dataset))
        assert first == second, dataset.path


def test_another_seed_writes_other_data(spark: SparkSession, same_seed_lake: dict, clean_lake: str) -> None:
    # Seeds 11 and 13 (the clean lake also has no bad rows, but they are only 2% of the rows).
    for dataset in (CUSTOMERS, ORDERS, ORDER_ITEMS):
        first = read(spark, same_seed_lake["root"], dataset).drop(*dataset.primary_key)
        second = read(spark, clean_lake, dataset).drop(*dataset.primary_key)
        # Almost no row is the same once the keys are set aside.
        assert first.intersect(second).count() < 0.05 * first.count(), dataset.path


def test_generate_lake_returns_the_row_count_of_each_dataset(spark: SparkSession, same_seed_lake: dict) -> None:
    assert set(same_seed_lake["rows"]) == {d.path for d in RAW}
    for dataset in RAW:
        assert same_seed_lake["rows"][dataset.path] == read(spark, same_seed_lake["root"], dataset).count()


def test_no_bad_rows_when_the_share_is_zero(spark: SparkSession, clean_lake: str) -> None:
    assert measured_bad_rows(frames(spark, clean_lake)) == dict.fromkeys(generate.BAD_KINDS, 0)


def test_good_rows_have_well_formed_values(spark: SparkSession, clean_lake: str) -> None:
    customers = read(spark, clean_lake, CUSTOMERS)
    assert customers.where(~F.col("email").rlike(EMAIL)).count() == 0
    assert customers.select("email").distinct().count() == customers.count()
    assert customers.where(F.col("phone").isNotNull() & ~F.col("phone").rlike(E164)).count() == 0
    assert customers.where("phone IS NULL").count() < 0.2 * customers.count()
    countries = {c.iso for c in generate.COUNTRIES}
    assert {r.country for r in customers.select("country").distinct().collect()} <= countries
    for country, pattern in POSTAL.items():
        wrong = customers.where((F.col("country") == country) & ~F.col("postal_code").rlike(pattern))
        assert wrong.count() == 0, country
    assert customers.where("created_at > updated_at").count() == 0
    assert customers.where("date_of_birth > date'2007-11-27' OR date_of_birth < date'1940-01-01'").count() == 0
    orders = read(spark, clean_lake, ORDERS)
    events = read(spark, clean_lake, USER_EVENTS)
    for frame in (orders, events):
        ip = F.col("ip_address")
        assert frame.where(~(ip.rlike(IPV4) | ip.rlike(IPV6))).count() == 0
    assert orders.where(F.col("ip_address").rlike(IPV6)).count() > 0
    currency = {c.iso: c.currency for c in generate.COUNTRIES}
    pairs = {
        (r.shipping_country, r.currency) for r in orders.select("shipping_country", "currency").distinct().collect()
    }
    assert all(currency[country] == code for country, code in pairs)
    assert orders.where("order_date != to_date(order_ts)").count() == 0


def test_the_command_line_prints_the_summary_and_writes_the_lake(spark: SparkSession, cli_lake: dict) -> None:
    assert cli_lake["status"] == 0
    last = cli_lake["stdout"].strip().splitlines()[-1]
    assert last.startswith(SUMMARY_PREFIX)
    summary = json.loads(last[len(SUMMARY_PREFIX) :])
    assert summary == cli_lake["summary"]
    assert summary["seed"] == 11
    assert summary["orders"] == TINY["orders"]
    for dataset in RAW:
        assert summary["rows"][dataset.path] == read(spark, cli_lake["root"], dataset).count()
    # The reported bad rows are the ones a quality check finds.
    assert summary["bad_rows"] == measured_bad_rows(frames(spark, cli_lake["root"]))


def test_the_lineage_events_validate_and_describe_the_outputs(cli_lake: dict, validate_openlineage: Any) -> None:
    events = cli_lake["events"]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_openlineage(event)
    outputs = {o["name"]: o for o in events[1]["outputs"]}
    assert set(outputs) == {d.path for d in RAW}
    for dataset in RAW:
        output = outputs[dataset.path]
        assert output["namespace"] == cli_lake["root"]
        assert [f["name"] for f in output["facets"]["schema"]["fields"]] == dataset.columns
        statistics = output["outputFacets"]["outputStatistics"]
        assert statistics["rowCount"] == cli_lake["summary"]["rows"][dataset.path]
        assert statistics["fileCount"] >= 1
        assert statistics["size"] > 0
