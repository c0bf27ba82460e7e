"""OpenLineage intake: validation names every problem (never a 500), the array form, the exact client path without a
trailing slash, idempotency, store-first answers, permissions, and the schema agreement of accepted and refused
events with the published OpenLineage JSON schemas."""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from typing import Any

import pytest
from jsonschema import ValidationError

from apps.lineage.choices import EventStatus
from apps.lineage.ingest import MAX_EVENTS
from apps.lineage.models import Job, LineageEvent, Run
from tests.lineage.conftest import LAKE, at, dataset, run_event, schema_facet

pytestmark = pytest.mark.django_db

URL = "/api/v1/lineage"


def post(client: Any, body: Any, url: str = URL, **extra: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def without(event: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    *parents, last = path.split(".")
    holder = out
    for key in parents:
        holder = holder[int(key)] if isinstance(holder, list) else holder[key]
    del holder[last]
    return out


def test_a_run_event_is_stored_at_the_path_the_clients_post_to_without_a_redirect(integrator) -> None:
    event = run_event("START", inputs=[dataset("raw/orders")], outputs=[dataset("curated/orders")])
    response = post(integrator, event)
    assert response.status_code == 201, response.content
    assert response.json() == {"received": 1, "stored": 1, "duplicates": 0}
    stored = LineageEvent.objects.get()
    assert (stored.kind, stored.event_type, stored.job_name) == ("run", "START", "orders_curation")
    assert str(stored.run_id) == event["run"]["runId"]
    assert stored.payload == event
    assert stored.status == EventStatus.PENDING


def test_the_trailing_slash_path_accepts_the_same_post(integrator) -> None:
    response = post(integrator, run_event(), url=URL + "/")
    assert response.status_code == 201
    assert LineageEvent.objects.count() == 1


def test_gzip_bodies_from_the_http_transport_are_accepted(integrator) -> None:
    body = gzip.compress(json.dumps(run_event()).encode())
    response = integrator.post(URL, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201
    assert LineageEvent.objects.count() == 1


def test_the_array_form_stores_every_event_in_one_request(integrator) -> None:
    run_id = str(uuid.uuid4())
    events = [run_event("START", run_id=run_id, time=at(0)), run_event("COMPLETE", run_id=run_id, time=at(5))]
    response = post(integrator, events)
    assert response.status_code == 201
    assert response.json() == {"received": 2, "stored": 2, "duplicates": 0}
    assert sorted(LineageEvent.objects.values_list("event_type", flat=True)) == ["COMPLETE", "START"]


def test_the_same_event_twice_is_one_row_and_the_repeat_answers_200(integrator) -> None:
    event = run_event("COMPLETE")
    assert post(integrator, event).status_code == 201
    again = post(integrator, event)
    assert again.status_code == 200
    assert again.json() == {"received": 1, "stored": 0, "duplicates": 1}
    assert LineageEvent.objects.count() == 1


def test_the_same_run_event_with_an_equivalent_time_zone_is_a_duplicate(integrator) -> None:
    event = run_event("COMPLETE", time="2026-11-01T06:00:00Z")
    same = {**event, "eventTime": "2026-11-01T07:00:00+01:00", "producer": "https://other.example/producer"}
    post(integrator, event)
    assert post(integrator, same).status_code == 200
    assert LineageEvent.objects.count() == 1


def test_duplicates_inside_one_array_are_stored_once(integrator) -> None:
    event = run_event("START")
    response = post(integrator, [event, event])
    assert response.json() == {"received": 2, "stored": 1, "duplicates": 1}


def test_dataset_and_job_events_are_deduplicated_by_their_whole_payload(integrator) -> None:
    dataset_event = {
        "eventTime": at(0),
        "producer": "https://example.com/catalog-sync",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": dataset("raw/customers", schema=schema_facet("customer_id", "email")),
    }
    job_event = {
        "eventTime": at(0),
        "producer": "https://example.com/scheduler",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "airflow", "name": "export"},
        "inputs": [dataset("raw/customers")],
    }
    assert post(integrator, [dataset_event, job_event]).status_code == 201
    assert post(integrator, [job_event, dataset_event]).status_code == 200
    changed = {**dataset_event, "eventTime": at(1)}
    assert post(integrator, changed).status_code == 201
    assert sorted(LineageEvent.objects.values_list("kind", flat=True)) == ["dataset", "dataset", "job"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: without(e, "eventTime"), "eventTime"),
        (lambda e: {**e, "eventTime": "yesterday"}, "eventTime"),
        (lambda e: {**e, "eventTime": "2026-11-01T06:00:00"}, "eventTime"),  # no zone: cannot be ordered
        (lambda e: without(e, "producer"), "producer"),
        (lambda e: without(e, "schemaURL"), "schemaURL"),
        (lambda e: {**e, "eventType": "FINISHED"}, "eventType"),
        (lambda e: without(e, "run.runId"), "run.runId"),
        (lambda e: {**e, "run": {"runId": "not-a-uuid"}}, "run.runId"),
        (lambda e: {**e, "run": "abc"}, "run"),
        (lambda e: without(e, "job"), "job"),
        (lambda e: without(e, "job.namespace"), "job.namespace"),
        (lambda e: without(e, "job.name"), "job.name"),
        (lambda e: {**e, "job": {"namespace": "airflow", "name": ""}}, "job.name"),
        (lambda e: {**e, "inputs": {"namespace": LAKE}}, "inputs"),
        (lambda e: {**e, "inputs": [{"namespace": LAKE}]}, "inputs.0.name"),
        (lambda e: {**e, "outputs": [{"name": "curated/orders"}]}, "outputs.0.namespace"),
        (lambda e: {**e, "outputs": [{"namespace": LAKE, "name": "x", "facets": []}]}, "outputs.0.facets"),
        (lambda e: {**e, "job": {"namespace": "a", "name": "x" * 501}}, "job.name"),
    ],
)
def test_an_invalid_run_event_is_refused_naming_the_field(integrator, mutate, field: str) -> None:
    event = mutate(run_event("START", inputs=[dataset("raw/orders")]))
    response = post(integrator, event)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in body["fields"], body
    assert field in body["detail"]
    assert LineageEvent.objects.count() == 0


