"""Races and outages on the real services: 100 concurrent identical Alertmanager posts make exactly one incident;
a delivery goes end to end through a real Celery worker; with the broker unreachable every delivery is still
accepted, and processed exactly once by the sweeper when it is back."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from apps.common.testing import use_broker, wait_until
from apps.incidents import dispatch
from apps.incidents.choices import PayloadStatus
from apps.incidents.models import AlertPayload, Incident
from apps.incidents.services import payload_process
from ecap_site.celery import app as celery_app
from tests.incidents.conftest import am_alert, am_payload

POSTERS = 20
POSTS_EACH = 5


@pytest.mark.django_db(transaction=True)
def test_hundred_concurrent_identical_posts_make_exactly_one_incident(alertmanager) -> None:
    _, token = alertmanager
    url = f"/integrations/v1/alertmanager/{token}/"
    body = json.dumps(am_payload(am_alert()))
    start = threading.Barrier(POSTERS)

    def post_many(_: int) -> list[int]:
        client = Client()
        start.wait()
        try:
            return [client.post(url, body, content_type="application/json").status_code for _ in range(POSTS_EACH)]
        finally:
            connection.close()

    with ThreadPoolExecutor(POSTERS) as pool:
        codes = [code for batch in pool.map(post_many, range(POSTERS)) for code in batch]
    assert codes == [202] * POSTERS * POSTS_EACH

    ids = list(AlertPayload.objects.values_list("pk", flat=True))
    workers = 8
    go = threading.Barrier(workers)

    def process(chunk: list[int]) -> int:
        go.wait()
        try:
            return sum(payload_process(payload_id=payload_id) for payload_id in chunk)
        finally:
            connection.close()

    with ThreadPoolExecutor(workers) as pool:
        processed = sum(pool.map(process, [ids[n::workers] for n in range(workers)]))
    assert processed == POSTERS * POSTS_EACH
    incident = Incident.objects.get()
    assert incident.delivery_count == POSTERS * POSTS_EACH
    assert incident.alerts.get().deliveries == POSTERS * POSTS_EACH
    assert incident.timeline.filter(kind="triggered").count() == 1


@pytest.mark.slow
def test_delivery_goes_end_to_end_through_a_real_worker(celery_worker_process, alertmanager, client) -> None:
    _, token = alertmanager
    response = client.post(
        f"/integrations/v1/alertmanager/{token}/", am_payload(am_alert()), content_type="application/json"
    )
    assert response.status_code == 202
    wait_until(lambda: AlertPayload.objects.filter(status=PayloadStatus.PROCESSED).count() == 1)
    incident = Incident.objects.get()
    assert incident.priority == "P1"
    assert incident.runbook is not None
    assert list(incident.timeline.values_list("kind", flat=True)[:2]) == ["triggered", "classified"]


@pytest.mark.slow
def test_broker_down_at_intake_loses_nothing_and_doubles_nothing(celery_worker_process, alertmanager, client) -> None:
    _, token = alertmanager
    url = f"/integrations/v1/alertmanager/{token}/"
    real_broker = celery_app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        for n in range(10):
            payload = am_payload(am_alert(instance=f"payments-{n % 5}"), group_key=f"g{n % 5}")
            response = client.post(url, payload, content_type="application/json")
            assert response.status_code == 202
        assert dispatch.drain(timeout=60)
    finally:
        use_broker(real_broker)
        dispatch.resume()
    assert AlertPayload.objects.filter(status=PayloadStatus.PENDING).count() == 10
    assert Incident.objects.count() == 0

    from apps.incidents.tasks import sweep_payloads

    sweep_payloads.delay(older_than_seconds=0)
    wait_until(lambda: not AlertPayload.objects.filter(status=PayloadStatus.PENDING).exists())
    assert Incident.objects.count() == 5
    assert sorted(Incident.objects.values_list("delivery_count", flat=True)) == [2, 2, 2, 2, 2]
    sweep_payloads.delay(older_than_seconds=0)  # a second sweep finds nothing to do
    time.sleep(1)
    assert sum(Incident.objects.values_list("delivery_count", flat=True)) == 10
