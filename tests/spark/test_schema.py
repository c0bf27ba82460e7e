"""The lake's canonical schema matches the design: columns, types, partitioning and keys."""

from __future__ import annotations

from pyspark.sql.types import DateType, DecimalType, StringType, TimestampType

from spark.schema import CUSTOMERS, DATASETS, ORDERS, RFM_SEGMENTS, USER_EVENTS


def test_the_lake_has_the_six_datasets() -> None:
    assert set(DATASETS) == {
        "raw/customers",
        "raw/products",
        "raw/orders",
        "raw/order_items",
        "raw/user_events",
        "analytics/rfm_segments",
    }


def test_partition_and_key_columns_exist_in_each_schema() -> None:
    for dataset in DATASETS.values():
        assert set(dataset.partitioned_by) <= set(dataset.columns), dataset.path
        assert set(dataset.primary_key) <= set(dataset.columns), dataset.path
        for key in dataset.primary_key:
            assert not dataset.schema[key].nullable, f"{dataset.path}.{key}"


def test_column_types_follow_the_design() -> None:
    assert isinstance(CUSTOMERS.schema["date_of_birth"].dataType, DateType)
    assert isinstance(CUSTOMERS.schema["email"].dataType, StringType)
    assert ORDERS.schema["total_amount"].dataType == DecimalType(12, 2)
    assert isinstance(ORDERS.schema["order_ts"].dataType, TimestampType)
    assert ORDERS.partitioned_by == ("order_date",)
    assert USER_EVENTS.schema["customer_id"].nullable  # anonymous visitors
    assert RFM_SEGMENTS.partitioned_by == ("as_of",)
