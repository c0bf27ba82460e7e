"""Processing stored events: jobs and runs (out-of-order events never regress a run), the catalog's datasets, fields,
schema versions and statistics, the current graph (refreshed by a later complete run), column lineage, the catalog
propagation hook, failures and re-processing, and the in-process entry point used by Spark runs."""

from __future__ import annotations

import sys
import types
import uuid
from datetime import timedelta
from typing import Any

import pytest

from apps.catalog.models import Dataset, Field, SchemaVersion
from apps.lineage.choices import EventStatus
from apps.lineage.models import DatasetEdge, FieldEdge, Job, JobDataset, LineageEvent, Run, RunDataset
from apps.lineage.services import MAX_ATTEMPTS, event_process, event_reprocess, lineage_ingest_events
from tests.lineage.conftest import LAKE, T0, at, column_lineage, dataset, run_event, schema_facet

pytestmark = pytest.mark.django_db

ORDERS = ("order_id", "customer_id", ("total_amount", "decimal(12,2)"))


def ingest(*events: dict[str, Any]) -> int:
    return lineage_ingest_events(events=list(events))


def edges() -> set[tuple[str, str, str | None]]:
    return {
        (e.source.name, e.target.name, e.job.name if e.job else None)
        for e in DatasetEdge.objects.select_related("source", "target", "job")
    }


def field_edges() -> set[tuple[str, str, str, str, bool]]:
    return {
        (
            f"{e.source.dataset.name}.{e.source.name}",
            f"{e.target.dataset.name}.{e.target.name}",
            e.transformation_type,
            e.transformation_subtype,
            e.masking,
        )
        for e in FieldEdge.objects.select_related("source__dataset", "target__dataset")
    }


def curation(event_type: str, run_id: str, minutes: float, **extra: Any) -> dict[str, Any]:
    return run_event(
        event_type,
        run_id=run_id,
        time=at(minutes),
        inputs=[dataset("raw/orders", schema=schema_facet(*ORDERS))],
        outputs=[
            dataset(
                "curated/orders",
                schema=schema_facet(*ORDERS),
                columnLineage=column_lineage(
                    {
                        c if isinstance(c, str) else c[0]: [(LAKE, "raw/orders", c if isinstance(c, str) else c[0])]
                        for c in ORDERS
                    }
                ),
                **extra,
            )
        ],
        job_facets={
            "jobType": {
                "_producer": "p",
                "_schemaURL": "s",
                "processingType": "BATCH",
                "integration": "AIRFLOW",
                "jobType": "TASK",
            },
            "documentation": {"_producer": "p", "_schemaURL": "s", "description": "Validates raw orders."},
        },
    )


def test_a_complete_run_creates_job_run_datasets_schema_versions_statistics_and_edges() -> None:
    run_id = str(uuid.uuid4())
    ingest(curation("START", run_id, 0))
    ingest(curation("COMPLETE", run_id, 7, outputStatistics={"rowCount": 1900, "size": 52_000, "fileCount": 3}))

    job = Job.objects.get()
    assert (job.namespace, job.name, job.job_type) == ("airflow", "orders_curation", "BATCH/AIRFLOW/TASK")
    assert job.description == "Validates raw orders."
    run = Run.objects.get()
    assert (run.state, run.started_at, run.ended_at) == ("COMPLETE", T0, T0 + timedelta(minutes=7))
    assert job.latest_run == run
    curated = Dataset.objects.get(namespace=LAKE, name="curated/orders")
    assert (curated.row_count, curated.size_bytes, curated.file_count) == (1900, 52_000, 3)
    assert curated.last_modified_at == T0 + timedelta(minutes=7)
    assert curated.schema_version == 1
    assert list(Field.objects.filter(dataset=curated).order_by("ordinal").values_list("name", "data_type")) == [
        ("order_id", "string"),
        ("customer_id", "string"),
        ("total_amount", "decimal(12,2)"),
    ]
    assert SchemaVersion.objects.filter(dataset=curated).count() == 1
    assert edges() == {("raw/orders", "curated/orders", "orders_curation")}
    assert {(r.dataset.name, r.direction) for r in JobDataset.objects.select_related("dataset")} == {
        ("raw/orders", "input"),
        ("curated/orders", "output"),
    }
    assert {(r.dataset.name, r.direction) for r in RunDataset.objects.select_related("dataset")} == {
        ("raw/orders", "input"),
        ("curated/orders", "output"),
    }
    assert ("raw/orders.customer_id", "curated/orders.customer_id", "DIRECT", "IDENTITY", False) in field_edges()
    assert len(field_edges()) == 3


