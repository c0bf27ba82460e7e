"""On-call metrics on ``/metrics``: pages by channel and status and running escalations (read from the database at
scrape time, so every process reports the same), and the escalation lag, observed where a due step runs.

The lag is how late an escalation step runs after it was due (beat sweeps due escalations; a slow or stopped beat,
worker or ``critical`` queue shows here first). The engine runs in Celery workers, so the histogram is shared
through Redis (``apps.common.metrics.SharedHistogram``) and any web pod reports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.common.metrics import SharedHistogram, SharedHistogramCollector, register

logger = structlog.get_logger(__name__)

LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
ESCALATION_LAG = SharedHistogram(
    "ecap_oncall_escalation_lag_seconds",
    "Seconds between the moment an escalation step was due and the moment it ran.",
    [],
    LAG_BUCKETS,
)
PAGES = ("ecap_oncall_pages", "Pages (deliveries of purpose page) that reached a final status, by channel and status.")
PAGES_OPEN = ("ecap_oncall_pages_in_flight", "Pages not sent yet (pending, sending or retrying), by channel.")
ESCALATIONS = ("ecap_oncall_escalations_running", "Escalations still paging or waiting for business hours.")


def escalation_lag_observe(*, due_at: datetime, ran_at: datetime) -> None:
    """Record the lag of a step that runs now, once its transaction commits (a rolled-back run did not happen)."""
    lag = max(0.0, (ran_at - due_at).total_seconds())
    transaction.on_commit(lambda: ESCALATION_LAG.observe(lag))


class OncallCollector(Collector):
    """Pages by channel and status, running escalations by status, and the shared escalation-lag histogram."""

    def describe(self) -> Iterator[Any]:
        yield CounterMetricFamily(*PAGES, labels=["kind", "status"])
        yield GaugeMetricFamily(*PAGES_OPEN, labels=["kind"])
        yield GaugeMetricFamily(*ESCALATIONS, labels=["status"])
        yield ESCALATION_LAG.describe_family()

    def collect(self) -> Iterator[Any]:
        from apps.oncall.choices import OPEN_DELIVERY_STATUSES, ContactKind, DeliveryPurpose, DeliveryStatus
        from apps.oncall.engine import RUNNING
        from apps.oncall.models import Delivery, Escalation

        try:
            pages = {
                (row["kind"], row["status"]): row["n"]
                for row in Delivery.objects.filter(purpose=DeliveryPurpose.PAGE)
                .values("kind", "status")
                .annotate(n=Count("id"))
                .order_by()
            }
            running = {
                row["status"]: row["n"]
                for row in Escalation.objects.filter(status__in=RUNNING)
                .values("status")
                .annotate(n=Count("id"))
                .order_by()
            }
        except Exception as exc:  # a scrape must never fail because the database does
            logger.warning("oncall_metrics_unavailable", error=type(exc).__name__)
        else:
            # Final statuses only ever gain pages, so they make a counter; the others are a gauge.
            counter = CounterMetricFamily(*PAGES, labels=["kind", "status"])
            in_flight = GaugeMetricFamily(*PAGES_OPEN, labels=["kind"])
            for kind in ContactKind.values:
                for status in DeliveryStatus.values:
                    if status not in OPEN_DELIVERY_STATUSES:
                        counter.add_metric([kind, status], pages.get((kind, status), 0))
                in_flight.add_metric([kind], sum(pages.get((kind, s), 0) for s in OPEN_DELIVERY_STATUSES))
            yield counter
            yield in_flight
            gauge = GaugeMetricFamily(*ESCALATIONS, labels=["status"])
            for status in RUNNING:
                gauge.add_metric([str(status)], running.get(status, 0))
            yield gauge
        yield from SharedHistogramCollector([ESCALATION_LAG]).collect()


def register_collector() -> None:
    """Register once per process."""
    register(OncallCollector())
