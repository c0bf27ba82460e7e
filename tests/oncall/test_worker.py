"""With a real Celery worker on the test Redis and PostgreSQL: an Alertmanager post pages the on-call user through a
signed webhook, and a worker SIGKILLed in the middle of a step still pages exactly once."""

from __future__ import annotations

import hmac
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from apps.common.testing import wait_until
from apps.incidents.models import Incident
from apps.incidents.services import integration_create
from apps.oncall import engine
from apps.oncall.models import Delivery, Escalation
from apps.oncall.tasks import run_step
from tests.conftest import worker_env
from tests.incidents.conftest import am_alert, am_payload
from tests.oncall.conftest import WEBHOOK_SECRET
from tests.support import start_celery_worker, stop_process

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def start_worker(log_file: Path) -> subprocess.Popen[bytes]:
    """A solo-pool worker on every queue (its own process, so it can be killed like a lost pod)."""
    return start_celery_worker(log_file, name="oncall", env=worker_env())


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_process(proc)


@pytest.fixture
def alice_on_webhook(make_user, make_contact, make_policy, sink, configure):
    configure(**{"oncall.step_lease_seconds": 10})
    alice = make_user(role="oncall_engineer", username="alice")
    hook = make_contact(alice, "webhook", f"{sink.url}/hook/alice", delay=0)
    make_policy("critical", [("users", [alice]), ("wait", 30)])
    return alice, hook


def test_an_alertmanager_post_pages_through_the_worker_and_the_link_acknowledges(
    alice_on_webhook, sink, workers, tmp_path
) -> None:
    _, token = integration_create(kind="alertmanager", name="prometheus-prod")
    workers.append(start_worker(tmp_path / "worker.log"))
    response = Client().post(
        f"/integrations/v1/alertmanager/{token}/", am_payload(am_alert()), content_type="application/json"
    )
    assert response.status_code == 202
    wait_until(lambda: len(sink.requests("POST")) >= 1)
    [page] = sink.requests("POST")
    stamp = page.headers["X-ECAP-Timestamp"]
    expected = hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + page.body, "sha256").hexdigest()
    assert page.headers["X-ECAP-Signature"] == f"sha256={expected}"
    incident = Incident.objects.get()
    assert page.json["incident"]["id"] == str(incident.public_id)
    wait_until(lambda: Delivery.objects.filter(status="sent").count() == 1)

    path = page.json["ack_url"].removeprefix("https://portal.example.test")
    assert Client().post(path).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert Escalation.objects.get(incident=incident).stop_reason == "acknowledged"


def _step_blocked() -> bool:
    """Whether a session of this database waits for a lock (the step's insert, for the test's uncommitted row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def test_a_worker_killed_in_the_middle_of_a_step_still_pages_exactly_once(
    alice_on_webhook, sink, make_incident, workers, tmp_path
) -> None:
    _, hook = alice_on_webhook
    incident = make_incident()
    log = tmp_path / "worker.log"
    first = start_worker(log)
    workers.append(first)

    # An uncommitted row with the key of the step's page makes the step's INSERT ... ON CONFLICT wait, mid-step.
    locked, release = threading.Event(), threading.Event()

    class Abandon(Exception):
        pass

    def hold() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.create(
                    incident=incident,
                    step_index=0,
                    attempt=0,
                    user_id=hook.user_id,
                    contact_method=hook,
                    kind="webhook",
                    dedup_key=f"page:{incident.pk}:0:0:{hook.user_id}:{hook.pk}",
                    due_at=timezone.now(),
                )
                locked.set()
                release.wait(60)
                raise Abandon  # rolled back: the row never existed
        except Abandon:
            pass
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    escalation = engine.escalation_start(incident_id=incident.pk)
    assert escalation is not None
    wait_until(_step_blocked, timeout=30)

    first.send_signal(signal.SIGKILL)  # the worker dies mid-step
    first.wait(timeout=20)
    release.set()
    holder.join(10)
    wait_until(lambda: not _step_blocked(), timeout=30)
    assert Delivery.objects.count() == 0  # the killed step's transaction was rolled back
    assert sink.requests() == []

    workers.append(start_worker(log))
    old_token = Escalation.objects.get(pk=escalation.pk).fencing_token
    # The sweeper claims the step again once the lease has run out (here: by asking as of that time).
    assert engine.sweep_escalations(now=timezone.now() + timedelta(seconds=11)) == 1
    wait_until(lambda: len(sink.requests("POST")) >= 1)
    wait_until(lambda: Delivery.objects.filter(status="sent").count() == 1)
    run_step.delay(escalation.pk, old_token)  # the killed worker's task, delivered again late: a stale token
    run_step.delay(escalation.pk, old_token + 1)  # and the new claim's task twice
    time.sleep(2)
    assert len(sink.requests("POST")) == 1
    assert [(d.user_id, d.kind, d.status) for d in Delivery.objects.all()] == [(hook.user_id, "webhook", "sent")]
    escalation.refresh_from_db()
    assert (escalation.status, escalation.step_index, escalation.fencing_token) == ("active", 2, old_token + 1)