def test_reprocessing_the_same_events_changes_nothing() -> None:
    run_id = str(uuid.uuid4())
    events = [curation("START", run_id, 0), curation("COMPLETE", run_id, 5)]
    assert ingest(*events) == 2
    before = (edges(), field_edges(), SchemaVersion.objects.count(), Field.objects.count())
    LineageEvent.objects.update(status=EventStatus.PENDING)  # as if a worker redelivered them
    for event in LineageEvent.objects.order_by("event_time"):
        assert event_process(event_id=event.pk) == 1
    assert ingest(*events) == 0
    assert (edges(), field_edges(), SchemaVersion.objects.count(), Field.objects.count()) == before
    assert Run.objects.get().state == "COMPLETE"


def test_a_late_start_after_complete_does_not_regress_the_run() -> None:
    run_id = str(uuid.uuid4())
    ingest(curation("COMPLETE", run_id, 10))
    ingest(curation("RUNNING", run_id, 5))
    ingest(curation("START", run_id, 0))
    run = Run.objects.get()
    assert run.state == "COMPLETE"
    assert run.started_at == T0
    assert run.ended_at == T0 + timedelta(minutes=10)
    assert run.last_event_time == T0 + timedelta(minutes=10)


def test_a_fail_with_an_error_message_and_other_events_keep_their_meaning() -> None:
    run_id = str(uuid.uuid4())
    error = {"_producer": "p", "_schemaURL": "s", "message": "executor lost", "programmingLanguage": "python"}
    parent = {
        "_producer": "p",
        "_schemaURL": "s",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": "nightly"},
    }
    nominal = {"_producer": "p", "_schemaURL": "s", "nominalStartTime": at(0), "nominalEndTime": at(60)}
    ingest(run_event("START", run_id=run_id, time=at(0), run_facets={"parent": parent, "nominalTime": nominal}))
    ingest(run_event("FAIL", run_id=run_id, time=at(3), run_facets={"errorMessage": error}))
    ingest(run_event("OTHER", run_id=run_id, time=at(9)))
    run = Run.objects.get()
    assert (run.state, run.error_message) == ("FAIL", "executor lost")
    assert str(run.parent_run_id) == parent["run"]["runId"]
    assert (run.nominal_start, run.nominal_end) == (T0, T0 + timedelta(minutes=60))
    assert run.ended_at == T0 + timedelta(minutes=3)


def test_a_later_complete_run_replaces_the_jobs_edges_and_a_late_old_one_does_not_bring_them_back() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    old = run_event(
        "COMPLETE",
        run_id=first,
        time=at(0),
        inputs=[dataset("raw/orders"), dataset("raw/products")],
        outputs=[dataset("analytics/sales")],
    )
    new = run_event(
        "COMPLETE",
        run_id=second,
        time=at(60),
        inputs=[dataset("curated/orders")],
        outputs=[dataset("analytics/sales"), dataset("analytics/sales_daily")],
    )
    ingest(old)
    assert edges() == {
        ("raw/orders", "analytics/sales", "orders_curation"),
        ("raw/products", "analytics/sales", "orders_curation"),
    }
    ingest(new)
    expected = {
        ("curated/orders", "analytics/sales", "orders_curation"),
        ("curated/orders", "analytics/sales_daily", "orders_curation"),
    }
    assert edges() == expected
    assert JobDataset.objects.filter(direction="input").get().dataset.name == "curated/orders"
    LineageEvent.objects.filter(run_id=first).delete()
    late = {**old, "eventType": "RUNNING", "eventTime": at(1)}  # a late event of the first run
    ingest(late)
    assert edges() == expected
    start = run_event("START", time=at(120), inputs=[dataset("raw/returns")], outputs=[dataset("analytics/sales")])
    ingest(start)  # a newer run's START only adds
    assert ("raw/returns", "analytics/sales", "orders_curation") in edges()
    assert expected <= edges()


