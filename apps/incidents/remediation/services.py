"""Remediation of incidents: proposals from rules, approvals and denials, the worker-side execution, and the sweeps.

Public surface: ``remediation_propose``, ``remediation_approve``, ``remediation_deny``, ``remediation_run``,
``remediation_execute``, ``remediation_sweep``, ``approval_link_make``.

Life of an attempt: an enabled rule whose matchers match a new incident proposes it (``proposed``, or
``awaiting_approval`` when the action or the rule asks for a person). A person approves or denies it (an approval
that comes after ``approval_expires_at`` expires it instead); an auto-run rule, an approval or a person's "run"
enqueues it after commit. The worker (``remediation_execute``) applies the safety controls under the (action, target)
guard lock, then runs the action and records the result. Every step is a timeline entry and an audit event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.choices import AuditAction, Outcome
from apps.common.errors import Conflict, DomainError, PermissionDenied
from apps.common.models import User
from apps.configuration.services import config_get
from apps.incidents.choices import RemediationStatus, TimelineKind
from apps.incidents.matchers import MatcherError, matches_all, render_template
from apps.incidents.models import Incident, RemediationAttempt, RemediationRule
from apps.incidents.remediation.events import attempt_recorded
from apps.incidents.remediation.execution import remediation_execute, remediation_reap_lost
from apps.incidents.remediation.links import approval_link_make
from apps.incidents.remediation.registry import action_get

__all__ = [
    "approval_link_make",
    "remediation_approve",
    "remediation_deny",
    "remediation_execute",
    "remediation_propose",
    "remediation_run",
    "remediation_sweep",
]

logger = structlog.get_logger(__name__)
DECIDE_PERMISSION = "incidents.change_incident"
NOT_STARTED = (RemediationStatus.PROPOSED, RemediationStatus.AWAITING_APPROVAL, RemediationStatus.APPROVED)
# An approved attempt whose task never arrived (broker down at commit) is enqueued again after this long.
REENQUEUE_AFTER = timedelta(minutes=2)


def enqueue_execution(attempt: RemediationAttempt) -> None:
    """After commit, hand the attempt to a worker with the fencing token it holds now."""
    attempt_id, token = attempt.pk, attempt.fencing_token

    def send() -> None:
        from apps.incidents.remediation.tasks import remediation_execute_task

        remediation_execute_task.apply_async(kwargs={"attempt_id": attempt_id, "fencing_token": token})

    # robust: a broker outage must not fail the committed decision; the sweep enqueues it again.
    transaction.on_commit(send, robust=True)


def _labels(incident: Incident) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in (incident.labels or {}).items()}
    if incident.service and not labels.get("service"):
        labels["service"] = incident.service
    return labels


def remediation_propose(*, incident: Incident) -> list[RemediationAttempt]:
    """One attempt per enabled rule (in position order) matching the incident's labels, never twice per rule."""
    now = timezone.now()
    created: list[RemediationAttempt] = []
    with transaction.atomic():
        # Serialises proposals for one incident, so two callers never propose the same rule twice.
        Incident.objects.select_for_update().filter(pk=incident.pk).first()
        proposed = set(
            RemediationAttempt.objects.filter(incident=incident, rule__isnull=False).values_list("rule_id", flat=True)
        )
        labels = _labels(incident)
        for rule in RemediationRule.objects.filter(enabled=True).order_by("position", "name"):
            if rule.pk in proposed:
                continue
            try:
                if not matches_all(rule.matchers, labels):
                    continue
            except MatcherError as exc:
                logger.warning("remediation_rule_unreadable", rule=rule.name, error=str(exc))
                continue
            try:
                with transaction.atomic():
                    created.append(_propose_one(incident=incident, rule=rule, labels=labels, now=now))
            except Exception:
                # Proposals run inside alert intake: a broken rule must never cost the incident itself.
                logger.exception("remediation_proposal_failed", rule=rule.name, incident=str(incident.public_id))
    return created


