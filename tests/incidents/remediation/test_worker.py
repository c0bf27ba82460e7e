"""End to end with a real Celery worker on the test Redis: an approval through the API is executed by the worker
exactly once, against the recording Kubernetes API."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.choices import AuditAction, Outcome
from apps.incidents.choices import RemediationStatus
from apps.incidents.models import RemediationAttempt
from apps.incidents.remediation.tasks import remediation_execute_task
from tests.incidents.remediation.conftest import audit_for

FINAL = {RemediationStatus.SUCCEEDED, RemediationStatus.FAILED, RemediationStatus.BLOCKED, RemediationStatus.DRY_RUN}


def wait_final(attempt: RemediationAttempt, timeout: float = 30) -> RemediationAttempt:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempt.refresh_from_db()
        if attempt.status in FINAL:
            return attempt
        time.sleep(0.2)
    raise AssertionError(f"attempt still {attempt.status} after {timeout}s")


@pytest.mark.slow
def test_an_approved_remediation_is_run_by_the_worker_exactly_once(
    kube, celery_worker_process, token_client, make_attempt
) -> None:
    api, approver = token_client("oncall_engineer")
    attempt = make_attempt(
        "k8s_scale_deployment",
        "shop/payments",
        {"factor": 2},
        status=RemediationStatus.AWAITING_APPROVAL,
        requires_approval=True,
        approval_expires_at=timezone.now() + timedelta(hours=1),
    )

    response = api.post(f"/api/v1/incidents/remediations/{attempt.public_id}/approve/")
    assert response.status_code == 200
    attempt = wait_final(attempt)
    # A second delivery of the same task (as after a lost acknowledgement) finds nothing to do.
    assert remediation_execute_task.delay(attempt_id=attempt.pk, fencing_token=0).get(timeout=30) == "succeeded"

    assert attempt.status == RemediationStatus.SUCCEEDED, attempt.result
    assert attempt.fencing_token == 1
    assert [(r.method, r.json) for r in kube.requests("PATCH")] == [("PATCH", {"spec": {"replicas": 6}})]
    assert kube.deployments["shop/payments"].replicas == 6
    executed = audit_for(attempt, AuditAction.EXECUTE)
    assert [(e.details["phase"], e.outcome) for e in executed] == [
        ("started", Outcome.SUCCESS),
        ("finished", Outcome.SUCCESS),
    ]
    assert executed[0].actor_label == "celery:incidents.remediation_execute"
    assert audit_for(attempt, AuditAction.APPROVE)[0].actor_id == str(approver.public_id)
