"""Proposals: which rules propose what for an incident, once, and what waits for a person."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.audit.choices import AuditAction, Outcome
from apps.incidents.choices import RemediationStatus, TimelineKind
from apps.incidents.remediation.registry import action_get
from apps.incidents.remediation.services import remediation_propose
from tests.incidents.remediation.conftest import audit_for, timeline_for


def test_matching_enabled_rules_propose_in_position_order_with_rendered_targets(
    make_incident, make_rule, enqueued, django_capture_on_commit_callbacks
) -> None:
    make_rule("scale payments", position=20, action="k8s_scale_deployment", params={"factor": 2})
    make_rule("restart payments", position=10, auto_run=True)
    make_rule("other service", position=5, matchers='service="fraud-detection"')
    make_rule("disabled", position=1, enabled=False)
    incident = make_incident()

    with django_capture_on_commit_callbacks(execute=True):
        attempts = remediation_propose(incident=incident)

    assert [(a.rule.name, a.action, a.target, a.status) for a in attempts] == [
        ("restart payments", "k8s_restart_deployment", "shop/payments", RemediationStatus.PROPOSED),
        ("scale payments", "k8s_scale_deployment", "shop/payments", RemediationStatus.PROPOSED),
    ]
    assert attempts[1].params == {"factor": 2}
    # Only the auto-run rule is handed to a worker, with the token it holds.
    assert enqueued.calls == [{"attempt_id": attempts[0].pk, "fencing_token": 0}]


def test_proposing_again_for_the_same_incident_adds_nothing(make_incident, make_rule, enqueued) -> None:
    make_rule()
    incident = make_incident()
    first = remediation_propose(incident=incident)
    again = remediation_propose(incident=incident)

    assert len(first) == 1
    assert again == []
    assert incident.remediations.count() == 1


def test_each_proposal_is_in_the_timeline_and_the_audit_log(make_incident, make_rule, enqueued) -> None:
    make_rule(auto_run=True)
    (attempt,) = remediation_propose(incident=make_incident())

    (entry,) = timeline_for(attempt)
    assert entry.kind == TimelineKind.REMEDIATION_PROPOSED
    assert entry.message == (
        "restart payments proposes k8s_restart_deployment on shop/payments — running automatically"
    )
    (event,) = audit_for(attempt)
    assert (event.action, event.outcome) == (AuditAction.CREATE, Outcome.SUCCESS)
    assert event.details["rule"] == "restart payments"
    assert event.details["auto_run"] is True


def test_a_rule_asking_for_approval_waits_for_a_person_until_its_window_ends(
    make_incident, make_rule, enqueued, django_capture_on_commit_callbacks
) -> None:
    make_rule(requires_approval=True, auto_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        (attempt,) = remediation_propose(incident=make_incident())

    assert attempt.status == RemediationStatus.AWAITING_APPROVAL
    assert attempt.requires_approval is True
    expected = timezone.now() + timedelta(minutes=60)
    assert abs(attempt.approval_expires_at - expected) < timedelta(seconds=10)
    assert enqueued.calls == []
    assert timeline_for(attempt)[0].message.endswith("— waiting for approval")


def test_database_actions_always_wait_for_approval(make_incident, make_rule, enqueued) -> None:
    assert action_get("db_terminate_idle_connections").needs_approval is True
    make_rule(
        "free the pool",
        matchers='alertname="CascadingPerformanceDegradation"',
        action="db_terminate_idle_connections",
        target="ecap",
        params={"idle_seconds": 900},
        requires_approval=False,
        auto_run=True,
    )
    (attempt,) = remediation_propose(incident=make_incident({"alertname": "CascadingPerformanceDegradation"}))

    assert attempt.status == RemediationStatus.AWAITING_APPROVAL
    assert enqueued.calls == []


def test_a_target_missing_its_label_is_recorded_as_blocked(make_incident, make_rule, enqueued) -> None:
    make_rule(target="{namespace}/{deployment}", auto_run=True)
    (attempt,) = remediation_propose(incident=make_incident())

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.target == "shop/"
    assert attempt.blocked_reason == "invalid: '' is not a valid deployment name"
    assert attempt.finished_at is not None
    assert enqueued.calls == []
    assert timeline_for(attempt)[0].kind == TimelineKind.REMEDIATION_BLOCKED
    assert audit_for(attempt)[0].outcome == Outcome.FAILED


def test_an_incident_recorded_during_maintenance_is_not_remediated_automatically(
    make_incident, make_rule, enqueued, django_capture_on_commit_callbacks
) -> None:
    make_rule(auto_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        (attempt,) = remediation_propose(incident=make_incident(in_maintenance=True))

    assert attempt.status == RemediationStatus.PROPOSED
    assert enqueued.calls == []
    assert "not run automatically" in timeline_for(attempt)[0].message


def test_the_incident_service_fills_a_missing_service_label(make_incident, make_rule, enqueued) -> None:
    make_rule(matchers='alertname="PaymentProcessingFailure"')
    incident = make_incident()
    incident.labels.pop("service")
    incident.save(update_fields=["labels"])

    (attempt,) = remediation_propose(incident=incident)
    assert attempt.target == "shop/payments"


def test_an_auto_run_proposal_runs_through_the_worker_side(
    kube, make_incident, make_rule, enqueued, django_capture_on_commit_callbacks
) -> None:
    make_rule(auto_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        (attempt,) = remediation_propose(incident=make_incident())
    (done,) = enqueued.run()

    assert done is not None
    assert done.pk == attempt.pk
    assert done.status == RemediationStatus.SUCCEEDED
    assert len(kube.requests("PATCH")) == 1


def test_a_rule_that_breaks_while_proposing_never_breaks_the_incident(
    make_incident, make_rule, enqueued, monkeypatch
) -> None:
    from apps.incidents.remediation import services

    make_rule("broken", position=1)
    make_rule("scale", position=2, action="k8s_scale_deployment", params={"replicas": 4})
    real = services.action_get

    def flaky(key: str):
        if key == "k8s_restart_deployment":
            raise RuntimeError("a bug in an action")
        return real(key)

    monkeypatch.setattr(services, "action_get", flaky)
    attempts = remediation_propose(incident=make_incident())

    assert [a.rule.name for a in attempts] == ["scale"]