def test_column_lineage_with_transformations_masking_and_dataset_wide_inputs() -> None:
    facet = column_lineage(
        {"email_hash": [(LAKE, "raw/customers", "email")]},
        subtype="TRANSFORMATION",
        masking=True,
        dataset_wide=[(LAKE, "raw/customers", "country")],
    )
    facet["fields"]["customer_id"] = {
        "inputFields": [{"namespace": LAKE, "name": "raw/customers", "field": "customer_id"}],
        "transformationType": "IDENTITY",
    }
    event = run_event(
        "COMPLETE", inputs=[dataset("raw/customers")], outputs=[dataset("marketing/contacts", columnLineage=facet)]
    )
    ingest(event)
    assert field_edges() == {
        ("raw/customers.email", "marketing/contacts.email_hash", "DIRECT", "TRANSFORMATION", True),
        ("raw/customers.customer_id", "marketing/contacts.customer_id", "DIRECT", "IDENTITY", False),
        ("raw/customers.country", "marketing/contacts.email_hash", "INDIRECT", "FILTER", False),
        ("raw/customers.country", "marketing/contacts.customer_id", "INDIRECT", "FILTER", False),
    }
    # The fields were unknown: the catalog got them, without replacing anything.
    customers = Dataset.objects.get(name="raw/customers")
    assert set(Field.objects.filter(dataset=customers).values_list("name", flat=True)) == {
        "email",
        "customer_id",
        "country",
    }
    assert customers.schema_version == 1


def test_an_output_with_column_lineage_is_fed_only_by_the_datasets_it_names() -> None:
    described = column_lineage(
        {"order_id": [(LAKE, "raw/orders", "order_id")]}, dataset_wide=[(LAKE, "raw/customers", "customer_id")]
    )
    event = run_event(
        "COMPLETE",
        job="validate",
        inputs=[dataset("raw/orders"), dataset("raw/customers"), dataset("raw/products")],
        outputs=[dataset("curated/orders", columnLineage=described), dataset("curated/products")],
    )
    ingest(event)
    assert edges() == {
        ("raw/orders", "curated/orders", "validate"),
        ("raw/customers", "curated/orders", "validate"),  # the indirect (filter) input counts
        ("raw/orders", "curated/products", "validate"),  # no column lineage: every input of the run
        ("raw/customers", "curated/products", "validate"),
        ("raw/products", "curated/products", "validate"),
    }


def test_column_edges_into_an_output_are_replaced_by_the_next_complete_run() -> None:
    out = {"customer_id": [(LAKE, "raw/orders", "customer_id")], "total": [(LAKE, "raw/orders", "total_amount")]}
    ingest(
        run_event(
            "COMPLETE",
            time=at(0),
            inputs=[dataset("raw/orders")],
            outputs=[dataset("analytics/rfm", columnLineage=column_lineage(out))],
        )
    )
    assert len(field_edges()) == 2
    out2 = {"customer_id": [(LAKE, "raw/orders", "customer_id")]}
    ingest(
        run_event(
            "COMPLETE",
            time=at(60),
            inputs=[dataset("raw/orders")],
            outputs=[dataset("analytics/rfm", columnLineage=column_lineage(out2, subtype="AGGREGATION"))],
        )
    )
    assert field_edges() == {("raw/orders.customer_id", "analytics/rfm.customer_id", "DIRECT", "AGGREGATION", False)}


