"""Reads behind the compliance staff's privacy pages (``/privacy/``): the request queue with its filters and deadline
countdowns, the request page (facts, timeline, the actions its status allows) and the subject page.

Each read is a fixed number of queries however many requests, events or consent decisions there are. It writes
nothing; the pages' audited reads are recorded by the views. Other apps use ``apps.privacy.services``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from apps.configuration.services import config_get
from apps.privacy.choices import OPEN_STATUSES, IdentityKind, RequestStatus, RunKind, RunStatus
from apps.privacy.deadlines import days_left, is_breached
from apps.privacy.execution import RunProgress, run_kind, run_progress, updatable_fields
from apps.privacy.models import (
    ConsentEvent,
    DataSubject,
    DataSubjectRequest,
    RequestEvent,
    RequestPlan,
    RequestRun,
    SubjectIdentity,
)
from apps.privacy.requests import request_extendable, request_next_statuses
from apps.privacy.services import consent_history

SOON_DAYS = 7
URGENT_DAYS = 1
STATUS_OPEN = "open"
STATUS_ALL = "all"
DUE_SOON = "soon"
DUE_OVERDUE = "overdue"
# What a queue row shows; never the subject's words (encrypted, and reading them is an audited read).
QUEUE_FIELDS = (
    *("public_id", "reference", "request_type", "regime", "jurisdiction", "channel", "received_at", "status"),
    *("respond_by", "respond_by_at", "extended", "duplicate_of__public_id", "duplicate_of__reference"),
)


def privacy_time_zone() -> str:
    """The controller's IANA time zone, in which deadlines are counted (``privacy.time_zone``)."""
    return str(config_get("privacy.time_zone"))


def local_today(now: datetime, tz: str) -> date:
    """Today's date on the controller's wall calendar."""
    return now.astimezone(ZoneInfo(tz)).date()


# --- countdown --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Countdown:
    """How long a request has left: local days to its deadline, a CSS class and words for people."""

    days: int | None
    css: str
    label: str


def countdown(request: DataSubjectRequest, *, now: datetime, tz: str) -> Countdown:
    """The request's countdown: ``ok``, ``soon`` (≤ 7 days), ``urgent`` (≤ 1 day), ``overdue``, or ``closed``."""
    if request.status not in OPEN_STATUSES:
        return Countdown(None, "closed", request.get_status_display())
    left = days_left(request.respond_by_at, now, tz)
    if is_breached(request.respond_by_at, now):
        late = max(1, -left)
        return Countdown(left, "overdue", f"Overdue by {late} day{'s' if late != 1 else ''}")
    if left <= 0:
        label = "Due today"
    elif left == 1:
        label = "1 day left"
    else:
        label = f"{left} days left"
    if left <= URGENT_DAYS:
        css = "urgent"
    elif left <= SOON_DAYS:
        css = "soon"
    else:
        css = "ok"
    return Countdown(left, css, label)


# --- queue ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as the GET parameters gave them (empty: not filtered; status empty: open requests)."""

    status: str = ""
    request_type: str = ""
    regime: str = ""
    jurisdiction: str = ""
    due: str = ""

    @property
    def active(self) -> bool:
        return any((self.status, self.request_type, self.regime, self.jurisdiction, self.due))


@dataclass(frozen=True)
class QueueRow:
    """One request of the queue with its countdown."""

    request: DataSubjectRequest
    countdown: Countdown


def request_queue(*, filters: QueueFilters, now: datetime, tz: str) -> QuerySet[DataSubjectRequest]:
    """The requests the filters select, soonest deadline first (the subject's words are not loaded)."""
    qs = DataSubjectRequest.objects.select_related("duplicate_of").only(*QUEUE_FIELDS).order_by("respond_by_at", "pk")
    if filters.status == STATUS_ALL:
        pass
    elif filters.status:
        qs = qs.filter(status=filters.status)
    else:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if filters.request_type:
        qs = qs.filter(request_type=filters.request_type)
    if filters.regime:
        qs = qs.filter(regime=filters.regime)
    if filters.jurisdiction:
        qs = qs.filter(jurisdiction__iexact=filters.jurisdiction)
    if filters.due == DUE_OVERDUE:
        qs = qs.filter(status__in=OPEN_STATUSES, respond_by_at__lt=now)
    elif filters.due == DUE_SOON:
        # Not yet late, and the deadline day is at most 7 local days away.
        last_day = local_today(now, tz) + timedelta(days=SOON_DAYS)
        qs = qs.filter(status__in=OPEN_STATUSES, respond_by_at__gte=now, respond_by__lte=last_day)
    return qs


def queue_rows(requests: list[DataSubjectRequest], *, now: datetime, tz: str) -> list[QueueRow]:
    """The rows of one page of the queue."""
    return [QueueRow(request=r, countdown=countdown(r, now=now, tz=tz)) for r in requests]


def jurisdictions() -> list[str]:
    """Every jurisdiction a request names, for the queue's filter."""
    values = (
        DataSubjectRequest.objects.exclude(jurisdiction="")
        .order_by("jurisdiction")
        .values_list("jurisdiction", flat=True)
    )
    return list(dict.fromkeys(v.upper() for v in values.distinct()))