def _propose_one(
    *, incident: Incident, rule: RemediationRule, labels: dict[str, str], now: datetime
) -> RemediationAttempt:
    target = render_template(rule.target, labels)
    params: dict[str, Any] = dict(rule.params or {}) if isinstance(rule.params, dict) else {}
    problem, needs_approval = "", rule.requires_approval
    try:
        action = action_get(rule.action)
        needs_approval = needs_approval or action.needs_approval
        action.validate(target, params)
    except DomainError as exc:
        problem = exc.detail
    if problem:
        status = RemediationStatus.BLOCKED
    elif needs_approval:
        status = RemediationStatus.AWAITING_APPROVAL
    else:
        status = RemediationStatus.PROPOSED
    attempt = RemediationAttempt.objects.create(
        incident=incident,
        rule=rule,
        action=rule.action,
        target=target[:200],
        params=params,
        status=status,
        dry_run=rule.dry_run,
        requires_approval=needs_approval,
        blocked_reason=f"invalid: {problem}"[:300] if problem else "",
        approval_expires_at=(
            now + timedelta(minutes=int(config_get("remediation.approval_timeout_minutes")))
            if status == RemediationStatus.AWAITING_APPROVAL
            else None
        ),
        finished_at=now if problem else None,
    )
    auto = status == RemediationStatus.PROPOSED and rule.auto_run
    if problem:
        message = f"{rule.name}: {attempt.action} on {attempt.target or '(empty target)'} not possible: {problem}"
        attempt_recorded(
            attempt=attempt,
            kind=TimelineKind.REMEDIATION_BLOCKED,
            message=message,
            audit_action=AuditAction.CREATE,
            outcome=Outcome.FAILED,
            details={"rule": rule.name, "reason": attempt.blocked_reason},
        )
        return attempt
    if auto and incident.in_maintenance:
        note = " — not run automatically: the incident came in during maintenance"
    elif auto:
        note = " — running automatically"
    elif needs_approval:
        note = " — waiting for approval"
    else:
        note = ""
    attempt_recorded(
        attempt=attempt,
        kind=TimelineKind.REMEDIATION_PROPOSED,
        message=f"{rule.name} proposes {attempt.action} on {attempt.target}{note}",
        audit_action=AuditAction.CREATE,
        details={"rule": rule.name, "requires_approval": needs_approval, "auto_run": rule.auto_run},
    )
    if auto and not incident.in_maintenance:
        enqueue_execution(attempt)
    return attempt


def _lock(attempt: RemediationAttempt) -> RemediationAttempt:
    return (
        RemediationAttempt.objects.select_for_update(of=("self",)).select_related("incident", "rule").get(pk=attempt.pk)
    )


def _check_actor(actor: User) -> None:
    if not (actor.is_active and actor.has_perm(DECIDE_PERMISSION)):
        raise PermissionDenied("only people who may change incidents decide on remediation")


def _expire(attempt: RemediationAttempt, now: datetime) -> None:
    attempt.status = RemediationStatus.EXPIRED
    attempt.finished_at = now
    attempt.save(update_fields=["status", "finished_at"])
    attempt_recorded(
        attempt=attempt,
        kind=TimelineKind.REMEDIATION_DENIED,
        message=f"Approval of {attempt.action} on {attempt.target} expired without a decision",
        audit_action=AuditAction.DENY,
        outcome=Outcome.FAILED,
        details={"reason": "approval expired"},
    )


