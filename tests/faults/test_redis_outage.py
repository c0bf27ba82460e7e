"""Redis (broker and cache) going away: store first, process after, sweep what was missed.

With a private Redis stopped, Alertmanager deliveries, OpenLineage events and a data-subject request posted through
the real views are accepted (2xx) and stored; nothing is processed. Once Redis is back and a real worker runs, the
beat sweeps (``incidents.sweep_payloads``, ``lineage.sweep_events``, ``privacy.sweep_deadlines``) process every
stored item exactly once: one incident per alert group counting each delivery once, the lineage graph updated once
per event, the request's deadline reminder raised once (and its incident opened once); sweeping again changes
nothing. Requests arriving while a worker runs and Redis dies under it are likewise processed after it returns.
"""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.common.testing import wait_until
from apps.incidents import dispatch as alert_dispatch
from apps.incidents.choices import IntegrationKind, PayloadStatus
from apps.incidents.models import Alert, AlertPayload, Incident
from apps.incidents.services import integration_create
from apps.incidents.tasks import sweep_payloads
from apps.lineage import dispatch as lineage_dispatch
from apps.lineage.choices import EventStatus
from apps.lineage.models import DatasetEdge, LineageEvent, Run
from apps.lineage.tasks import sweep_events
from apps.privacy.models import DataSubjectRequest, RequestEvent
from apps.privacy.tasks import sweep_deadlines
from tests.conftest import celery_worker
from tests.faults.conftest import PrivateRedis, resume_publishers
from tests.incidents.conftest import am_alert, am_payload
from tests.lineage.conftest import at, dataset, run_event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _post_alerts(token: str, *payloads: dict[str, Any]) -> None:
    client = Client()
    for payload in payloads:
        response = client.post(
            f"/integrations/v1/alertmanager/{token}/", json.dumps(payload), content_type="application/json"
        )
        assert response.status_code == 202, response.content


