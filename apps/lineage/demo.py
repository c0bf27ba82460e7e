"""Demo data of lineage: OpenLineage events from "external" producers (an Airflow DAG curating orders, a dbt model
of daily revenue, an Airflow export of RFM segments to the CRM), ingested through the real intake path on the lake
the Spark demo runs use, so raw → curated → analytics → marketing lineage, with column lineage and schemas, is
visible at once. Idempotent: the events have fixed run ids and times, so a second seed stores nothing new."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.configuration.services import config_get
from apps.lineage.models import DatasetEdge, Job
from apps.lineage.services import lineage_ingest_events

AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.1.0"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets"
DEMO_DAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
RUN_IDS = uuid.UUID("6c1f4d0e-5a7b-4c2d-9e3f-0a1b2c3d4e5f")  # runs are derived from it, stable across seeds

ORDERS = [("order_id", "string"), ("customer_id", "string"), ("order_ts", "timestamp"), ("status", "string"),
          ("currency", "string"), ("total_amount", "decimal(12,2)"), ("shipping_country", "string")]  # fmt: skip


def _lake() -> str:
    from spark.paths import normalize_root

    return normalize_root(str(config_get("lake.root")))


def _schema(producer: str, fields: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "_producer": producer,
        "_schemaURL": f"{FACETS}/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "fields": [{"name": name, "type": kind} for name, kind in fields],
    }


def _columns(producer: str, mapping: dict[str, list[tuple[str, str, str, str, bool]]]) -> dict[str, Any]:
    """``{"out": [(namespace, dataset, field, subtype, masking), …]}`` as a columnLineage facet."""
    return {
        "_producer": producer,
        "_schemaURL": f"{FACETS}/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
        "fields": {
            out: {
                "inputFields": [
                    {"namespace": ns, "name": name, "field": column,
                     "transformations": [{"type": "DIRECT", "subtype": subtype, "masking": masking}]}
                    for ns, name, column, subtype, masking in sources
                ]
            }
            for out, sources in mapping.items()
        },
    }  # fmt: skip


def _run(
    producer: str, job: tuple[str, str], n: int, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], *,
    description: str, integration: str, minutes: int, rows: int,
) -> list[dict[str, Any]]:  # fmt: skip
    run_id = str(uuid.uuid5(RUN_IDS, f"{job[1]}:{n}"))
    job_facets = {
        "jobType": {"_producer": producer, "_schemaURL": f"{FACETS}/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                    "processingType": "BATCH", "integration": integration, "jobType": "TASK"},
        "documentation": {"_producer": producer, "description": description,
                          "_schemaURL": f"{FACETS}/1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet"},
    }  # fmt: skip
    for output in outputs:
        output["outputFacets"] = {
            "outputStatistics": {
                "_producer": producer,
                "_schemaURL": f"{FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json"
                "#/$defs/OutputStatisticsOutputDatasetFacet",
                "rowCount": rows,
            }
        }
    start = DEMO_DAY + timedelta(hours=n)
    return [
        {
            "eventType": state,
            "eventTime": (start if state == "START" else start + timedelta(minutes=minutes)).isoformat(),
            "producer": producer,
            "schemaURL": SCHEMA_URL,
            "run": {"runId": run_id, "facets": {}},
            "job": {"namespace": job[0], "name": job[1], "facets": job_facets},
            "inputs": inputs,
            "outputs": outputs if state == "COMPLETE" else [],
        }
        for state in ("START", "COMPLETE")
    ]


def demo_events(lake: str) -> list[dict[str, Any]]:
    """The demo's OpenLineage events on the lake ``lake``."""
    curated = [(lake, "raw/orders", name, "IDENTITY", False) for name, _ in ORDERS]
    revenue_in = [(lake, "curated/orders", "total_amount", "AGGREGATION", False)]
    events = _run(
        AIRFLOW, ("airflow://ecap-scheduler", "orders_dag.curate_orders"), 1,
        [{"namespace": lake, "name": "raw/orders", "facets": {"schema": _schema(AIRFLOW, ORDERS)}}],
        [{"namespace": lake, "name": "curated/orders",
          "facets": {"schema": _schema(AIRFLOW, ORDERS),
                     "columnLineage": _columns(AIRFLOW, {name: [curated[i]] for i, (name, _) in enumerate(ORDERS)})}}],
        description="Drops invalid orders and keeps the valid ones in curated/orders.", integration="AIRFLOW",
        minutes=40, rows=19_412,
    )  # fmt: skip
    events += _run(
        DBT, ("dbt://ecap-analytics", "analytics.daily_revenue"), 2,
        [{"namespace": lake, "name": "curated/orders"}, {"namespace": lake, "name": "raw/order_items"}],
        [{"namespace": lake, "name": "analytics/daily_revenue",
          "facets": {"schema": _schema(DBT, [("order_date", "date"), ("currency", "string"),
                                             ("revenue", "decimal(14,2)"), ("orders", "bigint")]),
                     "columnLineage": _columns(DBT, {
                         "order_date": [(lake, "curated/orders", "order_ts", "TRANSFORMATION", False)],
                         "currency": [(lake, "curated/orders", "currency", "IDENTITY", False)],
                         "revenue": revenue_in,
                         "orders": [(lake, "curated/orders", "order_id", "AGGREGATION", False)]})}}],
        description="Revenue and order count per day and currency.", integration="DBT", minutes=25, rows=365,
    )  # fmt: skip
    events += _run(
        AIRFLOW, ("airflow://ecap-scheduler", "crm_dag.export_rfm_segments"), 3,
        [{"namespace": lake, "name": "analytics/rfm_segments"}, {"namespace": lake, "name": "raw/customers"}],
        [{"namespace": "s3://ecap-marketing-exports", "name": "crm/audience",
          "facets": {"schema": _schema(AIRFLOW, [("customer_key", "string"), ("email_sha256", "string"),
                                                 ("segment", "string")]),
                     "columnLineage": _columns(AIRFLOW, {
                         "customer_key": [(lake, "analytics/rfm_segments", "customer_id", "TRANSFORMATION", True)],
                         "email_sha256": [(lake, "raw/customers", "email", "TRANSFORMATION", True)],
                         "segment": [(lake, "analytics/rfm_segments", "segment", "IDENTITY", False)]})}}],
        description="Weekly export of RFM segments to the CRM, with hashed identifiers.", integration="AIRFLOW",
        minutes=12, rows=8_950,
    )  # fmt: skip
    return events


def seed() -> list[str]:
    """Idempotent: the demo events have fixed identities, so they are stored and processed once."""
    lake = _lake()
    stored = lineage_ingest_events(events=demo_events(lake))
    jobs, edges = Job.objects.count(), DatasetEdge.objects.count()
    verb = "ingested" if stored else "present"
    return [f"lineage {verb}: {stored} new OpenLineage events on {lake}; {jobs} jobs, {edges} dataset edges"]
