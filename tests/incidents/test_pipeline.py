"""Processing stored payloads: grouping and dedup, classification with runbooks, the timeline, resolution,
reopening, maintenance windows, heartbeats, internal alerts and exactly-once processing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.incidents import signals
from apps.incidents.choices import (
    AlertStatus,
    GroupBy,
    HeartbeatState,
    IncidentStatus,
    IntegrationKind,
    PayloadStatus,
)
from apps.incidents.models import AlertPayload, Incident, Integration, MaintenanceWindow, Postmortem
from apps.incidents.services import (
    alert_raise,
    heartbeats_check,
    payload_accept,
    payload_process,
)
from tests.incidents.conftest import am_alert, am_payload, process_all

pytestmark = pytest.mark.django_db


def deliver(integration: Integration, body: dict) -> AlertPayload:
    return payload_accept(integration=integration, body=body)


def kinds(incident: Incident) -> list[str]:
    return list(incident.timeline.order_by("at", "id").values_list("kind", flat=True))


def test_platform_alert_becomes_one_classified_incident_with_runbook_and_timeline(alertmanager) -> None:
    integration, _ = alertmanager
    deliver(integration, am_payload(am_alert(), am_alert(instance="payments-1")))
    assert process_all() == 1
    incident = Incident.objects.get()
    assert incident.title == "PaymentProcessingFailure: PaymentProcessingFailure on payments-0"
    assert (incident.priority, incident.severity, incident.urgency) == ("P1", "critical", "high")
    assert incident.classification_rule.name == "P1: critical on a core customer service"
    assert incident.runbook.slug == "payment-processing-failure"
    assert "## Mitigate" in incident.runbook.body
    assert incident.escalation_policy == "critical"
    assert incident.service == "payments"
    assert incident.alert_count == 2
    assert incident.delivery_count == 2
    assert kinds(incident) == ["triggered", "classified", "alert_received", "alert_received"]
    assert AlertPayload.objects.get().status == PayloadStatus.PROCESSED


@pytest.mark.parametrize(
    ("name", "priority", "urgency", "policy"),
    [
        ("PotentialDataExfiltration", "P1", "high", "critical"),
        ("StreamingJobFailure", "P2", "high", "critical"),
        ("DataPipelineBacklog", "P3", "high", "high"),
        ("PredictiveCapacityExhaustion", "P4", "low", "standard"),
    ],
)
def test_seed_rules_classify_the_platform_alerts(alertmanager, name, priority, urgency, policy) -> None:
    integration, _ = alertmanager
    deliver(integration, am_payload(am_alert(name)))
    process_all()
    incident = Incident.objects.get()
    assert (incident.priority, incident.urgency, incident.escalation_policy) == (priority, urgency, policy)
    assert incident.runbook is not None
    assert name in incident.runbook.alertnames


def test_repeated_deliveries_attach_to_the_open_incident_and_count(alertmanager) -> None:
    integration, _ = alertmanager
    for _ in range(3):
        deliver(integration, am_payload(am_alert()))
    process_all()
    incident = Incident.objects.get()
    assert incident.delivery_count == 3
    assert incident.alerts.get().deliveries == 3
    assert kinds(incident).count("alert_received") == 1


def test_resolved_notification_resolves_the_alert_and_then_the_incident(alertmanager) -> None:
    integration, _ = alertmanager
    one, two = am_alert(), am_alert(instance="payments-1")
    deliver(integration, am_payload(one, two))
    process_all()
    # A firing notification may carry resolved alerts: the group is re-sent whole.
    resolved_one = {**one, "status": "resolved", "endsAt": "2026-11-26T10:05:00Z"}
    deliver(integration, am_payload(resolved_one, two))
    process_all()
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.alerts.get(fingerprint=one["fingerprint"]).status == AlertStatus.RESOLVED
    assert incident.alerts.get(fingerprint=one["fingerprint"]).ends_at.minute == 5
    deliver(integration, am_payload(resolved_one, {**two, "status": "resolved", "endsAt": "2026-11-26T10:06:00Z"}))
    process_all()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_by is None
    assert kinds(incident)[-2:] == ["resolved", "postmortem"]
    assert Postmortem.objects.filter(incident=incident).exists()  # P1


def test_incident_stays_open_when_resolution_with_alerts_is_off(make_integration) -> None:
    integration, _ = make_integration(resolve_with_alerts=False)
    deliver(integration, am_payload(am_alert()))
    deliver(integration, am_payload(am_alert(status="resolved", ends_at="2026-11-26T10:05:00Z")))
    process_all()
    assert Incident.objects.get().status == IncidentStatus.TRIGGERED


def test_after_resolution_a_new_firing_opens_a_new_incident(alertmanager) -> None:
    integration, _ = alertmanager
    deliver(integration, am_payload(am_alert()))
    deliver(integration, am_payload(am_alert(status="resolved", ends_at="2026-11-26T10:05:00Z")))
    deliver(integration, am_payload(am_alert(starts_at="2026-11-26T11:00:00Z")))
    process_all()
    assert list(Incident.objects.order_by("pk").values_list("status", flat=True)) == ["resolved", "triggered"]


def test_reopen_window_reopens_the_same_incident(make_integration) -> None:
    integration, _ = make_integration(reopen_window_minutes=30)
    deliver(integration, am_payload(am_alert()))
    deliver(integration, am_payload(am_alert(status="resolved", ends_at="2026-11-26T10:05:00Z")))
    deliver(integration, am_payload(am_alert(starts_at="2026-11-26T10:07:00Z")))
    process_all()
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.resolved_at is None
    assert "reopened" in kinds(incident)


def test_group_by_fingerprint_opens_one_incident_per_alert(make_integration) -> None:
    integration, _ = make_integration(group_by=GroupBy.FINGERPRINT)
    deliver(integration, am_payload(am_alert(), am_alert(instance="payments-1")))
    process_all()
    assert Incident.objects.count() == 2


def test_group_by_label_template(make_integration) -> None:
    integration, _ = make_integration(group_by=GroupBy.TEMPLATE, group_template="{service}")
    deliver(integration, am_payload(am_alert(), group_key="a"))
    deliver(integration, am_payload(am_alert(instance="payments-9"), group_key="b"))
    deliver(integration, am_payload(am_alert("DataPipelineBacklog"), group_key="c"))
    process_all()
    assert sorted(Incident.objects.values_list("group_key", flat=True)) == [
        "template:data-pipeline",
        "template:payments",
    ]
    assert Incident.objects.get(service="payments").alert_count == 2


def test_resolved_alert_without_an_open_incident_opens_nothing(alertmanager) -> None:
    integration, _ = alertmanager
    deliver(integration, am_payload(am_alert(status="resolved", ends_at="2026-11-26T10:05:00Z")))
    assert process_all() == 1
    assert Incident.objects.count() == 0


def test_maintenance_window_records_without_paging(alertmanager, django_capture_on_commit_callbacks) -> None:
    integration, _ = alertmanager
    now = timezone.now()
    MaintenanceWindow.objects.create(
        service="payments", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1), reason="PSP upgrade"
    )
    paged: list[int] = []

    def receiver(sender, incident_id, **kwargs):
        paged.append(incident_id)

    signals.incident_triggered.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            deliver(integration, am_payload(am_alert()))
            deliver(integration, am_payload(am_alert("DataPipelineBacklog")))
        process_payloads_with_callbacks(django_capture_on_commit_callbacks)
    finally:
        signals.incident_triggered.disconnect(receiver)
    quiet = Incident.objects.get(service="payments")
    loud = Incident.objects.get(service="data-pipeline")
    assert quiet.in_maintenance
    assert "maintenance" in kinds(quiet)
    assert paged == [loud.pk]


def process_payloads_with_callbacks(capture) -> None:
    for payload_id in AlertPayload.objects.filter(status="pending").values_list("pk", flat=True):
        with capture(execute=True):
            payload_process(payload_id=payload_id)


def test_watchdog_is_a_heartbeat_not_an_incident_and_a_missed_one_opens_an_incident(
    make_integration, django_capture_on_commit_callbacks
) -> None:
    integration, _ = make_integration(heartbeat_interval_seconds=120)
    deliver(integration, am_payload(am_alert("Watchdog", extra={"severity": "none"})))
    process_all()
    integration.refresh_from_db()
    assert integration.heartbeat_state == HeartbeatState.HEALTHY
    assert Incident.objects.count() == 0

    assert heartbeats_check(now=timezone.now() + timedelta(minutes=5)) == 1
    assert heartbeats_check(now=timezone.now() + timedelta(minutes=6)) == 0  # once per outage
    process_all()
    missed = Incident.objects.get()
    assert missed.integration.kind == IntegrationKind.INTERNAL
    assert missed.title.startswith("HeartbeatMissed: No heartbeat from")
    assert missed.severity == "critical"

    deliver(integration, am_payload(am_alert("Watchdog", extra={"severity": "none"})))
    process_all()  # the heartbeat is back: the missed-heartbeat alert resolves
    process_all()
    missed.refresh_from_db()
    assert missed.status == IncidentStatus.RESOLVED


def test_alert_raise_enters_the_same_pipeline_and_dedups(db) -> None:
    for _ in range(2):
        alert_raise(
            source="quality",
            name="QualityRuleFailed",
            summary="orders.total_amount: 3.2% negative",
            severity="error",
            dedup_key="quality:rule:42",
            details={"rule": 42},
        )
    process_all()
    incident = Incident.objects.get()
    assert incident.integration.name == "portal"
    assert incident.labels["source"] == "quality"
    assert (incident.severity, incident.priority) == ("error", "P3")
    assert incident.delivery_count == 2
    alert_raise(
        source="quality", name="QualityRuleFailed", summary="ok", dedup_key="quality:rule:42", status="resolved"
    )
    process_all()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED


def test_a_payload_is_processed_exactly_once(alertmanager) -> None:
    integration, _ = alertmanager
    payload = deliver(integration, am_payload(am_alert()))
    assert payload_process(payload_id=payload.pk) == 1
    assert payload_process(payload_id=payload.pk) == 0
    assert Incident.objects.get().delivery_count == 1


def test_a_payload_that_keeps_failing_is_marked_failed_after_five_attempts(alertmanager) -> None:
    integration, _ = alertmanager
    payload = AlertPayload.objects.create(integration=integration, received_at=timezone.now(), body={"bad": True})
    for _ in range(5):
        with pytest.raises(Exception, match="groupKey"):
            payload_process(payload_id=payload.pk)
    payload.refresh_from_db()
    assert payload.status == PayloadStatus.FAILED
    assert payload.attempts == 5
    assert "groupKey" in payload.error
