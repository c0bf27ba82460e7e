"""Fixtures of the incidents tests: integrations and Alertmanager payloads shaped like the platform's alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.incidents.choices import IntegrationKind
from apps.incidents.models import Integration
from apps.incidents.services import integration_create, payloads_sweep

ZERO = "0001-01-01T00:00:00Z"
PLATFORM_LABELS = {
    "PaymentProcessingFailure": {"severity": "critical", "service": "payments", "tier": "business-critical",
                                 "escalation_level": "1", "alert_type": "business"},
    "DataPipelineBacklog": {"severity": "warning", "service": "data-pipeline", "tier": "data",
                            "escalation_level": "2", "alert_type": "data_pipeline"},
    "PredictiveCapacityExhaustion": {"severity": "warning", "service": "api", "tier": "platform",
                                     "escalation_level": "3", "alert_type": "capacity"},
    "PotentialDataExfiltration": {"severity": "critical", "service": "api", "tier": "security",
                                  "escalation_level": "1", "alert_type": "security_incident"},
    "StreamingJobFailure": {"severity": "critical", "service": "streaming", "tier": "data",
                            "escalation_level": "1", "alert_type": "data_pipeline"},
}  # fmt: skip


def am_alert(
    name: str = "PaymentProcessingFailure",
    *,
    status: str = "firing",
    fingerprint: str | None = None,
    instance: str = "payments-0",
    starts_at: str = "2026-11-26T10:00:00.123456789Z",
    ends_at: str = ZERO,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {"alertname": name, "instance": instance, **PLATFORM_LABELS.get(name, {}), **(extra or {})}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{name} on {instance}", "runbook_url": "https://runbooks.example/x"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint or f"{abs(hash((name, instance))) % 16**16:016x}",
    }


def am_payload(*alerts: dict[str, Any], group_key: str | None = None, status: str | None = None) -> dict[str, Any]:
    alerts = alerts or (am_alert(),)
    name = alerts[0]["labels"]["alertname"]
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key or f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if firing else "resolved"),
        "receiver": "ecap-portal",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def make_integration(db: None) -> Callable[..., tuple[Integration, str]]:
    def make(kind: str = IntegrationKind.ALERTMANAGER, name: str | None = None, **options: Any):
        return integration_create(kind=kind, name=name or f"{kind}-{Integration.objects.count() + 1}", **options)

    return make


@pytest.fixture
def alertmanager(make_integration) -> tuple[Integration, str]:
    return make_integration(IntegrationKind.ALERTMANAGER, "prometheus-prod")


def process_all() -> int:
    """Process every stored payload now, in this process (what the sweeper does)."""
    from datetime import timedelta

    return payloads_sweep(older_than=timedelta(seconds=-1))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
