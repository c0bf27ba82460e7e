"""Incident metrics on ``/metrics``, read from the database at scrape time so every process reports the same:
open incidents by priority and status, MTTA / MTTR histograms over the last 30 days, alerts received and
deduplicated, and alert payloads waiting to be processed (low-cardinality labels).

Alerts received are the deliveries counted on every stored alert (``Alert.deliveries``, duplicates included);
deduplicated are those that only refreshed an alert already stored (every delivery after an alert's first). Both
only grow while incidents are kept, so they are counters (deleting incidents reads as a counter reset)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import structlog
from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from apps.common.metrics import register
from apps.incidents.choices import OPEN_STATUSES, PayloadStatus, Priority

logger = structlog.get_logger(__name__)

BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
WINDOW = timedelta(days=30)
OPEN_NAME, OPEN_HELP = "ecap_incidents_open", "Open incidents by priority and status."
RECEIVED = ("ecap_alerts_received", "Alert deliveries stored, duplicates included.")
DEDUPLICATED = ("ecap_alerts_deduplicated", "Alert deliveries that refreshed an alert already stored.")
PENDING = ("ecap_alert_payloads_pending", "Accepted alert payloads not processed yet (intake backlog).")


def histogram(durations: list[float], name: str, documentation: str) -> HistogramMetricFamily:
    """A Prometheus histogram family of ``durations`` (seconds) over BUCKETS."""
    counts = [(str(bound), sum(1 for d in durations if d <= bound)) for bound in BUCKETS]
    counts.append(("+Inf", len(durations)))
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], counts, sum_value=sum(durations))
    return family


class IncidentCollector(Collector):
    """Collects incident gauges and histograms from the database."""

    def describe(self) -> Iterator[Any]:
        """The families, without querying (registration must not touch the database)."""
        yield GaugeMetricFamily(
            "ecap_incidents_open", "Open incidents by priority and status.", labels=["priority", "status"]
        )
        yield HistogramMetricFamily("ecap_incident_time_to_acknowledge_seconds", "Time to acknowledge (last 30 days).")
        yield HistogramMetricFamily("ecap_incident_time_to_resolve_seconds", "Time to resolve (last 30 days).")
        yield CounterMetricFamily(*RECEIVED)
        yield CounterMetricFamily(*DEDUPLICATED)
        yield GaugeMetricFamily(*PENDING)

    def collect(self) -> Iterator[Any]:
        from apps.incidents.models import Alert, AlertPayload, Incident

        try:
            open_counts = {
                (row["priority"], row["status"]): row["n"]
                for row in Incident.objects.filter(status__in=OPEN_STATUSES)
                .values("priority", "status")
                .annotate(n=Count("id"))
                .order_by()
            }
            since = timezone.now() - WINDOW
            acked = Incident.objects.filter(acknowledged_at__gte=since).values_list("triggered_at", "acknowledged_at")
            resolved = Incident.objects.filter(resolved_at__gte=since, merged_into__isnull=True).values_list(
                "triggered_at", "resolved_at"
            )
            mtta = [max(0.0, (ack - start).total_seconds()) for start, ack in acked if ack]
            mttr = [max(0.0, (end - start).total_seconds()) for start, end in resolved if end]
            alerts = Alert.objects.aggregate(deliveries=Sum("deliveries"), alerts=Count("id"))
            pending = AlertPayload.objects.filter(status=PayloadStatus.PENDING).count()
        except Exception as exc:  # a scrape must never fail because the database does (or may not be used)
            logger.warning("incident_metrics_unavailable", error=type(exc).__name__)
            return
        gauge = GaugeMetricFamily(
            "ecap_incidents_open", "Open incidents by priority and status.", labels=["priority", "status"]
        )
        for priority in Priority.values:
            for status in OPEN_STATUSES:
                gauge.add_metric([priority, str(status)], open_counts.get((priority, status), 0))
        yield gauge
        yield histogram(mtta, "ecap_incident_time_to_acknowledge_seconds", "Time to acknowledge (last 30 days).")
        yield histogram(mttr, "ecap_incident_time_to_resolve_seconds", "Time to resolve (last 30 days).")
        deliveries = alerts["deliveries"] or 0
        yield CounterMetricFamily(*RECEIVED, value=deliveries)
        yield CounterMetricFamily(*DEDUPLICATED, value=max(0, deliveries - alerts["alerts"]))
        yield GaugeMetricFamily(*PENDING, value=pending)


def register_collector() -> None:
    """Register once per process."""
    register(IncidentCollector())