# --- request page -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestPage:
    """Everything the request page shows except what depends on the viewer."""

    request: DataSubjectRequest
    timeline: list[RequestEvent]
    duplicates: list[DataSubjectRequest]
    identity_kinds: list[str]
    countdown: Countdown
    extendable: bool
    plan: RequestPlan | None = None
    actions: list[str] = field(default_factory=list)
    runs: list[RequestRun] = field(default_factory=list)
    run_kind: str | None = None
    updatable: dict[str, list[str]] = field(default_factory=dict)

    progress: RunProgress | None = None

    @property
    def active_run(self) -> RequestRun | None:
        return next((r for r in self.runs if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)), None)

    @property
    def has_email(self) -> bool:
        return IdentityKind.EMAIL.label in self.identity_kinds


def request_by_public_id(*, public_id: uuid.UUID) -> DataSubjectRequest | None:
    """The request with this public id, with its subject."""
    return DataSubjectRequest.objects.select_related("subject").filter(public_id=public_id).first()


def request_actions(request: DataSubjectRequest, *, extendable: bool, has_email: bool) -> list[str]:
    """The actions the request's status allows, in the order the page offers them."""
    status = request.status
    actions: list[str] = []
    if status in (RequestStatus.RECEIVED, RequestStatus.IDENTITY_PENDING):
        if has_email:
            actions.append("send-link")
        actions.append("verify")
    following = request_next_statuses(request)
    if RequestStatus.IN_PROGRESS in following:
        actions.append("start")
    if RequestStatus.COMPLETED in following:
        actions.append("complete")
    if status in OPEN_STATUSES:
        if request.acknowledged_at is None:
            actions.append("acknowledge")
        if extendable:
            actions.append("extend")
        actions.extend(["reject", "cancel"])
    return actions


def request_page(*, public_id: uuid.UUID, now: datetime, tz: str) -> RequestPage | None:
    """The request page's content, or None when no request has this public id."""
    request = (
        DataSubjectRequest.objects.select_related("subject", "duplicate_of", "created_by")
        .filter(public_id=public_id)
        .first()
    )
    if request is None:
        return None
    timeline = list(RequestEvent.objects.filter(request=request).select_related("actor").order_by("at", "pk"))
    duplicates = list(
        DataSubjectRequest.objects.filter(duplicate_of=request)
        .only("public_id", "reference", "status", "received_at")
        .order_by("received_at", "pk")
    )
    kinds = dict(IdentityKind.choices)
    identity_kinds = [
        str(kinds.get(k, k))
        for k in SubjectIdentity.objects.filter(subject_id=request.subject_id)
        .order_by("kind")
        .values_list("kind", flat=True)
        .distinct()
    ]
    extendable = request_extendable(request, now=now)
    plan = RequestPlan.objects.filter(request=request).select_related("approved_by").first()
    runs = list(
        RequestRun.objects.filter(request=request)
        .select_related("spark_run", "certificate", "package", "requested_by")
        .order_by("-created_at", "-pk")
    )
    kind = run_kind(request)
    page = RequestPage(
        request=request,
        timeline=timeline,
        duplicates=duplicates,
        identity_kinds=identity_kinds,
        countdown=countdown(request, now=now, tz=tz),
        extendable=extendable,
        plan=plan,
        runs=runs,
        run_kind=kind,
        updatable=updatable_fields(plan) if plan is not None and kind == RunKind.UPDATE else {},
        progress=next((run_progress(r) for r in runs if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)), None),
    )
    page.actions.extend(request_actions(request, extendable=extendable, has_email=page.has_email))
    if request.status in (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS):
        page.actions.insert(0, "plan")
        if plan is not None and plan.approved_at is None:
            page.actions.insert(1, "approve-plan")
        runnable = [i for i in (plan.items if plan else []) if i["action"] != "review"]
        done = plan is not None and any(
            r.status == RunStatus.SUCCEEDED and plan.approved_at and r.created_at >= plan.approved_at for r in runs
        )  # the approved plan ran: rebuilding and approving it again allows another run
        if kind and plan is not None and plan.approved_at and runnable and page.active_run is None and not done:
            page.actions.insert(0, "run")
    if page.has_email and any(r.status == RunStatus.SUCCEEDED and hasattr(r, "package") for r in runs):
        page.actions.append("send-package-link")
    return page


# --- subject page -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubjectPage:
    """A data subject: identities (decrypted), restriction, consent history and past requests."""

    subject: DataSubject
    identities: list[SubjectIdentity]
    consents: list[ConsentEvent]
    requests: list[DataSubjectRequest]


def subject_page(*, public_id: uuid.UUID) -> SubjectPage | None:
    """The subject page's content, or None when no subject has this public id."""
    subject = DataSubject.objects.filter(public_id=public_id).first()
    if subject is None:
        return None
    return SubjectPage(
        subject=subject,
        identities=list(SubjectIdentity.objects.filter(subject=subject).order_by("kind", "created_at", "pk")),
        consents=list(consent_history(subject=subject)),
        requests=list(
            DataSubjectRequest.objects.filter(subject=subject).defer("details").order_by("-received_at", "-pk")
        ),
    )