def _post_events(client: Any, *bodies: Any) -> None:
    for body in bodies:
        response = client.post("/api/v1/lineage", json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content


def _drain_publishers() -> None:
    """Every id this process stored was handed to its publisher, which tried (and, Redis being down, failed)."""
    assert alert_dispatch.drain(timeout=30)
    assert lineage_dispatch.drain(timeout=30)


def _nothing_pending() -> bool:
    return (
        not AlertPayload.objects.filter(status=PayloadStatus.PENDING).exists()
        and not LineageEvent.objects.filter(status=EventStatus.PENDING).exists()
    )


def _sweep_in_this_process() -> int:
    """Run each sweep once more, as beat would trigger it; returns how much work they found."""
    return sweep_payloads(older_than_seconds=0) + sweep_events(older_than_seconds=0) + sweep_deadlines()


def test_intake_while_redis_is_down_is_stored_and_the_sweeps_process_each_item_once(
    redis_for_test: PrivateRedis, token_client: Any, tmp_path: Path
) -> None:
    _, alert_token = integration_create(kind=IntegrationKind.ALERTMANAGER, name="prometheus-prod")
    integrator, _ = token_client(role="integrator")
    payments, backlog = am_alert("PaymentProcessingFailure"), am_alert("DataPipelineBacklog")
    run_id = run_event()["run"]["runId"]

    redis_for_test.stop(signal.SIGTERM)
    _post_alerts(alert_token, am_payload(payments), am_payload(payments), am_payload(backlog))
    _post_events(
        integrator,
        [
            run_event("START", job="orders", run_id=run_id, time=at(0), inputs=[dataset("raw/orders")]),
            run_event(
                "COMPLETE",
                job="orders",
                run_id=run_id,
                time=at(5),
                inputs=[dataset("raw/orders")],
                outputs=[dataset("curated/orders")],
            ),
        ],
        run_event("COMPLETE", job="customers", inputs=[dataset("raw/customers")], outputs=[dataset("cur/customers")]),
    )
    request = integrator.post(
        "/api/v1/privacy/requests/",
        {
            "kind": "email",
            "value": "ana@example.com",
            "request_type": "gdpr.erasure",
            "received_at": (timezone.now() - timedelta(days=25)).isoformat(),
        },
        format="json",
    )
    assert request.status_code == 201, request.content
    _drain_publishers()

    # Stored, and nothing processed: the broker never got the work.
    assert AlertPayload.objects.filter(status=PayloadStatus.PENDING).count() == 3
    assert LineageEvent.objects.filter(status=EventStatus.PENDING).count() == 3
    dsr = DataSubjectRequest.objects.get()
    assert dsr.reminders_sent == []
    assert Incident.objects.count() == 0
    assert Run.objects.count() == 0

    redis_for_test.start()
    resume_publishers()
    with celery_worker(tmp_path / "worker.log", env={"REDIS_URL": redis_for_test.url()}):
        sweep_deadlines.delay()
        sweep_payloads.delay(older_than_seconds=0)
        sweep_events.delay(older_than_seconds=0)
        wait_until(lambda: AlertPayload.objects.count() == 4 and _nothing_pending())
        assert _sweep_in_this_process() == 0

    assert set(AlertPayload.objects.values_list("status", "attempts")) == {(PayloadStatus.PROCESSED, 1)}
    assert set(LineageEvent.objects.values_list("status", "attempts")) == {(EventStatus.PROCESSED, 1)}
    # One incident per alert group, each delivery counted once.
    payment_incident = Incident.objects.get(alerts__name="PaymentProcessingFailure")
    assert payment_incident.delivery_count == 2
    assert Alert.objects.get(name="PaymentProcessingFailure").deliveries == 2
    assert Incident.objects.get(alerts__name="DataPipelineBacklog").delivery_count == 1
    # The graph took each event once.
    assert Run.objects.count() == 2
    assert Run.objects.get(run_id=run_id).state == "COMPLETE"
    assert DatasetEdge.objects.count() == 2
    # The request moved on once: one reminder on its timeline, one incident for it.
    dsr.refresh_from_db()
    assert len(dsr.reminders_sent) == 1
    assert RequestEvent.objects.filter(request=dsr, kind="reminder").count() == 1
    assert Incident.objects.filter(integration__kind=IntegrationKind.INTERNAL).count() == 1
    assert Incident.objects.count() == 3


def test_requests_accepted_while_redis_dies_under_a_running_worker_are_processed_after_it_returns(
    redis_for_test: PrivateRedis, token_client: Any, tmp_path: Path
) -> None:
    _, alert_token = integration_create(kind=IntegrationKind.ALERTMANAGER, name="prometheus-prod")
    integrator, _ = token_client(role="integrator")
    with celery_worker(tmp_path / "worker.log", env={"REDIS_URL": redis_for_test.url()}):
        _post_alerts(alert_token, am_payload(am_alert("PaymentProcessingFailure")))
        wait_until(lambda: Incident.objects.count() == 1)  # the worker takes work from the broker

        redis_for_test.stop(signal.SIGKILL)
        _post_alerts(alert_token, am_payload(am_alert("DataPipelineBacklog")))
        _post_events(integrator, run_event("COMPLETE", inputs=[dataset("raw/a")], outputs=[dataset("cur/a")]))
        _drain_publishers()
        assert AlertPayload.objects.filter(status=PayloadStatus.PENDING).count() == 1
        assert LineageEvent.objects.filter(status=EventStatus.PENDING).count() == 1

        redis_for_test.start()
        resume_publishers()
        sweep_payloads.delay(older_than_seconds=0)
        sweep_events.delay(older_than_seconds=0)
        wait_until(_nothing_pending)
        assert _sweep_in_this_process() == 0

    assert set(AlertPayload.objects.values_list("status", "attempts")) == {(PayloadStatus.PROCESSED, 1)}
    assert set(LineageEvent.objects.values_list("status", "attempts")) == {(EventStatus.PROCESSED, 1)}
    assert Incident.objects.count() == 2
    assert Incident.objects.get(alerts__name="DataPipelineBacklog").delivery_count == 1
    assert Run.objects.count() == 1
    assert DatasetEdge.objects.count() == 1
