"""Approvals and denials through the API, the admin and signed links; the attempts API's reads and permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.choices import AuditAction
from apps.incidents.choices import RemediationStatus, TimelineKind
from tests.incidents.remediation.conftest import audit_for, timeline_for

BASE = "/api/v1/incidents/remediations/"


@pytest.fixture
def awaiting(make_attempt):
    """An attempt waiting for approval for another hour."""

    def make(action: str = "k8s_restart_deployment", target: str = "shop/payments", **fields):
        fields.setdefault("approval_expires_at", timezone.now() + timedelta(hours=1))
        return make_attempt(
            action, target, status=RemediationStatus.AWAITING_APPROVAL, requires_approval=True, **fields
        )

    return make


def test_approving_through_the_api_runs_the_remediation(
    kube, token_client, awaiting, enqueued, django_capture_on_commit_callbacks
) -> None:
    api, approver = token_client("oncall_engineer")
    attempt = awaiting()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{BASE}{attempt.public_id}/approve/")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["id"], body["status"], body["decided_by"]) == (
        str(attempt.public_id),
        RemediationStatus.APPROVED,
        approver.username,
    )
    assert enqueued.calls == [{"attempt_id": attempt.pk, "fencing_token": 0}]
    (done,) = enqueued.run()
    assert done is not None
    assert done.status == RemediationStatus.SUCCEEDED
    assert len(kube.requests("PATCH")) == 1
    (approval,) = audit_for(attempt, AuditAction.APPROVE)
    assert approval.actor_id == str(approver.public_id)
    assert approval.details["via"] == "api"
    assert [e.kind for e in timeline_for(attempt)] == [
        TimelineKind.REMEDIATION_APPROVED,
        TimelineKind.REMEDIATION_RUN,
        TimelineKind.REMEDIATION_RUN,
    ]
    assert timeline_for(attempt)[0].actor == approver


def test_approving_twice_answers_409_in_the_error_format(token_client, awaiting, enqueued) -> None:
    api, _ = token_client("oncall_engineer")
    attempt = awaiting()
    assert api.post(f"{BASE}{attempt.public_id}/approve/").status_code == 200

    response = api.post(f"{BASE}{attempt.public_id}/approve/")

    assert response.status_code == 409
    assert response.json() == {
        "code": "remediation_not_awaiting_approval",
        "detail": "this remediation is approved, not awaiting approval",
        "fields": {},
    }
    assert len(audit_for(attempt, AuditAction.APPROVE)) == 1


def test_an_approval_after_the_window_expires_the_attempt(token_client, awaiting, enqueued) -> None:
    api, _ = token_client("oncall_engineer")
    attempt = awaiting(approval_expires_at=timezone.now() - timedelta(seconds=1))

    response = api.post(f"{BASE}{attempt.public_id}/approve/")

    assert response.status_code == 409
    assert response.json()["code"] == "remediation_approval_expired"
    attempt.refresh_from_db()
    assert attempt.status == RemediationStatus.EXPIRED
    assert enqueued.calls == []
    assert timeline_for(attempt)[-1].message.endswith("expired without a decision")


def test_the_sweep_expires_approvals_nobody_answered(awaiting) -> None:
    from apps.incidents.remediation.services import remediation_sweep

    late = awaiting(approval_expires_at=timezone.now() - timedelta(minutes=1))
    pending = awaiting()

    assert remediation_sweep()["expired"] == 1
    late.refresh_from_db()
    pending.refresh_from_db()
    assert (late.status, pending.status) == (RemediationStatus.EXPIRED, RemediationStatus.AWAITING_APPROVAL)


def test_denying_records_the_reason_and_nothing_runs(kube, token_client, awaiting, enqueued) -> None:
    api, denier = token_client("oncall_engineer")
    attempt = awaiting()

    response = api.post(f"{BASE}{attempt.public_id}/deny/", {"reason": "a deploy is rolling out"})

    assert response.status_code == 200
    assert response.json()["status"] == RemediationStatus.DENIED
    assert response.json()["blocked_reason"] == "denied: a deploy is rolling out"
    assert enqueued.calls == []
    (event,) = audit_for(attempt, AuditAction.DENY)
    assert (event.actor_id, event.details["reason"]) == (str(denier.public_id), "a deploy is rolling out")
    assert timeline_for(attempt)[-1].kind == TimelineKind.REMEDIATION_DENIED
    assert api.post(f"{BASE}{attempt.public_id}/approve/").status_code == 409
    assert kube.requests() == []


def test_a_denial_needs_a_reason(token_client, awaiting) -> None:
    api, _ = token_client("oncall_engineer")
    response = api.post(f"{BASE}{awaiting().public_id}/deny/", {})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["reason"]


def test_a_proposed_attempt_can_be_run_by_a_person(
    token_client, make_attempt, enqueued, django_capture_on_commit_callbacks
) -> None:
    api, _ = token_client("oncall_engineer")
    attempt = make_attempt(status=RemediationStatus.PROPOSED)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{BASE}{attempt.public_id}/run/")

    assert response.status_code == 200
    assert response.json()["status"] == RemediationStatus.APPROVED
    assert enqueued.calls == [{"attempt_id": attempt.pk, "fencing_token": 0}]


@pytest.mark.parametrize("role", ["auditor", "integrator", "data_steward"])
def test_people_who_cannot_change_incidents_can_read_but_not_decide(token_client, awaiting, role) -> None:
    api, _ = token_client(role)
    attempt = awaiting()

    assert api.get(f"{BASE}{attempt.public_id}/").status_code == 200
    response = api.post(f"{BASE}{attempt.public_id}/approve/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    attempt.refresh_from_db()
    assert attempt.status == RemediationStatus.AWAITING_APPROVAL


def test_people_without_a_role_see_nothing(token_client, awaiting) -> None:
    api, _ = token_client()
    assert api.get(BASE).status_code == 403


def test_the_list_filters_by_incident_and_status_and_hides_secret_params(
    token_client, make_incident, make_attempt
) -> None:
    api, _ = token_client("oncall_engineer")
    incident = make_incident()
    hook = make_attempt(
        "http_webhook",
        "payments",
        {"url": "https://hooks.example/reset?key=abc", "body": {"api_token": "t0ps3cret"}},
        incident=incident,
        status=RemediationStatus.PROPOSED,
    )
    make_attempt(incident=incident, status=RemediationStatus.DENIED)
    make_attempt(status=RemediationStatus.PROPOSED)

    response = api.get(BASE, {"incident": str(incident.public_id), "status": RemediationStatus.PROPOSED})

    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(hook.public_id)]
    assert response.json()["results"][0]["params"] == {
        "url": "https://hooks.example/reset",
        "body": {"api_token": "********"},
    }


def test_listing_attempts_takes_the_same_queries_whatever_the_page_size(token_client, make_incident, make_attempt):
    api, _ = token_client("oncall_engineer")
    for _ in range(2):
        make_attempt(incident=make_incident(), status=RemediationStatus.SUCCEEDED)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(BASE).status_code == 200
        return len(queries)

    api.get(BASE)  # the token's first use is recorded once; later requests only read
    few = count_queries()
    for _ in range(6):
        make_attempt(incident=make_incident(), status=RemediationStatus.SUCCEEDED)
    assert count_queries() == few


def test_unknown_or_malformed_attempt_ids_answer_404(token_client) -> None:
    api, _ = token_client("oncall_engineer")
    assert api.get(f"{BASE}00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api.post(f"{BASE}not-a-uuid/approve/").json()["code"] == "not_found"
