"""Demo data of the incidents app: two integrations, the platform's alerts delivered as Alertmanager payloads and
processed through the real pipeline, open, acknowledged and resolved incidents, postmortems, a maintenance window,
an alert the portal raised itself, and dry-run remediation rules. Intake URLs go to ``var/demo_integrations.json``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.common.models import User
from apps.incidents.choices import IntegrationKind
from apps.incidents.models import Incident, Integration, MaintenanceWindow, RemediationRule
from apps.incidents.services import (
    alert_raise,
    incident_acknowledge,
    incident_resolve,
    integration_create,
    payload_accept,
    payload_process,
    postmortem_update,
)

PROMETHEUS = "prometheus-prod"
LABELS = {
    "PaymentProcessingFailure": ("critical", "payments", "business-critical", "1", "business"),
    "DataPipelineBacklog": ("warning", "data-pipeline", "data", "2", "data_pipeline"),
    "PredictiveCapacityExhaustion": ("warning", "api", "platform", "3", "capacity"),
    "StreamingJobFailure": ("critical", "streaming", "data", "1", "data_pipeline"),
    "PotentialDataExfiltration": ("critical", "api", "security", "1", "security_incident"),
    "MLModelPerformanceDegradation": ("warning", "recommendations", "ml", "2", "ml"),
}
SUMMARIES = {
    "PaymentProcessingFailure": "12.4% of card transactions failed over 2m",
    "DataPipelineBacklog": "Kafka consumer lag 18,200 on orders-enrichment",
    "PredictiveCapacityExhaustion": "Requests projected to exceed 10k/s within the hour",
    "StreamingJobFailure": "clickstream-sessionizer reports FAILED",
    "PotentialDataExfiltration": "Export requests at 14/s from one API token",
    "MLModelPerformanceDegradation": "Recommendation model accuracy 0.81",
}


def _payload(name: str, *, status: str = "firing", instance: str = "prod-0") -> dict[str, Any]:
    severity, service, tier, level, kind = LABELS[name]
    now = timezone.now()
    labels = {
        "alertname": name, "severity": severity, "service": service, "tier": tier,
        "escalation_level": level, "alert_type": kind, "instance": instance, "env": "production",
    }  # fmt: skip
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "status": status,
        "receiver": "ecap-portal",
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": {"summary": SUMMARIES[name]},
        "externalURL": "http://alertmanager.monitoring:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": SUMMARIES[name], "runbook_url": f"https://runbooks.ecap.example/{name}"},
                "startsAt": (now - timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
                "endsAt": now.isoformat().replace("+00:00", "Z") if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.monitoring:9090/graph",
                "fingerprint": f"{abs(hash(name + instance)) % 16**16:016x}",
            }
        ],
    }


def _deliver(integration: Integration, body: dict[str, Any]) -> None:
    payload = payload_accept(integration=integration, body=body)
    payload_process(payload_id=payload.pk)


def seed() -> list[str]:
    """Idempotent: the demo integrations and incidents are created once."""
    if Integration.objects.filter(name=PROMETHEUS).exists():
        return [f"incidents present: {Incident.objects.count()} incidents"]
    users = {u.username: u for u in User.objects.filter(username__in=["oncall", "admin"])}
    if len(users) < 2:
        return ["incidents skipped: run create_demo_users first"]
    oncall = users["oncall"]
    prometheus, prom_token = integration_create(
        kind=IntegrationKind.ALERTMANAGER,
        name=PROMETHEUS,
        description="Production Alertmanager (the platform's Prometheus rules).",
        heartbeat_interval_seconds=600,
        reopen_window_minutes=15,
    )
    webhook, hook_token = integration_create(
        kind=IntegrationKind.WEBHOOK, name="ci-deploys", description="Deployment pipeline failures."
    )
    now = timezone.now()
    MaintenanceWindow.objects.create(
        service="recommendations",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        reason="Model retraining and canary roll-out",
        created_by=users["admin"],
    )
    RemediationRule.objects.get_or_create(
        name="Restart the streaming job's pods",
        defaults={
            "matchers": 'alertname="StreamingJobFailure"',
            "action": "k8s_restart_deployment",
            "target": "ecap/{service}",
            "dry_run": True,
            "auto_run": False,
        },
    )
    RemediationRule.objects.get_or_create(
        name="Scale the API before capacity runs out",
        defaults={
            "matchers": 'alertname="PredictiveCapacityExhaustion"',
            "action": "k8s_scale_deployment",
            "target": "ecap/{service}",
            "params": {"factor": 1.5},
            "dry_run": True,
        },
    )
    RemediationRule.objects.get_or_create(
        name="Re-submit a failed Spark run",
        defaults={
            "matchers": 'alertname="SparkJobFailed"',
            "action": "spark_resubmit",
            "target": "{spark_run_id}",
            "requires_approval": True,
        },
    )
    for name in LABELS:
        _deliver(prometheus, _payload(name))
    _deliver(prometheus, _payload("PaymentProcessingFailure"))  # Alertmanager re-sends the group: deduplicated

    payments = Incident.objects.get(title__startswith="PaymentProcessingFailure")
    incident_acknowledge(incident=payments, actor=oncall)
    incident_resolve(incident=payments, actor=oncall, resolution="Failed over to the standby payment provider.")
    postmortem_update(
        incident=payments,
        actor=oncall,
        summary="Card payments failed for 14 minutes after the PSP connector's TLS certificate expired.",
        root_cause="The connector's certificate was renewed by hand and the renewal reminder went to a former "
        "team member.",
        impact="About 1,240 failed checkouts; 310 customers retried successfully within the hour.",
        action_items=[
            {"text": "Alert 14 days before any certificate expires", "owner": "sre", "due": None, "done": False},
            {"text": "Automate the PSP certificate renewal", "owner": "payments", "due": None, "done": False},
        ],
        status="published",
    )
    _deliver(prometheus, _payload("StreamingJobFailure", status="resolved"))  # resolves with its alert: P2 draft
    exfiltration = Incident.objects.get(title__startswith="PotentialDataExfiltration")
    incident_acknowledge(incident=exfiltration, actor=oncall)
    _deliver(
        webhook,
        {"title": "Deploy of portal 2026.11.3 failed smoke tests", "severity": "error", "dedup_key": "deploy-2026.11.3",
         "labels": {"service": "portal", "team": "platform"},
         "links": [{"href": "https://ci.ecap.example/pipelines/4812", "text": "Pipeline"}]},
    )  # fmt: skip
    payload = alert_raise(
        source="audit",
        name="audit.failed_logins",
        summary="6 failed logins in an hour for user 'steward' from 203.0.113.9",
        severity="warning",
        dedup_key="audit:failed_logins:demo",
    )
    payload_process(payload_id=payload.pk)
    urls = settings.VAR_DIR / "demo_integrations.json"
    urls.parent.mkdir(parents=True, exist_ok=True)
    urls.write_text(
        json.dumps(
            {
                PROMETHEUS: f"/integrations/v1/alertmanager/{prom_token}/",
                "ci-deploys": f"/integrations/v1/webhook/{hook_token}/",
            },
            indent=2,
        )
    )
    urls.chmod(0o600)
    return [f"incidents: {Incident.objects.count()} incidents; intake URLs in {urls}"]
