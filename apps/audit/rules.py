"""Security rules over freshly sealed events: failed-login bursts, privilege escalation, large exports, high risk.

Each rule fires once per subject and window (a unique row), and raises an alert through the incidents app's
``alert_raise`` when that app provides it; until then ``security_alert_hook`` logs it and keeps the alert row.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.audit.choices import AuditAction
from apps.audit.models import AuditEvent, SecurityAlert
from apps.configuration.services import config_get

logger = structlog.get_logger(__name__)

PRIVILEGED_GROUPS = ("admin",)


def security_alert_hook(alert: SecurityAlert) -> None:
    """Hand an alert to the incidents pipeline (``apps.incidents.services.alert_raise``) when it exists."""
    try:
        incidents = import_module("apps.incidents.services")
    except ModuleNotFoundError:
        incidents = None
    raise_alert = getattr(incidents, "alert_raise", None)
    logger.warning("security_alert", rule=alert.rule, summary=alert.summary, event_seq=alert.event_seq)
    if raise_alert is not None:
        raise_alert(
            source="audit",
            name=f"audit.{alert.rule}",
            summary=alert.summary,
            severity="critical" if alert.rule in ("privilege_escalation", "large_export") else "warning",
            dedup_key=f"audit:{alert.rule}:{alert.dedup_key}",
            details=alert.details,
        )


def _fire(rule: str, dedup_key: str, event: AuditEvent, summary: str, details: dict[str, Any]) -> None:
    try:
        with transaction.atomic():
            alert = SecurityAlert.objects.create(
                rule=rule, dedup_key=dedup_key[:200], event_seq=event.seq, summary=summary[:300], details=details
            )
    except IntegrityError:
        return  # already fired for this subject and window
    security_alert_hook(alert)


def _failed_logins(event: AuditEvent) -> None:
    threshold = config_get("audit.failed_logins_alert")
    since = event.occurred_at - timedelta(hours=1)
    recent = AuditEvent.objects.filter(
        action=AuditAction.LOGIN_FAILED, occurred_at__gt=since, occurred_at__lte=event.occurred_at
    )
    window = event.occurred_at.strftime("%Y-%m-%dT%H")
    for subject, condition in (("user", Q(actor_label=event.actor_label)), ("ip", Q(ip=event.ip))):
        value = event.actor_label if subject == "user" else event.ip
        if not value:
            continue
        count = recent.filter(condition).count()
        if count >= threshold:
            _fire(
                "failed_logins",
                f"{subject}:{value}:{window}",
                event,
                f"{count} failed logins in an hour for {subject} {value}",
                {"count": count, subject: value},
            )


def _privilege_escalation(event: AuditEvent) -> None:
    changes = event.changes or {}
    granted = [name for name in ("is_superuser", "is_staff") if (changes.get(name) or {}).get("new") is True]
    if event.target_type == "common.user" and granted:
        _fire(
            "privilege_escalation",
            f"event:{event.seq}",
            event,
            f"{', '.join(granted)} granted to {event.target_label or event.target_id} by {event.actor_label}",
            {"granted": granted, "target": event.target_id},
        )
        return
    if event.action == AuditAction.PERMISSION_CHANGE and event.target_type == "common.user_groups":
        group_id = (changes.get("group_id") or {}).get("new")
        if group_id is None:
            return
        from django.contrib.auth.models import Group

        name = Group.objects.filter(pk=group_id).values_list("name", flat=True).first()
        if name in PRIVILEGED_GROUPS:
            user_id = (changes.get("user_id") or {}).get("new")
            _fire(
                "privilege_escalation",
                f"event:{event.seq}",
                event,
                f"user {user_id} added to role {name} by {event.actor_label}",
                {"group": name, "user": user_id},
            )


def _large_export(event: AuditEvent) -> None:
    details = event.details or {}
    rows, size = int(details.get("rows") or 0), int(details.get("bytes") or 0)
    if rows >= config_get("audit.large_export_rows") or size >= config_get("audit.large_export_bytes"):
        _fire(
            "large_export",
            f"event:{event.seq}",
            event,
            f"{event.actor_label} exported {rows} rows ({size} bytes) of {event.target_type}",
            {"rows": rows, "bytes": size},
        )


def _high_risk(event: AuditEvent) -> None:
    if event.risk_score >= config_get("audit.risk_alert_threshold"):
        _fire(
            "high_risk",
            f"event:{event.seq}",
            event,
            f"risk {event.risk_score} for {event.action} of {event.target_type} by {event.actor_label}",
            {"score": event.risk_score, "factors": event.risk_factors},
        )


def evaluate_rules(*, first_seq: int, last_seq: int) -> None:
    """Run every rule over the events sealed in ``first_seq``..``last_seq``."""
    interesting = (
        Q(action__in=[AuditAction.LOGIN_FAILED, AuditAction.EXPORT, AuditAction.PERMISSION_CHANGE])
        | Q(target_type="common.user", action=AuditAction.UPDATE)
        | Q(risk_score__gte=config_get("audit.risk_alert_threshold"))
    )
    for event in AuditEvent.objects.filter(interesting, seq__gte=first_seq, seq__lte=last_seq).order_by("seq"):
        try:
            if event.action == AuditAction.LOGIN_FAILED:
                _failed_logins(event)
            if event.action == AuditAction.EXPORT:
                _large_export(event)
            _privilege_escalation(event)
            _high_risk(event)
        except Exception:  # a rule must never stop sealing; the event is safe in the chain
            logger.exception("audit_rule_failed", seq=event.seq)
