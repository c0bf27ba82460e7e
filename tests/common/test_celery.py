"""Celery on the real Redis broker with a real worker process: round trip, request-id propagation, routing."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery.result import AsyncResult
from django.utils import timezone

from apps.common.models import ApiToken
from apps.common.services import api_token_create
from apps.common.tasks import api_tokens_purge
from ecap_site.celery import QUEUES, app


def log_events(log_file: Path) -> list[dict]:
    events = []
    for line in log_file.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def wait_for_event(log_file: Path, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in log_events(log_file):
            if predicate(event):
                return event
        time.sleep(0.2)
    raise AssertionError(f"no matching log event; worker log tail:\n{log_file.read_text()[-3000:]}")


def make_dead_token(user) -> ApiToken:
    token, _ = api_token_create(user=user, name="dead")
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=timezone.now() - timedelta(days=400), expires_at=timezone.now() - timedelta(days=200)
    )
    return token


@pytest.mark.slow
def test_task_round_trip_through_redis_and_a_real_worker(celery_worker_process: Path, make_user) -> None:
    owner = make_user()
    dead = make_dead_token(owner)
    api_token_create(user=owner, name="alive")
    result = api_tokens_purge.delay()
    assert result.get(timeout=30) == 1
    assert not ApiToken.objects.filter(pk=dead.pk).exists()
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["alive"]
    assert AsyncResult(result.id, app=app).status == "SUCCESS"


@pytest.mark.slow
@pytest.mark.urls("tests.common.celery_urls")
def test_task_started_from_a_request_logs_the_request_id(celery_worker_process: Path, make_user, client) -> None:
    client.force_login(make_user())
    response = client.get("/enqueue/", HTTP_X_REQUEST_ID="req-celery-000123")
    assert response["X-Request-ID"] == "req-celery-000123"
    task_id = response.json()["task_id"]
    assert AsyncResult(task_id, app=app).get(timeout=30) == 0
    event = wait_for_event(
        celery_worker_process, lambda e: e.get("event") == "task_succeeded" and e.get("task_id") == task_id
    )
    assert event["request_id"] == "req-celery-000123"


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("incidents.alert_process", "critical"),
        ("oncall.escalation_sweep", "critical"),
        ("quality.scan_dataset", "default"),
        ("spark.job_submit", "spark"),
        ("common.api_tokens_purge", "default"),
        ("catalog.anything", "default"),
    ],
)
def test_tasks_route_to_queues_by_name_prefix(task_name: str, queue: str) -> None:
    route = app.amqp.router.route({}, task_name, (), {})
    assert route["queue"].name == queue
    assert queue in QUEUES


def test_tasks_acknowledge_late_and_requeue_when_a_worker_is_lost() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert api_tokens_purge.acks_late is True
