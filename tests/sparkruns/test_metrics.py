"""Spark runs on ``/metrics``: runs by job and state, duration of runs finished in the last 7 days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.sparkruns.models import SparkRun
from tests.common.test_metrics import value

pytestmark = pytest.mark.django_db


def run(job: str, state: str, minutes: float | None = None, days_ago: float = 0) -> SparkRun:
    end = timezone.now() - timedelta(days=days_ago)
    times = {} if minutes is None else {"started_at": end - timedelta(minutes=minutes), "finished_at": end}
    return SparkRun.objects.create(job=job, lake_root="file:///lake", backend="local", state=state, **times)


def test_runs_by_job_and_state_and_their_durations(client: Client) -> None:
    run("rfm", "succeeded", minutes=3)
    run("rfm", "succeeded", minutes=20)
    run("rfm", "failed", minutes=1)
    run("rfm", "succeeded", minutes=1, days_ago=8)  # outside the duration window, still counted by state
    run("quality_scan", "running")
    run("quality_scan", "queued")

    assert value(client, "ecap_spark_runs", job="rfm", state="succeeded") == 3.0
    assert value(client, "ecap_spark_runs", job="rfm", state="failed") == 1.0
    assert value(client, "ecap_spark_runs", job="quality_scan", state="running") == 1.0
    assert value(client, "ecap_spark_runs", job="dsr_erase", state="running") == 0.0
    duration = "ecap_spark_run_duration_seconds"
    assert value(client, f"{duration}_count", job="rfm") == 3.0
    assert value(client, f"{duration}_bucket", job="rfm", le="60.0") == 1.0
    assert value(client, f"{duration}_bucket", job="rfm", le="300.0") == 2.0
    assert value(client, f"{duration}_bucket", job="rfm", le="1800.0") == 3.0
    assert value(client, f"{duration}_sum", job="rfm") == pytest.approx(24 * 60, abs=1)
    assert value(client, f"{duration}_count", job="quality_scan") is None  # nothing finished
