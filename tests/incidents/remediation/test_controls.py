"""Safety controls of the worker side: kill switch, dry run, cooldown, hourly limit, exactly-once execution, workers
racing on one target, and workers lost mid-run."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.choices import AuditAction, Outcome
from apps.incidents.choices import IncidentStatus, RemediationStatus, TimelineKind
from apps.incidents.models import RemediationAttempt, RemediationGuard
from apps.incidents.remediation.services import remediation_execute, remediation_sweep
from tests.incidents.remediation.conftest import audit_for, execute, timeline_for


def test_kill_switch_blocks_every_attempt_without_calling_anything(kube, make_attempt, configure) -> None:
    configure(**{"remediation.kill_switch": True})
    restart = execute(make_attempt("k8s_restart_deployment", "shop/payments"))
    dry = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 4}, dry_run=True))

    for attempt in (restart, dry):
        assert attempt.status == RemediationStatus.BLOCKED
        assert attempt.blocked_reason.startswith("kill switch: remediation.kill_switch is on")
        assert attempt.started_at is None
    assert kube.requests() == []
    assert timeline_for(restart)[-1].kind == TimelineKind.REMEDIATION_BLOCKED
    (event,) = audit_for(restart, AuditAction.EXECUTE)
    assert (event.outcome, event.details["control"]) == (Outcome.DENIED, "kill switch")


def test_global_dry_run_describes_the_change_and_makes_none(kube, make_attempt, configure) -> None:
    configure(**{"remediation.dry_run": True})
    restart = execute(make_attempt("k8s_restart_deployment", "shop/payments"))
    scale = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"factor": 2}))

    assert (restart.status, restart.dry_run) == (RemediationStatus.DRY_RUN, True)
    assert restart.result["would"] == "restart shop/payments (rolling, 3 replicas)"
    assert restart.result["request"]["method"] == "PATCH"
    assert scale.status == RemediationStatus.DRY_RUN
    assert scale.result["would"] == "scale shop/payments from 3 to 6 replicas"
    assert kube.requests("PATCH") == []
    assert kube.deployments["shop/payments"].replicas == 3
    # Nothing ran, so nothing is cooling down.
    assert RemediationGuard.objects.filter(last_run_at__isnull=False).count() == 0


def test_a_dry_run_rule_does_not_count_towards_cooldown_or_the_hourly_limit(kube, make_attempt) -> None:
    dry = execute(make_attempt("k8s_restart_deployment", "shop/payments", dry_run=True))
    real = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert dry.status == RemediationStatus.DRY_RUN
    assert real.status == RemediationStatus.SUCCEEDED
    assert [r.method for r in kube.requests()] == ["GET", "PATCH"]


def test_cooldown_blocks_a_second_run_on_the_same_target_within_ten_minutes(kube, make_attempt) -> None:
    first = execute(make_attempt("k8s_restart_deployment", "shop/payments"))
    second = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert first.status == RemediationStatus.SUCCEEDED
    assert second.status == RemediationStatus.BLOCKED
    assert second.blocked_reason.startswith("cooldown: k8s_restart_deployment last ran on shop/payments at ")
    assert "10 minutes must pass" in second.blocked_reason
    assert len(kube.requests("PATCH")) == 1

    RemediationGuard.objects.update(last_run_at=timezone.now() - timedelta(minutes=10, seconds=5))
    third = execute(make_attempt("k8s_restart_deployment", "shop/payments"))
    assert third.status == RemediationStatus.SUCCEEDED
    assert len(kube.requests("PATCH")) == 2


def test_cooldown_is_per_action_and_target(kube, make_attempt) -> None:
    from tests.incidents.remediation.recording_server import Deployment

    kube.deployments["shop/checkout"] = Deployment()
    results = [
        execute(make_attempt("k8s_restart_deployment", "shop/payments")).status,
        execute(make_attempt("k8s_restart_deployment", "shop/checkout")).status,
        execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 4})).status,
    ]
    assert results == [RemediationStatus.SUCCEEDED] * 3


def test_at_most_three_runs_per_hour_on_one_target(kube, make_attempt, configure) -> None:
    configure(**{"remediation.cooldown_minutes": 0})
    statuses = [execute(make_attempt("k8s_restart_deployment", "shop/payments")).status for _ in range(4)]

    assert statuses == [RemediationStatus.SUCCEEDED] * 3 + [RemediationStatus.BLOCKED]
    fourth = RemediationAttempt.objects.get(status=RemediationStatus.BLOCKED)
    assert fourth.blocked_reason == (
        "rate limit: 3 runs of k8s_restart_deployment on shop/payments in the last hour "
        "(remediation.max_runs_per_hour is 3)"
    )
    assert len(kube.requests("PATCH")) == 3

    RemediationAttempt.objects.filter(status=RemediationStatus.SUCCEEDED).update(
        started_at=timezone.now() - timedelta(minutes=61)
    )
    assert execute(make_attempt("k8s_restart_deployment", "shop/payments")).status == RemediationStatus.SUCCEEDED


def test_failed_runs_count_towards_the_hourly_limit(kube, make_attempt, configure) -> None:
    configure(**{"remediation.cooldown_minutes": 0, "remediation.max_runs_per_hour": 2})
    path = "/apis/apps/v1/namespaces/shop/deployments/payments"
    kube.fail[("PATCH", path)] = (500, {"kind": "Status", "message": "etcdserver: request timed out"})
    statuses = [execute(make_attempt("k8s_restart_deployment", "shop/payments")).status for _ in range(3)]

    assert statuses == [RemediationStatus.FAILED, RemediationStatus.FAILED, RemediationStatus.BLOCKED]


def test_a_duplicate_delivery_of_the_task_runs_nothing_twice(kube, make_attempt) -> None:
    attempt = make_attempt("k8s_restart_deployment", "shop/payments")
    first = remediation_execute(attempt_id=attempt.pk, fencing_token=0)
    again = remediation_execute(attempt_id=attempt.pk, fencing_token=0)

    assert first is not None
    assert again is not None
    assert (first.status, first.fencing_token) == (RemediationStatus.SUCCEEDED, 1)
    assert again.status == RemediationStatus.SUCCEEDED
    assert len(kube.requests("PATCH")) == 1
    assert len(audit_for(attempt, AuditAction.EXECUTE)) == 2  # started and finished, once


def test_a_task_with_an_old_fencing_token_is_refused(kube, make_attempt) -> None:
    attempt = make_attempt("k8s_restart_deployment", "shop/payments", fencing_token=3)
    refused = remediation_execute(attempt_id=attempt.pk, fencing_token=2)

    assert refused is not None
    assert refused.status == RemediationStatus.APPROVED
    assert kube.requests() == []


@pytest.mark.parametrize("status", [RemediationStatus.AWAITING_APPROVAL, RemediationStatus.DENIED])
def test_only_proposed_or_approved_attempts_run(kube, make_attempt, status) -> None:
    attempt = make_attempt("k8s_restart_deployment", "shop/payments", status=status)
    assert execute(attempt).status == status
    assert kube.requests() == []


def test_an_approval_not_picked_up_in_time_is_blocked_as_stale(kube, make_attempt) -> None:
    attempt = make_attempt("k8s_restart_deployment", "shop/payments", decided_at=timezone.now() - timedelta(minutes=16))
    attempt = execute(attempt)

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.blocked_reason.startswith("stale: not started within 15 minutes")
    assert kube.requests() == []


def test_a_worker_lost_mid_run_is_marked_failed_and_never_run_again(kube, make_attempt) -> None:
    started = timezone.now() - timedelta(minutes=16)
    attempt = make_attempt(
        "k8s_restart_deployment", "shop/payments", status=RemediationStatus.RUNNING, started_at=started, fencing_token=1
    )
    recent = make_attempt(
        "k8s_restart_deployment", "shop/other", status=RemediationStatus.RUNNING, started_at=timezone.now()
    )

    assert remediation_sweep()["lost"] == 1
    attempt.refresh_from_db()
    recent.refresh_from_db()
    assert attempt.status == RemediationStatus.FAILED
    assert attempt.result["error"].startswith("worker lost")
    assert recent.status == RemediationStatus.RUNNING
    assert kube.requests() == []
    (event,) = audit_for(attempt, AuditAction.EXECUTE)
    assert (event.outcome, event.details["error"]) == (Outcome.FAILED, "worker lost")


def test_a_redelivered_task_of_a_lost_run_marks_it_failed_instead_of_running_it(kube, make_attempt) -> None:
    attempt = make_attempt(
        "k8s_restart_deployment",
        "shop/payments",
        status=RemediationStatus.RUNNING,
        started_at=timezone.now() - timedelta(minutes=20),
        fencing_token=1,
    )
    result = remediation_execute(attempt_id=attempt.pk, fencing_token=0)

    assert result is not None
    assert result.status == RemediationStatus.FAILED
    assert kube.requests() == []


def test_every_step_of_a_run_is_in_the_timeline_and_the_audit_log(kube, make_attempt) -> None:
    attempt = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 4}))

    entries = timeline_for(attempt)
    assert [e.kind for e in entries] == [TimelineKind.REMEDIATION_RUN, TimelineKind.REMEDIATION_RUN]
    assert entries[0].message == "Running k8s_scale_deployment on shop/payments"
    assert entries[1].message == (
        "k8s_scale_deployment on shop/payments succeeded: scaled shop/payments from 3 to 4 replicas"
    )
    assert entries[1].actor_label == "remediation"
    events = audit_for(attempt, AuditAction.EXECUTE)
    assert [(e.details["phase"], e.outcome) for e in events] == [
        ("started", Outcome.SUCCESS),
        ("finished", Outcome.SUCCESS),
    ]
    assert events[1].target_type == "incidents.remediationattempt"
    assert events[1].details["incident"] == str(attempt.incident.public_id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("guard_exists", [True, False], ids=["guard-row-exists", "first-run-creates-guard"])
def test_two_workers_racing_on_one_deployment_scale_it_once(kube, make_attempt, guard_exists) -> None:
    # A slow read of the current replicas keeps the first worker inside the guard lock while the second arrives:
    # without the lock both would pass the cooldown check and both would patch.
    kube.delay["GET"] = 0.5
    if guard_exists:
        RemediationGuard.objects.create(action="k8s_scale_deployment", target="shop/payments")
    attempts = [make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 5}) for _ in range(2)]
    barrier = threading.Barrier(len(attempts))
    outcome: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(attempt: RemediationAttempt) -> None:
        try:
            barrier.wait(timeout=10)
            result = remediation_execute(attempt_id=attempt.pk, fencing_token=0)
            assert result is not None
            outcome[attempt.pk] = result.status
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(a,)) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(outcome.values()) == [RemediationStatus.BLOCKED, RemediationStatus.SUCCEEDED]
    assert len(kube.requests("PATCH")) == 1
    blocked = RemediationAttempt.objects.get(status=RemediationStatus.BLOCKED)
    assert blocked.blocked_reason.startswith("cooldown: ")
    assert RemediationGuard.objects.filter(action="k8s_scale_deployment", target="shop/payments").count() == 1


def test_a_remediation_of_an_incident_resolved_meanwhile_does_not_run(kube, make_incident, make_attempt) -> None:
    incident = make_incident(status=IncidentStatus.RESOLVED, resolved_at=timezone.now())
    attempt = execute(make_attempt("k8s_restart_deployment", "shop/payments", incident=incident))

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.blocked_reason.startswith("resolved: ")
    assert kube.requests() == []


def test_the_sweep_enqueues_again_an_approval_whose_task_was_lost(
    make_attempt, enqueued, django_capture_on_commit_callbacks
) -> None:
    lost = make_attempt(decided_at=timezone.now() - timedelta(minutes=3), fencing_token=2)
    make_attempt(decided_at=timezone.now())  # its task is most likely still on its way

    with django_capture_on_commit_callbacks(execute=True):
        counts = remediation_sweep()

    assert counts["enqueued"] == 1
    assert enqueued.calls == [{"attempt_id": lost.pk, "fencing_token": 2}]
