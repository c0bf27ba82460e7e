"""Fixtures of the remediation tests: incidents made with the ORM, rules and attempts, a recording Kubernetes API on
loopback with a service-account token file, configuration through the environment layer, and captured enqueues."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.configuration.services import get_store
from apps.incidents.choices import IntegrationKind, RemediationStatus
from apps.incidents.models import Incident, Integration, RemediationAttempt, RemediationRule, TimelineEntry
from apps.incidents.remediation import tasks
from apps.incidents.remediation.services import remediation_execute
from tests.incidents.remediation.recording_server import Deployment, RecordingServer

SA_TOKEN = "sa-token-one-0123456789abcdef"
LABELS = {
    "alertname": "PaymentProcessingFailure",
    "severity": "critical",
    "service": "payments",
    "namespace": "shop",
    "tier": "business-critical",
}


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set configuration keys through the environment layer: ``configure(**{"remediation.kill_switch": True})``."""

    def set_values(**values: Any) -> None:
        for key, value in values.items():
            name = "ECAP_" + key.upper().replace(".", "__")
            monkeypatch.setenv(name, str(value).lower() if isinstance(value, bool) else str(value))
        get_store().invalidate()

    return set_values


@pytest.fixture
def kube(configure: Callable[..., None], tmp_path: Path) -> Iterator[RecordingServer]:
    """A recording Kubernetes API with deployment shop/payments (3 replicas), and the configuration pointing at it."""
    server = RecordingServer(deployments={"shop/payments": Deployment(replicas=3)})
    token_file = tmp_path / "token"
    token_file.write_text(SA_TOKEN + "\n")
    configure(
        **{
            "remediation.kubernetes_api_url": server.url,
            "remediation.kubernetes_token_file": str(token_file),
            "remediation.kubernetes_ca_file": str(tmp_path / "no-ca.crt"),
            "remediation.kubernetes_timeout_seconds": 5,
        }
    )
    server.token_file = token_file
    yield server
    server.close()


@pytest.fixture
def make_incident(db: None) -> Callable[..., Incident]:
    """An incident with the given labels, made directly with the ORM."""

    def make(labels: dict[str, str] | None = None, **fields: Any) -> Incident:
        labels = {**LABELS, **(labels or {})}
        integration, _ = Integration.objects.get_or_create(
            name="remediation-tests",
            defaults={
                "kind": IntegrationKind.ALERTMANAGER,
                "token_digest": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                "token_prefix": "rt_",
            },
        )
        key = f"{labels.get('alertname')}/{uuid.uuid4()}"
        now = timezone.now()
        return Incident.objects.create(
            integration=integration,
            group_key=key,
            group_hash=hashlib.sha256(key.encode()).hexdigest(),
            title=f"{labels.get('alertname')} on {labels.get('service')}",
            service=labels.get("service", ""),
            labels=labels,
            triggered_at=now,
            last_alert_at=now,
            **fields,
        )

    return make


@pytest.fixture
def make_rule(db: None) -> Callable[..., RemediationRule]:
    def make(name: str = "restart payments", **fields: Any) -> RemediationRule:
        values: dict[str, Any] = {
            "matchers": 'service="payments", severity="critical"',
            "action": "k8s_restart_deployment",
            "target": "{namespace}/{service}",
        }
        values.update(fields)
        return RemediationRule.objects.create(name=name, **values)

    return make


@pytest.fixture
def make_attempt(make_incident: Callable[..., Incident]) -> Callable[..., RemediationAttempt]:
    """An attempt ready for a worker (approved, not started) unless told otherwise."""

    def make(
        action: str = "k8s_restart_deployment",
        target: str = "shop/payments",
        params: dict[str, Any] | None = None,
        incident: Incident | None = None,
        **fields: Any,
    ) -> RemediationAttempt:
        fields.setdefault("status", RemediationStatus.APPROVED)
        return RemediationAttempt.objects.create(
            incident=incident or make_incident(),
            action=action,
            target=target,
            params=params or {},
            **fields,
        )

    return make


@dataclass
class Enqueued:
    """Executions handed to Celery during the test, in order; ``run()`` executes them here, as a worker would."""

    calls: list[dict[str, int]]

    def run(self) -> list[RemediationAttempt | None]:
        pending, self.calls[:] = list(self.calls), []
        return [remediation_execute(**kwargs) for kwargs in pending]


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> Enqueued:
    """Capture ``remediation_execute_task.apply_async`` (on-commit callbacks of the services) instead of publishing."""
    calls: list[dict[str, int]] = []

    def capture(*, kwargs: dict[str, int], **_: Any) -> None:
        calls.append(dict(kwargs))

    monkeypatch.setattr(tasks.remediation_execute_task, "apply_async", capture)
    return Enqueued(calls)


def execute(attempt: RemediationAttempt) -> RemediationAttempt:
    """Run an attempt with the token it holds, as the worker would; the attempt as stored afterwards."""
    attempt.refresh_from_db()
    result = remediation_execute(attempt_id=attempt.pk, fencing_token=attempt.fencing_token)
    assert result is not None
    return result


def audit_for(attempt: RemediationAttempt, action: str | None = None) -> list[AuditEvent]:
    """Audit events about an attempt, oldest first."""
    events = AuditEvent.objects.filter(target_id=str(attempt.public_id)).order_by("id")
    return list(events.filter(action=action) if action else events)


def timeline_for(attempt: RemediationAttempt) -> list[TimelineEntry]:
    """Timeline entries of an attempt's incident about this attempt, oldest first."""
    return list(
        TimelineEntry.objects.filter(incident_id=attempt.incident_id, data__attempt=str(attempt.public_id)).order_by(
            "at", "id"
        )
    )