def test_a_dataset_event_applies_its_schema_and_jobless_column_lineage() -> None:
    event = {
        "eventTime": at(0),
        "producer": "https://example.com/dbt",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": dataset(
            "analytics/customer_360",
            schema=schema_facet("customer_id", "country"),
            columnLineage=column_lineage({"country": [(LAKE, "raw/customers", "country")]}),
        ),
    }
    ingest(event)
    assert field_edges() == {("raw/customers.country", "analytics/customer_360.country", "DIRECT", "IDENTITY", False)}
    assert edges() == {("raw/customers", "analytics/customer_360", None)}
    assert Dataset.objects.get(name="analytics/customer_360").schema_version == 1


def test_a_schema_change_makes_a_new_version_and_keeps_the_catalogs_nullability() -> None:
    ingest(run_event("COMPLETE", time=at(0), outputs=[dataset("curated/orders", schema=schema_facet("order_id"))]))
    curated = Dataset.objects.get(name="curated/orders")
    Field.objects.filter(dataset=curated, name="order_id").update(nullable=False)  # measured by a profile
    SchemaVersion.objects.filter(dataset=curated).update(
        fields=[{"name": "order_id", "type": "string", "nullable": False}]
    )
    ingest(run_event("COMPLETE", time=at(60), outputs=[dataset("curated/orders", schema=schema_facet("order_id"))]))
    curated.refresh_from_db()
    assert curated.schema_version == 1  # nothing changed: no version, no breaking-change alert
    ingest(
        run_event(
            "COMPLETE", time=at(120), outputs=[dataset("curated/orders", schema=schema_facet("order_id", "status"))]
        )
    )
    curated.refresh_from_db()
    assert curated.schema_version == 2
    assert SchemaVersion.objects.get(dataset=curated, version=2).diff["added"] == ["status"]
    assert Field.objects.get(dataset=curated, name="order_id").nullable is False


def test_new_or_changed_column_edges_call_the_catalog_propagation_when_it_exists(
    monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls: list[list[int]] = []
    module = types.ModuleType("apps.catalog.propagation")
    module.propagate_from_fields = lambda *, field_ids: calls.append(field_ids)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "apps.catalog.propagation", module)
    import apps.catalog

    monkeypatch.setattr(apps.catalog, "propagation", module, raising=False)
    event = curation("COMPLETE", str(uuid.uuid4()), 0)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(event)
    sources = set(Field.objects.filter(dataset__name="raw/orders").values_list("pk", flat=True))
    assert len(calls) == 1
    assert set(calls[0]) == sources
    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ingest({**event, "eventTime": at(30)})  # same edges: nothing new to propagate
    assert calls == []


def test_an_event_that_keeps_failing_is_marked_failed_after_five_attempts_and_can_be_reprocessed(monkeypatch) -> None:
    from apps.lineage.services import intake

    def broken(*, event: LineageEvent) -> set[int]:
        raise RuntimeError("catalog unavailable")

    monkeypatch.setattr(intake, "event_apply", broken)
    ingest(run_event("START"))
    event = LineageEvent.objects.get()
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            event_process(event_id=event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.FAILED, MAX_ATTEMPTS)
    assert "catalog unavailable" in event.error
    assert event_process(event_id=event.pk) == 0
    monkeypatch.undo()
    event_reprocess(event=event)
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (EventStatus.PENDING, 0, "")
    assert event_process(event_id=event.pk) == 1
    assert Run.objects.count() == 1


def test_lineage_ingest_events_skips_invalid_lines_and_keeps_the_rest() -> None:
    bad = run_event("START")
    bad["run"]["runId"] = "nope"
    assert ingest(bad, run_event("START")) == 1
    assert LineageEvent.objects.get().status == EventStatus.PROCESSED
