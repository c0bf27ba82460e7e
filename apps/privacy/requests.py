"""Data-subject requests: intake with the legal deadlines, the status lifecycle, extensions, rejection, duplicates,
and the beat sweep that raises deadline reminders and breaches.

Deadlines are computed once at intake by ``apps.privacy.deadlines`` from the receipt time, in the controller's time
zone (``privacy.time_zone``) over its business-day calendar (``privacy.holidays``), and moved only by an extension.
Statuses: received → identity pending → verified → in progress → completed; any open request may be rejected (with
the legal reason) or cancelled. A request of the same subject and type while another is open is flagged as its
duplicate. Every step is on the request's timeline, and every change is in the audit log.

Reminders: ``privacy.sweep_deadlines`` raises ``DsrDeadlineApproaching`` 7, 3 and 1 days before the due date and
``DsrDeadlineBreached`` once it has passed, each once per request, all under the request's dedup key (one incident
per request); closing the request resolves it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from django.db import transaction
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.configuration.services import config_get
from apps.privacy.choices import OPEN_STATUSES, Channel, RequestStatus, RequestType
from apps.privacy.deadlines import BusinessCalendar, Deadlines, days_left, deadlines_for, is_breached
from apps.privacy.models import DataSubjectRequest, RequestEvent
from apps.privacy.services import subject_for_identity

logger = structlog.get_logger(__name__)

REMINDER_DAYS = (7, 3, 1)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    RequestStatus.RECEIVED: (RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED),
    RequestStatus.IDENTITY_PENDING: (RequestStatus.VERIFIED,),
    RequestStatus.VERIFIED: (RequestStatus.IN_PROGRESS,),
    RequestStatus.IN_PROGRESS: (RequestStatus.COMPLETED,),
}
ALERT_SOURCE = "privacy"


class RequestInvalid(DomainError):
    code = "request_invalid"


def request_calendar() -> BusinessCalendar:
    """The business-day calendar of deadlines, from the configuration."""
    return BusinessCalendar.from_iso_dates([str(d) for d in config_get("privacy.holidays") or []])


def _deadlines(request_type: str, received_at: datetime, *, extended: bool = False) -> Deadlines:
    regime, _, right = request_type.partition(".")
    return deadlines_for(
        regime=regime,
        request_type=right,
        received_at=received_at,
        calendar=request_calendar(),
        tz=str(config_get("privacy.time_zone")),
        extended=extended,
    )


def _event(request: DataSubjectRequest, kind: str, message: str, actor: User | None = None, **data: object) -> None:
    RequestEvent.objects.create(request=request, kind=kind, message=message, actor=actor, data=data)


def request_create(
    *,
    kind: str,
    value: str,
    request_type: str,
    channel: str,
    jurisdiction: str = "",
    received_at: datetime | None = None,
    details: str = "",
    created_by: User | None = None,
) -> DataSubjectRequest:
    """Take a request in: its subject (found or created by the identity), its deadlines, and a duplicate flag."""
    if request_type not in RequestType.values:
        raise RequestInvalid(
            f"Unknown request type {request_type!r}.", fields={"request_type": [", ".join(RequestType.values)]}
        )
    if channel not in Channel.values:
        raise RequestInvalid(f"Unknown channel {channel!r}.", fields={"channel": [", ".join(Channel.values)]})
    received = received_at or timezone.now()
    if received > timezone.now() + timedelta(minutes=5):
        raise RequestInvalid("A request cannot be received in the future.", fields={"received_at": ["future"]})
    due = _deadlines(request_type, received)
    with transaction.atomic():
        subject = subject_for_identity(kind=kind, value=value)
        duplicate = (
            DataSubjectRequest.objects.select_for_update()
            .filter(subject=subject, request_type=request_type, status__in=OPEN_STATUSES)
            .order_by("received_at")
            .first()
        )
        request = DataSubjectRequest.objects.create(
            reference=f"new-{uuid.uuid4().hex[:16]}",  # unique until the row has its id, just below
            subject=subject,
            request_type=request_type,
            regime=request_type.partition(".")[0],
            jurisdiction=jurisdiction[:10],
            channel=channel,
            received_at=received,
            details=details[:10000],
            acknowledge_by=due.acknowledge_by,
            respond_by=due.respond_by,
            respond_by_at=due.respond_by_at,
            extension_notice_by=due.extension_notice_by,
            duplicate_of=duplicate,
            created_by=created_by,
        )
        request.reference = f"DSR-{received.year}-{request.pk:06d}"
        request.save(update_fields=["reference"])
        _event(
            request,
            "received",
            f"Received by {channel}; respond by {due.respond_by.isoformat()} ({due.legal_basis}).",
            created_by,
            respond_by=due.respond_by.isoformat(),
            acknowledge_by=due.acknowledge_by.isoformat() if due.acknowledge_by else None,
        )
        if duplicate is not None:
            _event(request, "duplicate", f"Repeats open request {duplicate.reference}.", created_by)
    logger.info("privacy.request_received", request=request.reference, type=request_type)
    return request


def _locked(request: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update().get(pk=request.pk)


def request_transition(
    *, request: DataSubjectRequest, status: str, actor: User | None, note: str = ""
) -> DataSubjectRequest:
    """Move a request one step along its lifecycle (received → … → completed)."""
    with transaction.atomic():
        locked = _locked(request)
        if status not in TRANSITIONS.get(locked.status, ()):
            raise Conflict(
                f"A request {locked.get_status_display().lower()} cannot become {status}.", code="bad_transition"
            )
        locked.status = status
        if status == RequestStatus.COMPLETED:
            locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at", "updated_at"])
        _event(locked, "status", note or f"Now {locked.get_status_display().lower()}.", actor, status=status)
        if status == RequestStatus.COMPLETED:
            _reminders_resolve(locked)
    return locked


def request_acknowledge(*, request: DataSubjectRequest, actor: User | None) -> DataSubjectRequest:
    """Record that the subject was told the request was received (CCPA: within 10 business days)."""
    with transaction.atomic():
        locked = _locked(request)
        if locked.acknowledged_at is None:
            locked.acknowledged_at = timezone.now()
            locked.save(update_fields=["acknowledged_at", "updated_at"])
            _event(locked, "acknowledged", "Receipt acknowledged to the subject.", actor)
    return locked


def request_next_statuses(request: DataSubjectRequest) -> tuple[str, ...]:
    """The statuses the request may move to next along its lifecycle (rejecting and cancelling aside)."""
    return TRANSITIONS.get(request.status, ())


def request_extendable(request: DataSubjectRequest, *, now: datetime | None = None) -> bool:
    """Whether the deadline may still be extended: open, never extended, a kind the law lets extend, and the
    extension notice can still reach the subject in time (by the end of the unextended period, controller time)."""
    if request.status not in OPEN_STATUSES or request.extended or request.extension_notice_by is None:
        return False
    return timezone.localtime(now or timezone.now(), _zone()).date() <= request.extension_notice_by


def request_extend(*, request: DataSubjectRequest, reason: str, actor: User | None) -> DataSubjectRequest:
    """Extend the deadline once, with the reason sent to the subject, while the unextended period still runs."""
    if not reason.strip():
        raise RequestInvalid("An extension needs the reason told to the subject.", fields={"reason": ["required"]})
    with transaction.atomic():
        locked = _locked(request)
        if locked.status not in OPEN_STATUSES:
            raise Conflict("Only an open request can be extended.", code="request_closed")
        if locked.extended:
            raise Conflict("The deadline was extended already; the law allows it once.", code="already_extended")
        if locked.extension_notice_by is None:
            raise Conflict("This kind of request cannot be extended.", code="not_extendable")
        today = timezone.localtime(timezone.now(), _zone()).date()
        if today > locked.extension_notice_by:
            raise Conflict(
                f"The extension had to be notified by {locked.extension_notice_by.isoformat()}.", code="too_late"
            )
        due = _deadlines(locked.request_type, locked.received_at, extended=True)
        locked.extended, locked.extension_reason, locked.extended_at = True, reason.strip()[:5000], timezone.now()
        locked.respond_by, locked.respond_by_at = due.respond_by, due.respond_by_at
        locked.reminders_sent = []
        locked.save()
        _event(
            locked,
            "extended",
            f"Deadline extended to {due.respond_by.isoformat()}; the subject was told why.",
            actor,
            respond_by=due.respond_by.isoformat(),
        )
    return locked


def request_reject(*, request: DataSubjectRequest, reason: str, actor: User | None) -> DataSubjectRequest:
    """Refuse a request, with the legal reason (e.g. manifestly unfounded, Art. 12(5); identity not verifiable)."""
    if not reason.strip():
        raise RequestInvalid("A rejection needs its legal reason.", fields={"reason": ["required"]})
    return _close(request, RequestStatus.REJECTED, actor, reason=reason.strip())


def request_cancel(*, request: DataSubjectRequest, actor: User | None, note: str = "") -> DataSubjectRequest:
    """Close a request the subject withdrew (or that was entered by mistake)."""
    return _close(request, RequestStatus.CANCELLED, actor, reason=note.strip())


def _close(request: DataSubjectRequest, status: str, actor: User | None, *, reason: str) -> DataSubjectRequest:
    with transaction.atomic():
        locked = _locked(request)
        if locked.status not in OPEN_STATUSES:
            raise Conflict("The request is closed already.", code="request_closed")
        locked.status, locked.closed_at = status, timezone.now()
        if status == RequestStatus.REJECTED:
            locked.rejection_reason = reason[:5000]
        locked.save()
        _event(locked, status, reason or f"Request {status}.", actor)
        _reminders_resolve(locked)
    return locked


def _zone() -> ZoneInfo:
    return ZoneInfo(str(config_get("privacy.time_zone")))


def _alert_key(request: DataSubjectRequest) -> str:
    return f"privacy:dsr:{request.public_id}"


def _reminders_resolve(request: DataSubjectRequest) -> None:
    from apps.incidents.services import alert_raise

    if request.reminders_sent:
        alert_raise(
            source=ALERT_SOURCE,
            name="DsrDeadlineApproaching",
            summary=f"{request.reference} closed ({request.status})",
            dedup_key=_alert_key(request),
            status="resolved",
        )


def deadlines_sweep(*, now: datetime | None = None) -> int:
    """Raise each due reminder (7, 3, 1 days before) and the breach of every open request once; returns how many."""
    from apps.incidents.services import alert_raise

    moment = now or timezone.now()
    tz = str(config_get("privacy.time_zone"))
    raised = 0
    for request in DataSubjectRequest.objects.filter(status__in=OPEN_STATUSES).order_by("respond_by_at"):
        left = days_left(request.respond_by_at, moment, tz)
        if is_breached(request.respond_by_at, moment):
            key, name, severity = "breach", "DsrDeadlineBreached", "critical"
            summary = f"{request.reference} is past its deadline ({request.respond_by.isoformat()})"
        else:
            due = [d for d in REMINDER_DAYS if left <= d]
            if not due:
                continue
            days = min(due)
            key, name, severity = f"{days}d", "DsrDeadlineApproaching", "warning" if days > 1 else "error"
            summary = f"{request.reference} is due in {left} day(s), on {request.respond_by.isoformat()}"
        with transaction.atomic():
            locked = _locked(request)
            if key in locked.reminders_sent or locked.status not in OPEN_STATUSES:
                continue
            locked.reminders_sent = [*locked.reminders_sent, key]
            locked.save(update_fields=["reminders_sent", "updated_at"])
            alert_raise(
                source=ALERT_SOURCE,
                name=name,
                summary=summary,
                severity=severity,
                dedup_key=_alert_key(locked),
                labels={"request": locked.reference, "type": locked.request_type, "service": "privacy"},
                details={"respond_by": locked.respond_by.isoformat(), "days_left": left},
            )
            _event(locked, "reminder", summary, None, reminder=key)
            raised += 1
    return raised
