"""Platform actions against the real things: Redis keys, the Celery broker and workers, beat schedules, PostgreSQL
sessions, and a recording webhook receiver."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
import redis
from django.conf import settings
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from apps.incidents.choices import RemediationStatus
from apps.incidents.remediation import platform_actions
from ecap_site.celery import app
from tests.incidents.remediation.conftest import execute
from tests.incidents.remediation.recording_server import RecordingServer


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def keyspace(redis_client: redis.Redis) -> Iterator[str]:
    """A fresh key prefix in the test Redis, emptied afterwards."""
    base = f"remtest:{uuid.uuid4().hex}:"
    yield base
    for key in redis_client.scan_iter(match=base + "*", count=1000):
        redis_client.delete(key)


def _fill(client: redis.Redis, keys: list[str]) -> None:
    with client.pipeline() as pipe:
        for key in keys:
            pipe.set(key, "1")
        pipe.execute()


def test_redis_clear_prefix_deletes_only_the_keys_under_the_prefix(make_attempt, redis_client, keyspace) -> None:
    doomed = [f"{keyspace}circuit:payments:{i}" for i in range(1200)]
    kept = [f"{keyspace}circuit:paymentsX", f"{keyspace}circuit-payments:1", f"{keyspace}session:1"]
    _fill(redis_client, doomed + kept)

    attempt = execute(make_attempt("redis_clear_prefix", f"{keyspace}circuit:payments:"))

    assert attempt.status == RemediationStatus.SUCCEEDED, attempt.result
    assert (attempt.result["keys"], attempt.result["truncated"]) == (1200, False)
    assert redis_client.exists(*doomed) == 0
    assert redis_client.exists(*kept) == len(kept)
    assert "@" not in attempt.result["redis"]


def test_redis_clear_prefix_dry_run_counts_and_deletes_nothing(make_attempt, redis_client, keyspace) -> None:
    keys = [f"{keyspace}cache:{i}" for i in range(20)]
    _fill(redis_client, keys)

    attempt = execute(make_attempt("redis_clear_prefix", f"{keyspace}cache:", dry_run=True))

    assert attempt.status == RemediationStatus.DRY_RUN
    assert attempt.result["would"] == f"would delete 20 keys under '{keyspace}cache:'"
    assert redis_client.exists(*keys) == 20


def test_redis_clear_prefix_stops_at_the_configured_number_of_keys(
    make_attempt, redis_client, keyspace, configure
) -> None:
    configure(**{"remediation.redis_max_keys": 100})
    _fill(redis_client, [f"{keyspace}k:{i}" for i in range(300)])

    attempt = execute(make_attempt("redis_clear_prefix", f"{keyspace}k:"))

    assert (attempt.result["keys"], attempt.result["truncated"]) == (100, True)
    assert len(list(redis_client.scan_iter(match=f"{keyspace}k:*", count=1000))) == 200


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("*", "give a prefix"),
        ("ab", "at least 3 characters"),
        ("ecap:*:circuit", "wildcards"),
        ("_kombu.binding.", "Celery broker"),
        ("unacked", "Celery broker"),
        ("crit", "Celery broker"),
    ],
)
def test_redis_clear_prefix_refuses_dangerous_prefixes(make_attempt, prefix, problem) -> None:
    attempt = execute(make_attempt("redis_clear_prefix", prefix))

    assert attempt.status == RemediationStatus.BLOCKED
    assert problem in attempt.blocked_reason


def test_redis_clear_prefix_never_touches_this_run_s_broker_keys(make_attempt) -> None:
    broker_prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    attempt = execute(make_attempt("redis_clear_prefix", broker_prefix))

    assert attempt.status == RemediationStatus.BLOCKED
    assert "Celery broker" in attempt.blocked_reason


@pytest.fixture
def pipeline_schedule(db: None) -> PeriodicTask:
    every = IntervalSchedule.objects.create(every=3600, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="lake.ingest_clickstream", task="spark.ingest_clickstream", interval=every)


def test_schedule_pause_and_resume_flip_the_beat_schedule(make_attempt, pipeline_schedule) -> None:
    before = PeriodicTasks.last_change()
    paused = execute(make_attempt("schedule_pause", "lake.ingest_clickstream"))

    pipeline_schedule.refresh_from_db()
    assert paused.status == RemediationStatus.SUCCEEDED
    assert pipeline_schedule.enabled is False
    assert paused.result["changed"] is True
    # Beat reloads its schedule when this changes.
    assert PeriodicTasks.last_change() != before

    resumed = execute(make_attempt("schedule_resume", "lake.ingest_clickstream"))
    pipeline_schedule.refresh_from_db()
    assert resumed.status == RemediationStatus.SUCCEEDED
    assert pipeline_schedule.enabled is True


def test_schedule_pause_dry_run_and_unknown_names(make_attempt, pipeline_schedule) -> None:
    dry = execute(make_attempt("schedule_pause", "lake.ingest_clickstream", dry_run=True))
    unknown = execute(make_attempt("schedule_pause", "lake.no_such_job"))

    pipeline_schedule.refresh_from_db()
    assert dry.status == RemediationStatus.DRY_RUN
    assert pipeline_schedule.enabled is True
    assert unknown.status == RemediationStatus.FAILED
    assert unknown.result["error"] == "no schedule named 'lake.no_such_job'"


def test_spark_resubmit_publishes_the_task_on_the_spark_queue_of_the_broker(make_attempt, redis_client) -> None:
    queue = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] + "spark"

    attempt = execute(make_attempt("spark_resubmit", "orders-daily-2026-11-26.run-0042"))

    assert attempt.status == RemediationStatus.SUCCEEDED
    ours = [raw for raw in redis_client.lrange(queue, 0, -1) if attempt.result["task_id"] in raw.decode()]
    assert len(ours) == 1
    redis_client.lrem(queue, 1, ours[0])
    message = json.loads(ours[0])
    assert message["headers"]["task"] == "spark.resubmit_run"
    _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert kwargs == {"run_id": "orders-daily-2026-11-26.run-0042"}


def test_spark_resubmit_refuses_malformed_run_ids(make_attempt) -> None:
    attempt = execute(make_attempt("spark_resubmit", "$(reboot)"))
    assert attempt.status == RemediationStatus.BLOCKED
    assert "is not a run id" in attempt.blocked_reason


@pytest.fixture
def receiver() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


def test_webhook_posts_json_and_keeps_the_query_string_out_of_the_result(make_attempt, receiver) -> None:
    url = f"{receiver.url}/hook/circuit-reset?key=s3cr3t"
    attempt = execute(make_attempt("http_webhook", "payments", {"url": url, "body": {"service": "payments"}}))

    assert attempt.status == RemediationStatus.SUCCEEDED
    assert attempt.result["status_code"] == 200
    (post,) = receiver.requests()
    assert (post.method, post.path) == ("POST", "/hook/circuit-reset?key=s3cr3t")
    assert post.headers["Content-Type"] == "application/json"
    assert post.json == {"service": "payments"}
    assert "s3cr3t" not in json.dumps(attempt.result)


def test_a_webhook_error_answer_fails_the_attempt(make_attempt, receiver) -> None:
    receiver.webhook_status = 503
    attempt = execute(make_attempt("http_webhook", "payments", {"url": f"{receiver.url}/hook/x"}))

    assert attempt.status == RemediationStatus.FAILED
    assert (attempt.result["error"], attempt.result["status_code"]) == ("the webhook answered 503", 503)


def test_a_webhook_host_outside_the_allow_list_is_blocked(make_attempt, receiver, configure) -> None:
    configure(**{"remediation.webhook_allowed_hosts": "hooks.internal"})
    attempt = execute(make_attempt("http_webhook", "payments", {"url": f"{receiver.url}/hook/x"}))

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.blocked_reason.startswith("webhook allow-list: 127.0.0.1")
    assert receiver.requests() == []


def test_terminating_idle_sessions_ends_only_idle_sessions_of_that_database(make_attempt, monkeypatch) -> None:
    monkeypatch.setattr(platform_actions, "MIN_IDLE_SECONDS", 1)
    idle = psycopg2.connect(**connection.get_connection_params())
    idle.autocommit = True
    with idle.cursor() as cursor:
        cursor.execute("SELECT 1")
    time.sleep(1.5)
    name = connection.settings_dict["NAME"]

    dry = execute(make_attempt("db_terminate_idle_connections", name, {"idle_seconds": 1}, dry_run=True))
    done = execute(make_attempt("db_terminate_idle_connections", name, {"idle_seconds": 1}))

    assert dry.status == RemediationStatus.DRY_RUN
    assert dry.result["sessions"] >= 1
    assert done.status == RemediationStatus.SUCCEEDED
    assert done.result["sessions"] >= 1
    with pytest.raises(psycopg2.OperationalError), idle.cursor() as cursor:
        cursor.execute("SELECT 1")
    idle.close()
    with connection.cursor() as cursor:  # the portal's own session survives
        cursor.execute("SELECT 1")


@pytest.mark.slow
def test_pausing_and_resuming_a_queue_on_a_real_worker(celery_worker_process, make_attempt, configure) -> None:
    # Replies are collected until the timeout: a local worker answers well within a second.
    configure(**{"remediation.cooldown_minutes": 0, "remediation.control_timeout_seconds": 1})

    def consuming(queue: str) -> list[str]:
        active = app.control.inspect(timeout=1).active_queues() or {}
        return sorted(w for w, queues in active.items() if any(q["name"] == queue for q in queues))

    workers = consuming("spark")
    assert len(workers) == 1

    dry = execute(make_attempt("celery_queue_pause", "spark", dry_run=True))
    assert dry.result["consuming_now"] == workers
    assert consuming("spark") == workers

    paused = execute(make_attempt("celery_queue_pause", "spark"))
    assert paused.status == RemediationStatus.SUCCEEDED, paused.result
    assert paused.result["workers"] == workers
    assert consuming("spark") == []
    assert consuming("default") == workers

    resumed = execute(make_attempt("celery_queue_resume", "spark"))
    assert resumed.status == RemediationStatus.SUCCEEDED, resumed.result
    assert consuming("spark") == workers


def test_the_critical_queue_is_never_paused(make_attempt) -> None:
    attempt = execute(make_attempt("celery_queue_pause", "critical"))
    assert attempt.status == RemediationStatus.BLOCKED
    assert "never paused" in attempt.blocked_reason


def test_pausing_a_queue_with_no_worker_answering_fails(make_attempt, configure) -> None:
    configure(**{"remediation.control_timeout_seconds": 0.5})
    attempt = execute(make_attempt("celery_queue_pause", "spark"))
    assert attempt.status == RemediationStatus.FAILED
    assert attempt.result["error"] == "no worker answered within 0.5s; the queue was not paused"
