"""Spark run metrics on ``/metrics``, read from the database at scrape time so every process reports the same: runs
by job and state (queued and running ones are the backlog; final states only grow), and the duration of the runs
that finished in the last 7 days, per job. ``job`` and ``state`` are the portal's own enums: at most 72 series.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import structlog
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from apps.common.metrics import histogram_family, register

logger = structlog.get_logger(__name__)

RUNS = ("ecap_spark_runs", "Spark runs by job and state.")
DURATION = ("ecap_spark_run_duration_seconds", "Duration of Spark runs finished in the last 7 days, start to end.")
DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 3 * 3600.0)
WINDOW = timedelta(days=7)


class SparkRunCollector(Collector):
    """Runs by job and state, and the duration histogram."""

    def describe(self) -> Iterator[Any]:
        yield GaugeMetricFamily(*RUNS, labels=["job", "state"])
        yield HistogramMetricFamily(*DURATION, labels=["job"])

    def collect(self) -> Iterator[Any]:
        from apps.sparkruns.choices import FINAL_STATES, Job, RunState
        from apps.sparkruns.models import SparkRun

        try:
            counts = {
                (row["job"], row["state"]): row["n"]
                for row in SparkRun.objects.values("job", "state").annotate(n=Count("id")).order_by()
            }
            finished = SparkRun.objects.filter(
                state__in=FINAL_STATES, finished_at__gte=timezone.now() - WINDOW, started_at__isnull=False
            ).values_list("job", "started_at", "finished_at")
            durations: dict[tuple[str, ...], list[float]] = {}
            for job, started, ended in finished:
                if started is None or ended is None:
                    continue
                durations.setdefault((job,), []).append(max(0.0, (ended - started).total_seconds()))
        except Exception as exc:  # a scrape must never fail because the database does
            logger.warning("spark_run_metrics_unavailable", error=type(exc).__name__)
            return
        gauge = GaugeMetricFamily(*RUNS, labels=["job", "state"])
        for job in Job.values:
            for state in RunState.values:
                gauge.add_metric([job, state], counts.get((job, state), 0))
        yield gauge
        yield histogram_family(*DURATION, DURATION_BUCKETS, durations, ["job"])


def register_collector() -> None:
    """Register once per process."""
    register(SparkRunCollector())