def test_a_dataset_event_without_a_dataset_name_is_refused(integrator) -> None:
    event = {"eventTime": at(0), "producer": "p", "schemaURL": "s", "dataset": {"namespace": LAKE}}
    response = post(integrator, event)
    assert response.status_code == 400
    assert "dataset.name" in response.json()["fields"]


def test_in_the_array_form_errors_are_prefixed_with_the_event_index_and_nothing_is_stored(integrator) -> None:
    good = run_event("START")
    bad = run_event("START")
    bad["run"]["runId"] = "42"
    response = post(integrator, [good, bad, without(run_event(), "eventTime")])
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"1.run.runId", "2.eventTime"}
    assert LineageEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "parse_error"),
        (b"\xff\xfe", 400, "parse_error"),
        (b"42", 400, "validation_error"),
        (b"[]", 400, "validation_error"),
        (b"[1, 2]", 400, "validation_error"),
        (b"{}", 400, "validation_error"),
        (b"[" * 5000 + b"]" * 5000, 400, "parse_error"),
    ],
)
def test_malformed_bodies_are_refused_never_a_500(integrator, body: bytes, status: int, code: str) -> None:
    response = integrator.post(URL, body, content_type="application/json")
    assert response.status_code == status, response.content
    assert response.json()["code"] == code


def test_too_many_events_or_too_large_a_body_is_413(integrator) -> None:
    response = post(integrator, [run_event() for _ in range(MAX_EVENTS + 1)])
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    big = run_event(run_facets={"blob": {"_producer": "p", "_schemaURL": "s", "x": "y" * (3 * 1024 * 1024)}})
    response = post(integrator, big)
    assert response.status_code == 413
    assert LineageEvent.objects.count() == 0


def test_intake_needs_a_token_and_the_add_permission(api_client, token_client) -> None:
    assert post(api_client, run_event()).status_code == 401
    auditor, _ = token_client(role="auditor")
    denied = post(auditor, run_event())
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    oncall, _ = token_client(role="oncall_engineer")
    assert post(oncall, run_event()).status_code == 403
    steward, _ = token_client(role="data_steward")
    assert post(steward, run_event()).status_code == 201


def test_a_stored_event_is_processed_once_and_again_changes_nothing(integrator, sweep) -> None:
    event = run_event(
        "COMPLETE",
        inputs=[dataset("raw/orders", schema=schema_facet("order_id", "customer_id"))],
        outputs=[dataset("curated/orders", schema=schema_facet("order_id", "customer_id"))],
    )
    post(integrator, event)
    assert sweep() == 1
    assert sweep() == 0
    stored = LineageEvent.objects.get()
    assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
    assert Job.objects.count() == 1
    assert Run.objects.get().state == "COMPLETE"
    post(integrator, event)  # the producer retries: still one row, nothing to do
    assert sweep() == 0


# --- the published schemas agree with what is accepted and refused ------------------------------------------------
def accepted_examples() -> list[dict[str, Any]]:
    return [
        run_event("START", inputs=[dataset("raw/orders", schema=schema_facet("order_id"))]),
        run_event("COMPLETE", outputs=[dataset("curated/orders", outputStatistics={"rowCount": 5, "size": 10})]),
        {
            "eventTime": at(0),
            "producer": "https://example.com/catalog-sync",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
            "dataset": dataset("raw/customers", schema=schema_facet("customer_id")),
        },
        {
            "eventTime": at(0),
            "producer": "https://example.com/scheduler",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
            "job": {"namespace": "airflow", "name": "export"},
        },
    ]


def refused_examples() -> list[dict[str, Any]]:
    base = run_event("START", inputs=[dataset("raw/orders")])
    return [
        without(base, "eventTime"),
        without(base, "producer"),
        without(base, "schemaURL"),
        without(base, "run.runId"),
        without(base, "job.name"),
        without(base, "job.namespace"),
        {**base, "eventType": "FINISHED"},
        {**base, "inputs": [{"namespace": LAKE}]},
        {**base, "run": "abc"},
        {"eventTime": at(0), "producer": "p", "schemaURL": "s", "dataset": {"namespace": LAKE}},
    ]


def test_accepted_events_validate_against_the_openlineage_schemas(integrator, validate_openlineage) -> None:
    for event in accepted_examples():
        validate_openlineage(event)
        assert post(integrator, event).status_code == 201


def test_refused_events_are_also_invalid_for_the_openlineage_schemas(integrator, validate_openlineage) -> None:
    for event in refused_examples():
        with pytest.raises(ValidationError):
            validate_openlineage(event)
        assert post(integrator, event).status_code == 400, event
