"""The worker side of remediation: claim an attempt exactly once, apply the safety controls under the guard lock of
its (action, target), run the action outside any transaction, and record the result.

Exactly once: the task carries the attempt's fencing token as it was when enqueued. The claim locks the attempt row,
accepts it only when it is still ``proposed``/``approved`` with that token, bumps the token and marks it ``running``
in the same transaction, so a duplicate delivery (acks_late redelivery, a sweep's re-enqueue) finds nothing to do.

Safety controls, checked in this order while the RemediationGuard row of (action, target) is locked, so two workers
can never both pass them: the kill switch (``remediation.kill_switch``), a resolved incident, staleness (not started
within ``remediation.worker_lost_minutes`` of its approval), the action's own validation, the cooldown
(``remediation.cooldown_minutes`` since the guard's last run), the hourly limit (``remediation.max_runs_per_hour``
runs that were not dry runs in the last hour) and the action's preflight (max scale-up, max replicas, allow-lists).
A real run stamps the guard's ``last_run_at`` before the lock is released; a failed run counts too, so a broken
remediation cannot be retried in a tight loop. Dry runs (the rule's, or ``remediation.dry_run``) pass the same
controls and change nothing, not even the guard.

A worker that dies mid-run leaves the attempt ``running``. It is never run again automatically: once it has been
running longer than ``remediation.worker_lost_minutes`` the sweep (or a redelivered task) marks it ``failed`` with the
reason "worker lost", because nobody can tell whether the action took effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from apps.audit.choices import AuditAction, Outcome
from apps.common.errors import DomainError
from apps.configuration.services import config_get
from apps.incidents.choices import IncidentStatus, RemediationStatus, TimelineKind
from apps.incidents.models import RemediationAttempt, RemediationGuard
from apps.incidents.remediation.events import attempt_recorded
from apps.incidents.remediation.registry import Action, ActionBlocked, ActionFailed, action_get

logger = structlog.get_logger(__name__)
EXECUTABLE = (RemediationStatus.PROPOSED, RemediationStatus.APPROVED)
RAN = (RemediationStatus.RUNNING, RemediationStatus.SUCCEEDED, RemediationStatus.FAILED)
WORKER_LOST = "worker lost: it stopped while running the action; check the target by hand, it is not run again"


@dataclass
class Claim:
    """An attempt this worker may run: the bumped fencing token and what the preflight found."""

    attempt_id: int
    token: int
    action: Action
    target: str
    params: dict[str, Any]
    dry_run: bool
    plan: dict[str, Any] = field(default_factory=dict)


def _minutes(key: str) -> int:
    return int(config_get(key))


def _lock_guard(action: str, target: str) -> RemediationGuard:
    """The guard row of (action, target), created on first use, locked until the transaction ends."""
    RemediationGuard.objects.bulk_create([RemediationGuard(action=action, target=target)], ignore_conflicts=True)
    return RemediationGuard.objects.select_for_update().get(action=action, target=target)


def _precondition_failed(attempt: RemediationAttempt, now: datetime) -> str:
    """The kill switch, a resolved incident or staleness refusing the attempt, or ''."""
    if config_get("remediation.kill_switch"):
        return "kill switch: remediation.kill_switch is on; no remediation runs"
    if attempt.incident.status == IncidentStatus.RESOLVED:
        return "resolved: the incident was resolved before the remediation ran"
    lost = _minutes("remediation.worker_lost_minutes")
    since = attempt.decided_at or attempt.created_at
    if since < now - timedelta(minutes=lost):
        return f"stale: not started within {lost} minutes of {since:%H:%M:%S %Z}; propose it again"
    return ""


def _limit_reached(attempt: RemediationAttempt, guard: RemediationGuard, now: datetime) -> str:
    """The cooldown or the hourly limit of (action, target) refusing the attempt, or ''."""
    cooldown = _minutes("remediation.cooldown_minutes")
    if guard.last_run_at is not None and guard.last_run_at > now - timedelta(minutes=cooldown):
        return (
            f"cooldown: {attempt.action} last ran on {attempt.target} at {guard.last_run_at:%H:%M:%S %Z}; "
            f"{cooldown} minutes must pass between runs (remediation.cooldown_minutes)"
        )
    limit = int(config_get("remediation.max_runs_per_hour"))
    runs = RemediationAttempt.objects.filter(
        action=attempt.action,
        target=attempt.target,
        dry_run=False,
        status__in=RAN,
        started_at__gte=now - timedelta(hours=1),
    ).count()
    if runs >= limit:
        return (
            f"rate limit: {runs} runs of {attempt.action} on {attempt.target} in the last hour "
            f"(remediation.max_runs_per_hour is {limit})"
        )
    return ""


def _decide(
    attempt: RemediationAttempt, guard: RemediationGuard, now: datetime
) -> tuple[Action | None, str, dict[str, Any]]:
    """(action, block reason, preflight facts); raises ActionFailed when the preflight could not read the target."""
    reason = _precondition_failed(attempt, now)
    if reason:
        return None, reason, {}
    params = dict(attempt.params or {})
    try:
        action = action_get(attempt.action)
        action.validate(attempt.target, params)
    except DomainError as exc:  # unknown action, or a target or parameters that are not acceptable
        return None, f"invalid: {exc.detail}", {}
    reason = _limit_reached(attempt, guard, now)
    if reason:
        return None, reason, {}
    try:
        return action, "", action.preflight(attempt.target, params)
    except ActionBlocked as exc:
        return None, exc.detail, {}
    except ActionFailed:
        raise
    except Exception as exc:
        logger.exception("remediation_preflight_crashed", action=attempt.action, attempt_id=attempt.pk)
        raise ActionFailed(f"unexpected error before running ({type(exc).__name__})") from None


def _blocked(attempt: RemediationAttempt, reason: str, now: datetime) -> None:
    attempt.status = RemediationStatus.BLOCKED
    attempt.blocked_reason = reason[:300]
    attempt.finished_at = now
    attempt.save(update_fields=["status", "blocked_reason", "finished_at", "fencing_token", "dry_run"])
    attempt_recorded(
        attempt=attempt,
        kind=TimelineKind.REMEDIATION_BLOCKED,
        message=f"{attempt.action} on {attempt.target} blocked by {reason}"[:500],
        audit_action=AuditAction.EXECUTE,
        outcome=Outcome.DENIED,
        details={"reason": attempt.blocked_reason, "control": reason.split(":", 1)[0]},
    )


def _failed_early(attempt: RemediationAttempt, exc: ActionFailed, now: datetime) -> None:
    attempt.status = RemediationStatus.FAILED
    attempt.result = {"error": exc.message, **exc.details}
    attempt.finished_at = now
    attempt.save(update_fields=["status", "result", "finished_at", "fencing_token", "dry_run"])
    attempt_recorded(
        attempt=attempt,
        kind=TimelineKind.REMEDIATION_RUN,
        message=f"{attempt.action} on {attempt.target} failed before running: {exc.message}"[:500],
        audit_action=AuditAction.EXECUTE,
        outcome=Outcome.FAILED,
        details={"error": exc.message},
    )


def _mark_lost(attempt: RemediationAttempt, now: datetime) -> None:
    attempt.status = RemediationStatus.FAILED
    attempt.result = {**(attempt.result or {}), "error": WORKER_LOST}
    attempt.finished_at = now
    attempt.save(update_fields=["status", "result", "finished_at"])
    attempt_recorded(
        attempt=attempt,
        kind=TimelineKind.REMEDIATION_RUN,
        message=f"{attempt.action} on {attempt.target}: {WORKER_LOST}",
        audit_action=AuditAction.EXECUTE,
        outcome=Outcome.FAILED,
        details={"error": "worker lost"},
    )


def _is_lost(attempt: RemediationAttempt, now: datetime) -> bool:
    started = attempt.started_at
    return started is not None and started < now - timedelta(minutes=_minutes("remediation.worker_lost_minutes"))


def _claim(attempt_id: int, fencing_token: int) -> Claim | None:
    now = timezone.now()
    with transaction.atomic():
        attempt = (
            RemediationAttempt.objects.select_for_update(of=("self",))
            .select_related("incident")
            .filter(pk=attempt_id)
            .first()
        )
        if attempt is None:
            logger.warning("remediation_attempt_missing", attempt_id=attempt_id)
            return None
        if attempt.status == RemediationStatus.RUNNING and _is_lost(attempt, now):
            _mark_lost(attempt, now)
            return None
        if attempt.status not in EXECUTABLE or attempt.fencing_token != fencing_token:
            logger.info(
                "remediation_execute_skipped",
                attempt=str(attempt.public_id),
                status=attempt.status,
                fence=fencing_token,  # not "token": the log redaction would mask it
                current_fence=attempt.fencing_token,
            )
            return None
        attempt.fencing_token += 1
        attempt.dry_run = attempt.dry_run or bool(config_get("remediation.dry_run"))
        guard = _lock_guard(attempt.action, attempt.target)
        try:
            action, reason, plan = _decide(attempt, guard, now)
        except ActionFailed as exc:
            _failed_early(attempt, exc, now)
            return None
        if action is None:
            _blocked(attempt, reason, now)
            return None
        if not attempt.dry_run:
            guard.last_run_at = now
            guard.save(update_fields=["last_run_at"])
        attempt.status = RemediationStatus.RUNNING
        attempt.started_at = now
        attempt.save(update_fields=["status", "started_at", "fencing_token", "dry_run"])
        attempt_recorded(
            attempt=attempt,
            kind=TimelineKind.REMEDIATION_RUN,
            message=f"{'Dry run of' if attempt.dry_run else 'Running'} {attempt.action} on {attempt.target}",
            audit_action=AuditAction.EXECUTE,
            details={"phase": "started", "checked": plan},
        )
        params = dict(attempt.params or {})
        return Claim(attempt.pk, attempt.fencing_token, action, attempt.target, params, attempt.dry_run, plan)


def _run(claim: Claim) -> tuple[str, dict[str, Any]]:
    try:
        result = claim.action.run(claim.target, {**claim.params, **claim.plan}, dry_run=claim.dry_run)
    except ActionFailed as exc:
        return RemediationStatus.FAILED, {"error": exc.message, **exc.details}
    except Exception as exc:
        logger.exception("remediation_action_crashed", action=claim.action.key, attempt_id=claim.attempt_id)
        return RemediationStatus.FAILED, {"error": f"unexpected error in the action ({type(exc).__name__})"}
    return (RemediationStatus.DRY_RUN if claim.dry_run else RemediationStatus.SUCCEEDED), result


def _finish(claim: Claim, status: str, result: dict[str, Any]) -> RemediationAttempt:
    with transaction.atomic():
        attempt = (
            RemediationAttempt.objects.select_for_update(of=("self",))
            .select_related("incident")
            .get(pk=claim.attempt_id)
        )
        late = attempt.status != RemediationStatus.RUNNING
        if attempt.fencing_token != claim.token:
            logger.error("remediation_fence_moved", attempt=str(attempt.public_id), fence=claim.token)
        attempt.status = status
        attempt.result = {**result, **({"checked": claim.plan} if claim.plan else {})}
        attempt.finished_at = timezone.now()
        attempt.save(update_fields=["status", "result", "finished_at"])
        summary = str(result.get("done") or result.get("would") or result.get("error") or status)
        prefix = "(result after it was given up as lost) " if late else ""
        attempt_recorded(
            attempt=attempt,
            kind=TimelineKind.REMEDIATION_RUN,
            message=f"{prefix}{attempt.action} on {attempt.target} {attempt.get_status_display().lower()}: {summary}"[
                :500
            ],
            audit_action=AuditAction.EXECUTE,
            outcome=Outcome.FAILED if status == RemediationStatus.FAILED else Outcome.SUCCESS,
            details={"phase": "finished", "result": attempt.result},
        )
    return attempt


def remediation_execute(*, attempt_id: int, fencing_token: int) -> RemediationAttempt | None:
    """Run one attempt exactly once (see the module docstring); None when the attempt no longer exists."""
    claim = _claim(attempt_id, fencing_token)
    if claim is None:
        return RemediationAttempt.objects.filter(pk=attempt_id).first()
    status, result = _run(claim)
    return _finish(claim, status, result)


def remediation_reap_lost(*, now: datetime | None = None, limit: int = 200) -> int:
    """Mark attempts whose worker died mid-run as failed ("worker lost"); returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=_minutes("remediation.worker_lost_minutes"))
    with transaction.atomic():
        lost = list(
            RemediationAttempt.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("incident")
            .filter(status=RemediationStatus.RUNNING, started_at__lt=cutoff)[:limit]
        )
        for attempt in lost:
            _mark_lost(attempt, now)
    return len(lost)
