"""Demo data of the audit log: a realistic trail (logins, a failed-login burst, reads of personal data with and
without a purpose, an export, a role change), sealed, verified and anchored."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.audit.anchors import anchor_write
from apps.audit.choices import ActorType, AuditAction, Outcome
from apps.audit.context import AuditContext, context_for_user
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record, audit_seal_pending
from apps.audit.verify import verify_chain
from apps.common.models import User

DEMO_MARK = "demo-trail"


def seed() -> list[str]:
    """Idempotent: the trail is written once (marked by its request ids)."""
    if AuditEvent.objects.filter(request_id__startswith=DEMO_MARK).exists():
        audit_seal_pending()
        return [f"audit trail present; {verify_chain().summary()}"]
    users = {u.username: u for u in User.objects.filter(username__in=["admin", "auditor", "compliance", "steward"])}
    if len(users) < 4:
        return ["audit trail skipped: run create_demo_users first"]
    now = timezone.now()

    def as_user(name: str, ip: str, n: int) -> AuditContext:
        return context_for_user(users[name], ip=ip, user_agent="Mozilla/5.0 (demo)", request_id=f"{DEMO_MARK}-{n}")

    audit_record(
        action=AuditAction.LOGIN,
        target=users["admin"],
        context=as_user("admin", "10.20.0.5", 1),
        occurred_at=now - timedelta(hours=30),
    )
    for n in range(6):
        attacker = AuditContext(
            actor_type=ActorType.ANONYMOUS,
            actor_label="compliance",
            ip="203.0.113.66",
            user_agent="python-requests/2.32",
            request_id=f"{DEMO_MARK}-fail-{n}",
        )
        audit_record(
            action=AuditAction.LOGIN_FAILED,
            target_type="common.user",
            target_label="compliance",
            outcome=Outcome.FAILED,
            context=attacker,
            occurred_at=now - timedelta(hours=5, minutes=10 - n),
        )
    audit_record(
        action=AuditAction.LOGIN,
        target=users["compliance"],
        context=as_user("compliance", "10.20.0.9", 2),
        occurred_at=now - timedelta(hours=4),
    )
    audit_record(
        action=AuditAction.READ,
        target=users["steward"],
        purpose="support",
        details={"fields": ["display_name", "email"]},
        context=as_user("compliance", "10.20.0.9", 3),
        occurred_at=now - timedelta(hours=4) + timedelta(minutes=3),
    )
    audit_record(
        action=AuditAction.READ,
        target_type="common.user",
        rows=250,
        purpose="",
        details={"fields": ["email", "first_name", "last_name"]},
        context=as_user("steward", "10.20.0.7", 4),
        occurred_at=now - timedelta(hours=3),
    )
    audit_record(
        action=AuditAction.EXPORT,
        target_type="audit.auditevent",
        rows=1200,
        purpose="audit",
        details={"format": "csv"},
        context=as_user("auditor", "10.20.0.11", 5),
        occurred_at=now - timedelta(hours=2),
    )
    audit_record(
        action=AuditAction.PERMISSION_CHANGE,
        target=users["steward"],
        purpose="administration",
        changes={"groups": {"old": ["data_steward"], "new": ["data_steward", "auditor"]}},
        context=as_user("admin", "10.20.0.5", 6),
        occurred_at=now - timedelta(hours=1),
    )
    sealed = audit_seal_pending()
    anchor = anchor_write()
    report = verify_chain()
    lines = [f"audit trail: {sealed} events sealed; {report.summary()}"]
    if anchor is not None:
        lines.append(f"anchored #{anchor.seq} at {anchor.location}")
    return lines