def remediation_approve(*, attempt: RemediationAttempt, actor: User, via: str = "api") -> RemediationAttempt:
    """Approve an attempt awaiting approval and enqueue it; Conflict when it is not awaiting or has expired."""
    _check_actor(actor)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(attempt)
        if locked.status != RemediationStatus.AWAITING_APPROVAL:
            raise Conflict(
                f"this remediation is {locked.get_status_display().lower()}, not awaiting approval",
                code="remediation_not_awaiting_approval",
            )
        expired = locked.approval_expires_at is not None and locked.approval_expires_at <= now
        if expired:
            _expire(locked, now)
        else:
            locked.status = RemediationStatus.APPROVED
            locked.decided_by, locked.decided_at = actor, now
            locked.save(update_fields=["status", "decided_by", "decided_at"])
            attempt_recorded(
                attempt=locked,
                kind=TimelineKind.REMEDIATION_APPROVED,
                message=f"{actor.get_username()} approved {locked.action} on {locked.target}",
                audit_action=AuditAction.APPROVE,
                actor=actor,
                details={"via": via},
            )
            enqueue_execution(locked)
    if expired:
        # Raised after the commit: the expiry itself is kept.
        raise Conflict(
            f"the approval window ended at {locked.approval_expires_at:%Y-%m-%d %H:%M:%S %Z}",
            code="remediation_approval_expired",
        )
    return locked


def remediation_deny(*, attempt: RemediationAttempt, actor: User, reason: str, via: str = "api") -> RemediationAttempt:
    """Refuse an attempt that has not started (awaiting approval, proposed, or approved but not yet picked up)."""
    _check_actor(actor)
    reason = reason.strip()[:250] or "no reason given"
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(attempt)
        if locked.status not in NOT_STARTED:
            raise Conflict(
                f"this remediation is {locked.get_status_display().lower()}; only one not started can be denied",
                code="remediation_not_awaiting_approval",
            )
        locked.status = RemediationStatus.DENIED
        locked.decided_by, locked.decided_at, locked.finished_at = actor, now, now
        locked.blocked_reason = f"denied: {reason}"
        locked.save(update_fields=["status", "decided_by", "decided_at", "finished_at", "blocked_reason"])
        attempt_recorded(
            attempt=locked,
            kind=TimelineKind.REMEDIATION_DENIED,
            message=f"{actor.get_username()} denied {locked.action} on {locked.target}: {reason}",
            audit_action=AuditAction.DENY,
            actor=actor,
            details={"reason": reason, "via": via},
        )
    return locked


def remediation_run(*, attempt: RemediationAttempt, actor: User) -> RemediationAttempt:
    """A person runs a proposed attempt that its rule did not run automatically (the safety controls still apply)."""
    _check_actor(actor)
    with transaction.atomic():
        locked = _lock(attempt)
        if locked.status != RemediationStatus.PROPOSED:
            raise Conflict(
                f"this remediation is {locked.get_status_display().lower()}; only a proposed one can be run",
                code="remediation_not_proposed",
            )
        locked.status = RemediationStatus.APPROVED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        attempt_recorded(
            attempt=locked,
            kind=TimelineKind.REMEDIATION_APPROVED,
            message=f"{actor.get_username()} ran {locked.action} on {locked.target}",
            audit_action=AuditAction.APPROVE,
            actor=actor,
            details={"via": "run"},
        )
        enqueue_execution(locked)
    return locked


def remediation_sweep(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Expire unanswered approvals, fail attempts whose worker was lost, re-enqueue approvals whose task was lost."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = (
            RemediationAttempt.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("incident")
            .filter(status=RemediationStatus.AWAITING_APPROVAL, approval_expires_at__lte=now)[:limit]
        )
        for attempt in due:
            _expire(attempt, now)
            expired += 1
    lost = remediation_reap_lost(now=now, limit=limit)
    waiting = RemediationAttempt.objects.filter(
        Q(status=RemediationStatus.APPROVED, decided_at__lte=now - REENQUEUE_AFTER)
        | Q(
            status=RemediationStatus.PROPOSED,
            rule__auto_run=True,
            incident__in_maintenance=False,
            created_at__lte=now - REENQUEUE_AFTER,
        ),
        started_at__isnull=True,
    ).only("pk", "fencing_token")[:limit]
    with transaction.atomic():
        for attempt in waiting:
            enqueue_execution(attempt)  # a duplicate is harmless: the fencing token lets only one run
    return {"expired": expired, "lost": lost, "enqueued": len(waiting)}
