"""What remediation leaves behind: one incident timeline entry and one audit event for every proposal, block,
decision and result, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from apps.audit.choices import Outcome
from apps.audit.services import audit_record
from apps.common.models import User
from apps.incidents.models import RemediationAttempt
from apps.incidents.timeline import timeline_add

ACTOR_LABEL = "remediation"


def attempt_recorded(
    *,
    attempt: RemediationAttempt,
    kind: str,
    message: str,
    audit_action: str,
    outcome: str = Outcome.SUCCESS,
    actor: User | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append the timeline entry and the audit event of one step of an attempt."""
    data = {
        "attempt": str(attempt.public_id),
        "action": attempt.action,
        "target": attempt.target,
        "status": attempt.status,
        "dry_run": attempt.dry_run,
        **(details or {}),
    }
    timeline_add(
        incident=attempt.incident,
        kind=kind,
        message=message,
        actor=actor,
        actor_label="" if actor is not None else ACTOR_LABEL,
        data=data,
    )
    audit_record(
        action=audit_action,
        target=attempt,
        outcome=outcome,
        details={"incident": str(attempt.incident.public_id), **data},
    )
