"""The canonical schema of the lake, owned here and used by every job and test.

Paths are relative to a lake root given to each job (``file:///…`` locally, ``s3://…`` on EMR).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _s(name: str, nullable: bool = True) -> StructField:
    return StructField(name, StringType(), nullable)


@dataclass(frozen=True)
class LakeDataset:
    """One dataset of the lake: its path under the root, schema, partition columns and primary key."""

    path: str
    schema: StructType
    partitioned_by: tuple[str, ...]
    primary_key: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.schema.fields]


CUSTOMERS = LakeDataset(
    path="raw/customers",
    schema=StructType(
        [
            _s("customer_id", nullable=False),
            _s("email"),
            _s("first_name"),
            _s("last_name"),
            _s("phone"),
            StructField("date_of_birth", DateType()),
            _s("country"),  # ISO 3166-1 alpha-2
            _s("city"),
            _s("postal_code"),
            _s("street_address"),
            StructField("created_at", TimestampType()),
            StructField("updated_at", TimestampType()),
            StructField("marketing_opt_in", BooleanType()),
        ]
    ),
    partitioned_by=(),
    primary_key=("customer_id",),
)

PRODUCTS = LakeDataset(
    path="raw/products",
    schema=StructType(
        [
            _s("product_id", nullable=False),
            _s("name"),
            _s("category"),
            _s("subcategory"),
            _s("brand"),
            StructField("price", DecimalType(10, 2)),
            StructField("cost", DecimalType(10, 2)),
            StructField("in_stock", BooleanType()),
            StructField("stock_quantity", IntegerType()),
            StructField("created_at", TimestampType()),
        ]
    ),
    partitioned_by=(),
    primary_key=("product_id",),
)

ORDERS = LakeDataset(
    path="raw/orders",
    schema=StructType(
        [
            _s("order_id", nullable=False),
            _s("customer_id"),
            StructField("order_ts", TimestampType()),
            _s("status"),
            _s("payment_method"),
            _s("currency"),  # ISO 4217
            StructField("total_amount", DecimalType(12, 2)),
            _s("shipping_country"),
            _s("ip_address"),
            _s("device_type"),
            _s("session_id"),
            StructField("order_date", DateType()),
        ]
    ),
    partitioned_by=("order_date",),
    primary_key=("order_id",),
)

ORDER_ITEMS = LakeDataset(
    path="raw/order_items",
    schema=StructType(
        [
            _s("order_id", nullable=False),
            StructField("line_no", IntegerType(), False),
            _s("product_id"),
            StructField("quantity", IntegerType()),
            StructField("unit_price", DecimalType(10, 2)),
        ]
    ),
    partitioned_by=(),
    primary_key=("order_id", "line_no"),
)

USER_EVENTS = LakeDataset(
    path="raw/user_events",
    schema=StructType(
        [
            _s("event_id", nullable=False),
            _s("session_id"),
            _s("customer_id"),  # null for anonymous visitors
            _s("event_type"),
            _s("page_url"),
            _s("product_id"),
            StructField("event_ts", TimestampType()),
            _s("user_agent"),
            _s("ip_address"),
            StructField("event_date", DateType()),
        ]
    ),
    partitioned_by=("event_date",),
    primary_key=("event_id",),
)

RFM_SEGMENTS = LakeDataset(
    path="analytics/rfm_segments",
    schema=StructType(
        [
            _s("customer_id", nullable=False),
            StructField("recency_days", IntegerType()),
            StructField("frequency", IntegerType()),
            StructField("monetary", DecimalType(14, 2)),
            StructField("r_score", IntegerType()),  # 1..5, 5 = best
            StructField("f_score", IntegerType()),
            StructField("m_score", IntegerType()),
            _s("rfm_code"),
            _s("segment"),
            StructField("as_of", DateType(), False),
        ]
    ),
    partitioned_by=("as_of",),
    primary_key=("customer_id", "as_of"),
)

DATASETS: dict[str, LakeDataset] = {
    d.path: d for d in (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, USER_EVENTS, RFM_SEGMENTS)
}
