"""Lineage metrics on ``/metrics``, read from the database at scrape time so every process reports the same:
OpenLineage events ingested by event type, events by processing status (the intake backlog and the failures), and
the lag from an event's own time to its processing, over the events received in the last hour.

``event_type`` is the RunEvent's eventType (START, RUNNING, COMPLETE, ABORT, FAIL, OTHER; anything else a producer
sends counts as OTHER) or ``dataset`` / ``job`` for the static events: a bounded set whatever producers send.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import structlog
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from apps.common.metrics import histogram_family, register

logger = structlog.get_logger(__name__)

EVENTS = ("ecap_lineage_events", "OpenLineage events ingested, by event type.")
STORED = ("ecap_lineage_events_stored", "Stored OpenLineage events by processing status.")
LAG = ("ecap_lineage_event_lag_seconds", "Seconds from an event's eventTime to its processing (received last hour).")
LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
LAG_WINDOW = timedelta(hours=1)


class LineageCollector(Collector):
    """Events by type and by status, and the processing lag histogram."""

    def describe(self) -> Iterator[Any]:
        yield CounterMetricFamily(*EVENTS, labels=["event_type"])
        yield GaugeMetricFamily(*STORED, labels=["status"])
        yield HistogramMetricFamily(*LAG)

    def collect(self) -> Iterator[Any]:
        from apps.lineage.choices import EventKind, EventStatus, RunState
        from apps.lineage.models import LineageEvent

        try:
            by_type = list(LineageEvent.objects.values("kind", "event_type").annotate(n=Count("id")).order_by())
            statuses = LineageEvent.objects.values("status").annotate(n=Count("id")).order_by()
            by_status = {row["status"]: row["n"] for row in statuses}
            processed = LineageEvent.objects.filter(
                received_at__gte=timezone.now() - LAG_WINDOW, processed_at__isnull=False
            ).values_list("event_time", "processed_at")
            lags = [max(0.0, (done - happened).total_seconds()) for happened, done in processed if done is not None]
        except Exception as exc:  # a scrape must never fail because the database does
            logger.warning("lineage_metrics_unavailable", error=type(exc).__name__)
            return
        counts = {label: 0 for label in (*RunState.values, EventKind.DATASET.value, EventKind.JOB.value)}
        for row in by_type:
            if row["kind"] == EventKind.RUN:
                label = row["event_type"] if row["event_type"] in RunState.values else RunState.OTHER.value
            else:
                label = row["kind"]
            counts[label] += row["n"]
        counter = CounterMetricFamily(*EVENTS, labels=["event_type"])
        for label, n in counts.items():
            counter.add_metric([label], n)
        yield counter
        stored = GaugeMetricFamily(*STORED, labels=["status"])
        for status in EventStatus.values:
            stored.add_metric([status], by_status.get(status, 0))
        yield stored
        yield histogram_family(*LAG, LAG_BUCKETS, {(): lags}, [])


def register_collector() -> None:
    """Register once per process."""
    register(LineageCollector())
