"""Reads of the audit log for auditors: filtered event listings, per-user access reports, the compliance summary.

Public surface (what other apps and the API may call): ``audit_event_list``, ``audit_event_filter``,
``access_report``, ``compliance_summary``. Reports cover sealed events only (a pending event is seconds old and has
no sequence number yet); the summary says how many are pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import BigIntegerField, Count, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from apps.audit.choices import AuditAction, Outcome
from apps.audit.models import AuditEvent, SecurityAlert
from apps.audit.verify import verify_chain
from apps.common.errors import NotFound
from apps.common.models import User

HIGH_RISK = 50  # the same threshold as the partial index ``audit_risk``
LATEST = 20  # events (or alerts) listed in a report section
PERSONAL_DATA_ACTIONS = (AuditAction.READ, AuditAction.EXPORT)


def _sealed() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(seq__isnull=False)


def audit_event_filter(queryset: QuerySet[AuditEvent], *, filters: Mapping[str, Any]) -> QuerySet[AuditEvent]:
    """Narrow ``queryset`` by already-parsed filters; empty values are ignored.

    Keys: ``actor`` (actor id or label, exact), ``target_type``, ``target_id``, ``action`` (one or a list),
    ``outcome``, ``occurred_after`` (inclusive), ``occurred_before`` (exclusive), ``risk_min``, ``request_id``.
    """
    actor = filters.get("actor")
    if actor:
        queryset = queryset.filter(Q(actor_id=actor) | Q(actor_label=actor))
    for name in ("target_type", "target_id", "outcome", "request_id"):
        value = filters.get(name)
        if value:
            queryset = queryset.filter(**{name: value})
    actions = filters.get("action")
    if actions:
        queryset = queryset.filter(action__in=[actions] if isinstance(actions, str) else list(actions))
    if filters.get("occurred_after") is not None:
        queryset = queryset.filter(occurred_at__gte=filters["occurred_after"])
    if filters.get("occurred_before") is not None:
        queryset = queryset.filter(occurred_at__lt=filters["occurred_before"])
    if filters.get("risk_min") is not None:
        queryset = queryset.filter(risk_score__gte=filters["risk_min"])
    return queryset


def audit_event_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[AuditEvent]:
    """Sealed events matching ``filters`` (see ``audit_event_filter``), newest first."""
    return audit_event_filter(_sealed().order_by("-seq"), filters=filters or {})


def _window(since: datetime, until: datetime) -> QuerySet[AuditEvent]:
    return _sealed().filter(occurred_at__gte=since, occurred_at__lt=until)


def _counts(queryset: QuerySet[AuditEvent], column: str) -> dict[str, int]:
    rows = queryset.order_by().values_list(column).annotate(n=Count("id")).order_by(column)
    return {str(name): int(n) for name, n in rows}


def _rows_sum() -> Coalesce:
    return Coalesce(Sum(Cast(KT("details__rows"), BigIntegerField())), Value(0))


def _latest(queryset: QuerySet[AuditEvent]) -> list[AuditEvent]:
    return list(queryset.order_by("-seq")[:LATEST])


@dataclass
class PurposeUse:
    """Reads or exports of one kind of object for one purpose."""

    purpose: str
    events: int
    rows: int


@dataclass
class PersonalDataAccess:
    """Reads and exports of one kind of object: how often, how many records, and why."""

    target_type: str
    reads: int = 0
    exports: int = 0
    rows: int = 0
    purposes: list[PurposeUse] = field(default_factory=list)


@dataclass
class AddressUse:
    """One client address a user acted from."""

    ip: str
    events: int
    first_seen: datetime
    last_seen: datetime


@dataclass
class AccessReport:
    """What one user did in a window: actions, personal data read or exported, failures, addresses, risky events."""

    user: User
    since: datetime
    until: datetime
    total: int
    by_action: dict[str, int]
    personal_data: list[PersonalDataAccess]
    failed: int
    denied: int
    login_failures: int
    failures: list[AuditEvent]
    ips: list[AddressUse]
    high_risk_count: int
    high_risk: list[AuditEvent]

    @property
    def events_shown(self) -> int:
        """How many individual events the report shows (for recording the read)."""
        return len(self.failures) + len(self.high_risk)


def _personal_data(events: QuerySet[AuditEvent]) -> list[PersonalDataAccess]:
    groups = (
        events.filter(action__in=PERSONAL_DATA_ACTIONS)
        .order_by()
        .values_list("target_type", "action", "purpose")
        .annotate(n=Count("id"), rows=_rows_sum())
        .order_by("target_type", "purpose", "action")
    )
    by_type: dict[str, PersonalDataAccess] = {}
    purposes: dict[tuple[str, str], PurposeUse] = {}
    for target_type, action, purpose, n, rows in groups:
        entry = by_type.setdefault(target_type, PersonalDataAccess(target_type=target_type))
        if action == AuditAction.EXPORT:
            entry.exports += n
        else:
            entry.reads += n
        entry.rows += rows
        use = purposes.get((target_type, purpose))
        if use is None:
            use = purposes[(target_type, purpose)] = PurposeUse(purpose=purpose, events=0, rows=0)
            entry.purposes.append(use)
        use.events += n
        use.rows += rows
    return list(by_type.values())


def access_report(*, user_public_id: UUID | str, since: datetime, until: datetime) -> AccessReport:
    """Everything the user (as actor) did from ``since`` (inclusive) to ``until`` (exclusive).

    Failed logins are recorded by an anonymous actor naming the username; they are counted as ``login_failures``.
    Raises ``NotFound`` for an unknown user.
    """
    user = User.objects.filter(public_id=user_public_id).first()
    if user is None:
        raise NotFound(f"No user with id {user_public_id}.")
    window = _window(since, until)
    events = window.filter(actor_id=str(user.public_id))
    by_action = _counts(events, "action")
    by_outcome = _counts(events, "outcome")
    unsuccessful = events.filter(outcome__in=[Outcome.FAILED, Outcome.DENIED])
    high_risk = events.filter(risk_score__gte=HIGH_RISK)
    addresses = (
        events.exclude(ip="")
        .order_by()
        .values_list("ip")
        .annotate(n=Count("id"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("-last", "ip")
    )
    return AccessReport(
        user=user,
        since=since,
        until=until,
        total=sum(by_action.values()),
        by_action=by_action,
        personal_data=_personal_data(events),
        failed=by_outcome.get(Outcome.FAILED, 0),
        denied=by_outcome.get(Outcome.DENIED, 0),
        login_failures=window.filter(
            action=AuditAction.LOGIN_FAILED, actor_id="", actor_label=user.get_username()
        ).count(),
        failures=_latest(unsuccessful),
        ips=[AddressUse(ip=ip, events=n, first_seen=first, last_seen=last) for ip, n, first, last in addresses],
        high_risk_count=high_risk.count(),
        high_risk=_latest(high_risk),
    )


@dataclass
class ComplianceSummary:
    """The state of the audit log in a window, for a compliance review."""

    since: datetime
    until: datetime
    total: int
    by_action: dict[str, int]
    by_outcome: dict[str, int]
    failed: int
    denied: int
    login_failures: int
    high_risk_count: int
    high_risk: list[AuditEvent]
    alerts_count: int
    alerts_by_rule: dict[str, int]
    alerts: list[SecurityAlert]
    chain: dict[str, Any]
    pending: int

    @property
    def events_shown(self) -> int:
        """How many individual events the summary shows (for recording the read)."""
        return len(self.high_risk)


def compliance_summary(*, since: datetime, until: datetime) -> ComplianceSummary:
    """Counts, risky events and security alerts from ``since`` to ``until``, plus the verified state of the chain.

    The chain check runs without the external anchors (reading them can be slow); ``POST /verify/`` checks them.
    """
    events = _window(since, until)
    by_action = _counts(events, "action")
    by_outcome = _counts(events, "outcome")
    high_risk = events.filter(risk_score__gte=HIGH_RISK)
    alerts = SecurityAlert.objects.filter(created_at__gte=since, created_at__lt=until)
    alerts_by_rule = {
        str(rule): int(n) for rule, n in alerts.order_by().values_list("rule").annotate(n=Count("id")).order_by("rule")
    }
    report = verify_chain()
    return ComplianceSummary(
        since=since,
        until=until,
        total=sum(by_action.values()),
        by_action=by_action,
        by_outcome=by_outcome,
        failed=by_outcome.get(Outcome.FAILED, 0),
        denied=by_outcome.get(Outcome.DENIED, 0),
        login_failures=by_action.get(AuditAction.LOGIN_FAILED, 0),
        high_risk_count=high_risk.count(),
        high_risk=_latest(high_risk),
        alerts_count=sum(alerts_by_rule.values()),
        alerts_by_rule=alerts_by_rule,
        alerts=list(alerts.order_by("-created_at")[:LATEST]),
        chain=report.as_dict(),
        pending=report.pending,
    )
