"""Audit metrics on ``/metrics``, read from the database at scrape time so every process reports the same: audit
events appended, and the outcome and time of the last chain verification.

Every verification run (``services.audit_verify_run``: the API, the admin action) is itself recorded as an audit
event of action ``verify`` whose details carry ``ok``; the latest such event is the chain's verification status.
Until a first verification, ``ecap_audit_chain_verified`` is absent and the last-verified time is 0, so the
"not verified for two days" alert fires rather than stay silent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.common.metrics import register

logger = structlog.get_logger(__name__)

EVENTS = ("ecap_audit_events", "Audit events appended (sealed into the chain or pending sealing).")
VERIFIED = ("ecap_audit_chain_verified", "1 when the last verification found the audit chain intact, 0 when broken.")
LAST_VERIFIED = ("ecap_audit_chain_last_verified_timestamp_seconds", "Unix time of the last chain verification.")
PENDING = ("ecap_audit_events_pending", "Audit events not sealed into the chain yet.")


class AuditCollector(Collector):
    """Events appended, pending sealing, and the last verification."""

    def describe(self) -> Iterator[Any]:
        yield CounterMetricFamily(*EVENTS)
        yield GaugeMetricFamily(*PENDING)
        yield GaugeMetricFamily(*VERIFIED)
        yield GaugeMetricFamily(*LAST_VERIFIED)

    def collect(self) -> Iterator[Any]:
        from apps.audit.choices import AuditAction
        from apps.audit.models import AuditChainHead, AuditEvent

        try:
            sealed = AuditChainHead.objects.values_list("seq", flat=True).first() or 0
            pending = AuditEvent.objects.filter(seq__isnull=True).count()
            last = (
                AuditEvent.objects.filter(action=AuditAction.VERIFY, target_type="audit.auditevent")
                .order_by("-occurred_at", "-id")
                .values_list("occurred_at", "details")
                .first()
            )
        except Exception as exc:  # a scrape must never fail because the database does
            logger.warning("audit_metrics_unavailable", error=type(exc).__name__)
            return
        yield CounterMetricFamily(*EVENTS, value=sealed + pending)
        yield GaugeMetricFamily(*PENDING, value=pending)
        if last is None:
            yield GaugeMetricFamily(*LAST_VERIFIED, value=0)
            return
        verified_at, details = last
        yield GaugeMetricFamily(*VERIFIED, value=1 if (details or {}).get("ok") is True else 0)
        yield GaugeMetricFamily(*LAST_VERIFIED, value=verified_at.timestamp())


def register_collector() -> None:
    """Register once per process."""
    register(AuditCollector())
