"""Data-subject request metrics on ``/metrics``, read from the database at scrape time so every process reports the
same: requests open and overdue by type and regime, and the days taken to complete requests closed in the last year.

``type`` is the right exercised without its regime prefix (``access``, ``erasure``, ``know``…), ``regime`` is
``gdpr`` or ``ccpa``: at most a dozen series each. A request is overdue when it is still open after the end of its
deadline day (``respond_by_at``, extensions included), as on the compliance queue's countdown.
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

OPEN = ("ecap_privacy_requests_open", "Open data-subject requests by type and regime.")
OVERDUE = ("ecap_privacy_requests_overdue", "Open data-subject requests past their deadline, by type and regime.")
DAYS = ("ecap_privacy_request_days_to_complete", "Days from receipt to completion (requests completed, last 365 days).")
DAY_BUCKETS = (1.0, 3.0, 7.0, 14.0, 30.0, 45.0, 60.0, 90.0)
WINDOW = timedelta(days=365)


def split_type(request_type: str) -> tuple[str, str]:
    """``gdpr.access`` → (``access``, ``gdpr``)."""
    regime, _, right = request_type.partition(".")
    return right, regime


class PrivacyCollector(Collector):
    """Open and overdue requests, and the days-to-complete histogram."""

    def describe(self) -> Iterator[Any]:
        yield GaugeMetricFamily(*OPEN, labels=["type", "regime"])
        yield GaugeMetricFamily(*OVERDUE, labels=["type", "regime"])
        yield HistogramMetricFamily(*DAYS, labels=["regime"])

    def collect(self) -> Iterator[Any]:
        from apps.privacy.choices import OPEN_STATUSES, RequestStatus, RequestType
        from apps.privacy.models import DataSubjectRequest

        now = timezone.now()
        try:
            open_requests = DataSubjectRequest.objects.filter(status__in=OPEN_STATUSES)
            by_type = {
                row["request_type"]: row["n"]
                for row in open_requests.values("request_type").annotate(n=Count("id")).order_by()
            }
            overdue = {
                row["request_type"]: row["n"]
                for row in open_requests.filter(respond_by_at__lt=now)
                .values("request_type")
                .annotate(n=Count("id"))
                .order_by()
            }
            completed = DataSubjectRequest.objects.filter(
                status=RequestStatus.COMPLETED, closed_at__gte=now - WINDOW
            ).values_list("regime", "received_at", "closed_at")
            days: dict[tuple[str, ...], list[float]] = {}
            for regime, received, closed in completed:
                if closed is None:
                    continue
                days.setdefault((regime,), []).append(max(0.0, (closed - received).total_seconds() / 86400))
        except Exception as exc:  # a scrape must never fail because the database does
            logger.warning("privacy_metrics_unavailable", error=type(exc).__name__)
            return
        open_gauge = GaugeMetricFamily(*OPEN, labels=["type", "regime"])
        overdue_gauge = GaugeMetricFamily(*OVERDUE, labels=["type", "regime"])
        for request_type in RequestType.values:
            labels = list(split_type(request_type))
            open_gauge.add_metric(labels, by_type.get(request_type, 0))
            overdue_gauge.add_metric(labels, overdue.get(request_type, 0))
        yield open_gauge
        yield overdue_gauge
        yield histogram_family(*DAYS, DAY_BUCKETS, days, ["regime"])


def register_collector() -> None:
    """Register once per process."""
    register(PrivacyCollector())
