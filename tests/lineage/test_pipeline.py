"""End to end on the real services: the openlineage-python client's HTTP transport posting to a live server (no
trailing slash) and the events showing in the graph; a real Celery worker processing accepted events; the broker
down at intake losing and doubling nothing; and the events a Spark job writes (``spark/lineage.py``) becoming
catalog datasets, fields, schema versions and edges."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from pyspark.sql.types import DecimalType, IntegerType, StringType, StructField, StructType
from rest_framework.test import APIClient

from apps.catalog.models import Dataset, Field, SchemaVersion
from apps.common.services import api_token_create
from apps.common.testing import use_broker, wait_until
from apps.lineage import dispatch
from apps.lineage.choices import EventStatus
from apps.lineage.models import DatasetEdge, FieldEdge, LineageEvent
from apps.lineage.models import Run as RunRow
from apps.lineage.services import lineage_ingest_events
from ecap_site.celery import app as celery_app
from spark.lineage import ColumnSource, Lineage, input_dataset, output_dataset
from tests.lineage.conftest import LAKE, at, dataset, run_event, schema_facet

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def client_event(state: RunState, run_id: str, minutes: float, job: str, source: str, target: str) -> RunEvent:
    columns = ("customer_id", "segment")
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            c: column_lineage_dataset.Fields(
                inputFields=[column_lineage_dataset.InputField(namespace=LAKE, name=source, field=c)]
            )
            for c in columns
        }
    )
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=c, type="string") for c in columns]
    )
    return RunEvent(
        eventType=state,
        eventTime=at(minutes),
        run=Run(runId=run_id),
        job=Job(namespace="airflow", name=job),
        producer=PRODUCER,
        inputs=[InputDataset(namespace=LAKE, name=source, facets={"schema": schema})],
        outputs=[OutputDataset(namespace=LAKE, name=target, facets={"schema": schema, "columnLineage": lineage})],
    )


@pytest.mark.django_db(transaction=True)
def test_the_openlineage_python_client_posts_to_the_live_server_and_the_graph_shows_it(live_server, make_user) -> None:
    user = make_user(role="integrator")
    _, token = api_token_create(user=user, name="airflow")
    config = HttpConfig(url=live_server.url, timeout=10.0)  # default endpoint: api/v1/lineage, no trailing slash
    config.auth = ApiKeyTokenProvider({"apiKey": token})
    client = OpenLineageClient(transport=HttpTransport(config))
    for job, source, target in (
        ("segment_export", "analytics/rfm_segments", "marketing/crm_audience"),
        ("audience_sync", "marketing/crm_audience", "marketing/ads_upload"),
    ):
        run_id = str(uuid.uuid4())
        client.emit(client_event(RunState.START, run_id, 0, job, source, target))
        client.emit(client_event(RunState.COMPLETE, run_id, 4, job, source, target))
    assert LineageEvent.objects.count() == 4
    assert dispatch.drain(timeout=30)
    from datetime import timedelta

    from apps.lineage.services import events_sweep

    events_sweep(older_than=timedelta(seconds=-1))
    assert set(LineageEvent.objects.values_list("status", flat=True)) == {EventStatus.PROCESSED}

    reader = APIClient()
    reader.force_authenticate(make_user(role="data_steward"))
    body = reader.get(
        "/api/v1/lineage/graph/", {"namespace": LAKE, "name": "analytics/rfm_segments", "depth": 5}
    ).json()
    assert {(n["name"], n["hops"]) for n in body["nodes"]} == {
        ("analytics/rfm_segments", 0),
        ("marketing/crm_audience", 1),
        ("marketing/ads_upload", 2),
    }
    assert {e["job"] for e in body["edges"]} == {"airflow/segment_export", "airflow/audience_sync"}
    fields = reader.get(
        "/api/v1/lineage/graph/",
        {"namespace": LAKE, "name": "analytics/rfm_segments", "field": "segment", "depth": 5},
    ).json()
    assert [(n["name"], n["field"]) for n in fields["nodes"] if n["side"] == "downstream"] == [
        ("marketing/crm_audience", "segment"),
        ("marketing/ads_upload", "segment"),
    ]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_accepted_events_are_processed_by_a_real_worker(celery_worker_process, token_client) -> None:
    client, _ = token_client(role="integrator")
    run_id = str(uuid.uuid4())
    events = [
        run_event("START", run_id=run_id, time=at(0), inputs=[dataset("raw/orders")]),
        run_event(
            "COMPLETE",
            run_id=run_id,
            time=at(3),
            inputs=[dataset("raw/orders")],
            outputs=[dataset("curated/orders", schema=schema_facet("order_id"))],
        ),
    ]
    response = client.post("/api/v1/lineage", json.dumps(events), content_type="application/json")
    assert response.status_code == 201
    wait_until(lambda: LineageEvent.objects.filter(status=EventStatus.PROCESSED).count() == 2)
    assert RunRow.objects.get().state == "COMPLETE"
    assert DatasetEdge.objects.count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_broker_down_at_intake_loses_nothing_and_the_sweeper_processes_each_event_once(
    celery_worker_process, token_client
) -> None:
    client, _ = token_client(role="integrator")
    real_broker = celery_app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        for n in range(10):
            event = run_event(
                "COMPLETE",
                job=f"job{n % 5}",
                time=at(n),
                inputs=[dataset(f"raw/t{n % 5}")],
                outputs=[dataset(f"curated/t{n % 5}")],
            )
            response = client.post("/api/v1/lineage", json.dumps(event), content_type="application/json")
            assert response.status_code == 201
        assert dispatch.drain(timeout=60)
    finally:
        use_broker(real_broker)
        dispatch.resume()
    assert LineageEvent.objects.filter(status=EventStatus.PENDING).count() == 10
    assert RunRow.objects.count() == 0

    from apps.lineage.tasks import sweep_events

    sweep_events.delay(older_than_seconds=0)
    wait_until(lambda: not LineageEvent.objects.filter(status=EventStatus.PENDING).exists())
    assert set(LineageEvent.objects.values_list("attempts", flat=True)) == {1}
    assert RunRow.objects.count() == 10
    assert DatasetEdge.objects.count() == 5
    sweep_events.delay(older_than_seconds=0)  # a second sweep finds nothing to do
    time.sleep(1)
    assert set(LineageEvent.objects.values_list("attempts", flat=True)) == {1}


ORDERS = StructType(
    [
        StructField("order_id", StringType()),
        StructField("customer_id", StringType()),
        StructField("total_amount", DecimalType(12, 2)),
    ]
)
RFM = StructType(
    [
        StructField("customer_id", StringType()),
        StructField("frequency", IntegerType()),
        StructField("segment", StringType()),
    ]
)


@pytest.mark.django_db
def test_the_events_a_spark_job_writes_become_datasets_fields_schema_versions_and_edges(
    tmp_path: Path, validate_openlineage
) -> None:
    out = tmp_path / "events.jsonl"
    lake = "file:///srv/lake"
    run_id = str(uuid.uuid4())
    lineage = Lineage(job_name="rfm", run_id=run_id, file=str(out), spark_version="3.5.1")
    lineage.start([input_dataset(lake, "raw/orders", ORDERS)])
    columns = {
        "customer_id": [ColumnSource(lake, "raw/orders", "customer_id")],
        "frequency": [ColumnSource(lake, "raw/orders", "order_id", subtype="AGGREGATION")],
        "segment": [ColumnSource(lake, "raw/orders", "total_amount", subtype="AGGREGATION")],
    }
    lineage.complete(
        [input_dataset(lake, "raw/orders", ORDERS)],
        [output_dataset(lake, "analytics/rfm_segments", RFM, rows=1200, size=40_960, files=2, columns=columns)],
    )
    events = [json.loads(line) for line in out.read_text().splitlines()]
    for event in events:
        validate_openlineage(event)

    assert lineage_ingest_events(events=events) == 2
    rfm = Dataset.objects.get(namespace=lake, name="analytics/rfm_segments")
    orders = Dataset.objects.get(namespace=lake, name="raw/orders")
    assert (rfm.row_count, rfm.size_bytes, rfm.file_count) == (1200, 40_960, 2)
    assert list(Field.objects.filter(dataset=rfm).order_by("ordinal").values_list("name", "data_type")) == [
        ("customer_id", "string"),
        ("frequency", "int"),
        ("segment", "string"),
    ]
    assert Field.objects.get(dataset=orders, name="total_amount").data_type == "decimal(12,2)"
    assert SchemaVersion.objects.filter(dataset=rfm).count() == 1
    assert DatasetEdge.objects.get().job.name == "rfm"
    assert set(FieldEdge.objects.values_list("source__name", "target__name", "transformation_subtype")) == {
        ("customer_id", "customer_id", "IDENTITY"),
        ("order_id", "frequency", "AGGREGATION"),
        ("total_amount", "segment", "AGGREGATION"),
    }
    run = RunRow.objects.get()
    assert (str(run.run_id), run.state, run.job.job_type) == (run_id, "COMPLETE", "BATCH/SPARK/JOB")
    assert lineage_ingest_events(events=events) == 0  # the run's file ingested again: nothing new
