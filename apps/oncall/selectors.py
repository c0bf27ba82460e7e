"""Reads of the on-call app for pages and the API: querysets with what they show already joined, who is on call now
and next per schedule, a user's shifts and open incidents, an incident as a responder sees it, and a schedule's week
laid out for the week view.

The public read surface of the app (with ``apps.oncall.schedules`` for the shift arithmetic).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.common.models import User
from apps.configuration.services import config_get
from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Alert, Incident, TimelineEntry
from apps.oncall.choices import DeliveryPurpose, EscalationStatus, StepKind
from apps.oncall.models import (
    ContactMethod,
    Delivery,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    NotificationRule,
    Override,
    Schedule,
    Team,
)
from apps.oncall.schedules import (
    Shift,
    final_shifts,
    layer_shifts,
    schedule_gaps,
    schedules_outlook,
    user_shifts,
)

MAX_SHIFT_RANGE = timedelta(days=62)


# --- querysets --------------------------------------------------------------------------------------------------
def team_list() -> QuerySet[Team]:
    """Teams with their members."""
    return Team.objects.prefetch_related("members").order_by("name")


def schedule_list() -> QuerySet[Schedule]:
    """Schedules with their team, layers (highest first) and the layers' turns in order."""
    turns = Prefetch("turns", queryset=LayerMember.objects.select_related("user").order_by("position"))
    layers = Prefetch("layers", queryset=Layer.objects.prefetch_related(turns).order_by("-position", "id"))
    return Schedule.objects.select_related("team").prefetch_related(layers).order_by("name")


def override_list() -> QuerySet[Override]:
    """Overrides, soonest first."""
    return Override.objects.select_related("schedule", "user", "created_by").order_by("start", "id")


def policy_list() -> QuerySet[EscalationPolicy]:
    """Escalation policies with their steps in order and each step's targets."""
    steps = Prefetch(
        "steps",
        queryset=EscalationStep.objects.select_related("schedule", "team")
        .prefetch_related("users")
        .order_by("position"),
    )
    return EscalationPolicy.objects.prefetch_related(steps).order_by("name")


def contact_method_list(*, user: User) -> QuerySet[ContactMethod]:
    """The contact methods ``user`` may manage: their own; an administrator's are everyone's."""
    methods = ContactMethod.objects.select_related("user").order_by("user__username", "kind", "id")
    return methods if user.is_superuser else methods.filter(user=user)


def notification_rule_list(*, user: User) -> QuerySet[NotificationRule]:
    """The notification rules ``user`` may manage: their own; an administrator's are everyone's."""
    rules = NotificationRule.objects.select_related("user", "contact_method").order_by(
        "user__username", "delay_minutes", "id"
    )
    return rules if user.is_superuser else rules.filter(user=user)


def schedule_by_ref(ref: str) -> Schedule | None:
    """A schedule by its public id or, failing that, its exact name."""
    try:
        found = Schedule.objects.filter(public_id=uuid.UUID(ref)).first()
    except ValueError:
        found = None
    return found or Schedule.objects.filter(name=ref).first()


# --- shifts with their people -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftRow:
    """A shift with its user, layer name and override reason resolved (for display)."""

    shift: Shift
    user: User | None
    layer: str
    override: Override | None

    @property
    def start(self) -> datetime:
        return self.shift.start

    @property
    def end(self) -> datetime:
        return self.shift.end


def shift_rows(shifts: Sequence[Shift]) -> list[ShiftRow]:
    """Resolve the users, layers and overrides of shifts in three queries at most, whatever their number."""
    users = User.objects.in_bulk({s.user_id for s in shifts})
    layers = dict(Layer.objects.filter(pk__in={s.layer_id for s in shifts if s.layer_id}).values_list("pk", "name"))
    overrides = Override.objects.in_bulk({s.override_id for s in shifts if s.override_id})
    return [
        ShiftRow(
            shift=s,
            user=users.get(s.user_id),
            layer=layers.get(s.layer_id, "") if s.layer_id else "",
            override=overrides.get(s.override_id) if s.override_id else None,
        )
        for s in shifts
    ]


@dataclass
class NowRow:
    """Who is on call on one schedule now, who comes next, and whether nobody is (now or ahead)."""

    schedule: Schedule
    on_call: list[User]
    next: list[ShiftRow]
    gap_now: bool
    next_gap: tuple[datetime, datetime] | None


def oncall_now(*, schedule: Schedule, at: datetime | None = None, horizon: timedelta | None = None) -> NowRow:
    """Now and next on ``schedule``; ``next_gap`` is the first time nobody is on call within the gap horizon
    (``oncall.gap_horizon_days``)."""
    return oncall_now_all(at=at, schedules=[schedule], horizon=horizon)[0]


def oncall_now_all(
    *, at: datetime | None = None, schedules: Iterable[Schedule] | None = None, horizon: timedelta | None = None
) -> list[NowRow]:
    """``oncall_now`` for every schedule (by name) or those given, in a fixed number of queries whatever their
    number."""
    moment = at or timezone.now()
    ahead = horizon or timedelta(days=int(config_get("oncall.gap_horizon_days")))
    chosen = (
        list(schedules) if schedules is not None else list(Schedule.objects.select_related("team").order_by("name"))
    )
    outlooks = schedules_outlook(chosen, moment, ahead)
    users = User.objects.in_bulk({pk for o in outlooks.values() for pk in o.on_call})
    rows = iter(shift_rows([shift for s in chosen for shift in outlooks[s.pk].next]))
    out = []
    for schedule in chosen:
        outlook = outlooks[schedule.pk]
        on_call = [users[pk] for pk in outlook.on_call if pk in users]
        out.append(
            NowRow(
                schedule=schedule,
                on_call=on_call,
                next=[next(rows) for _ in outlook.next],
                gap_now=not on_call,
                next_gap=outlook.gaps[0] if outlook.gaps else None,
            )
        )
    return out


def schedule_shift_rows(*, schedule: Schedule, start: datetime, end: datetime) -> list[ShiftRow]:
    """The final shifts of ``schedule`` in [start, end) with their people."""
    return shift_rows(final_shifts(schedule, start, end))


@dataclass(frozen=True)
class MyShift:
    schedule: Schedule
    row: ShiftRow


def my_shifts(*, user: User, start: datetime, end: datetime) -> list[MyShift]:
    """``user``'s final shifts on every schedule in [start, end), soonest first."""
    found = user_shifts(user, start, end)
    rows = shift_rows([shift for _, shift in found])
    return sorted(
        (MyShift(schedule=schedule, row=row) for (schedule, _), row in zip(found, rows, strict=True)),
        key=lambda item: (item.row.start, item.schedule.name),
    )


def my_open_incidents(*, user: User) -> QuerySet[Incident]:
    """Open incidents assigned to ``user`` or that paged them, newest first."""
    paged = Delivery.objects.filter(incident=OuterRef("pk"), user=user, purpose=DeliveryPurpose.PAGE)
    return (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .filter(Q(assignee=user) | Q(Exists(paged)))
        .select_related("runbook", "assignee", "acknowledged_by")
        .order_by("-triggered_at")
    )


# --- an incident as its responders see it -----------------------------------------------------------------------
INCIDENT_ALERTS = 50
INCIDENT_TIMELINE = 200
INCIDENT_DELIVERIES = 200
RUNNING_ESCALATION = (EscalationStatus.ACTIVE, EscalationStatus.WAITING_BUSINESS_HOURS)


@dataclass(frozen=True)
class StepRow:
    """One step of an escalation's snapshot, described, and where the escalation is relative to it."""

    number: int
    text: str
    state: str  # "done", "next" or "" (to come, or the escalation is over)


@dataclass(frozen=True)
class AlertRow:
    """An alert of the incident with its summary annotation and its source link (only if it is http(s))."""

    alert: Alert
    summary: str
    source_url: str


def _alert_row(alert: Alert) -> AlertRow:
    url = alert.generator_url or ""
    safe = url if url.lower().startswith(("https://", "http://")) else ""
    summary = alert.annotations.get("summary", "") if isinstance(alert.annotations, dict) else ""
    return AlertRow(alert=alert, summary=str(summary)[:300], source_url=safe)


@dataclass
class IncidentPage:
    """An incident with the newest of its alerts, timeline entries and pages, and its latest escalation's steps; each
    list holds at most its cap, and ``more_*`` says whether older rows were left out."""

    incident: Incident
    alerts: list[AlertRow]
    timeline: list[TimelineEntry]
    deliveries: list[Delivery]
    escalation: Escalation | None
    policy_name: str
    steps: list[StepRow]
    more_timeline: bool
    more_deliveries: bool


def _capped(rows: Iterable[Any], cap: int) -> tuple[list[Any], bool]:
    found = list(rows)
    return found[:cap], len(found) > cap


def _step_text(step: dict[str, Any], names: dict[int, str]) -> str:
    people = ", ".join(names.get(pk, f"user {pk}") for pk in step.get("users", [])) or "nobody"
    kind = step.get("kind")
    if kind == StepKind.NOTIFY_USERS:
        return f"Notify {people}"
    if kind == StepKind.NOTIFY_TEAM:
        return f"Notify team {step.get('team', '?')} ({people})"
    if kind == StepKind.NOTIFY_SCHEDULE:
        return f"Notify whoever is on call in {step.get('schedule_name', '?')}"
    if kind == StepKind.WAIT:
        return f"Wait {int(step.get('wait_minutes', 0))} min"
    return str(kind)


def _step_rows(escalation: Escalation | None) -> list[StepRow]:
    steps: list[dict[str, Any]] = list((escalation.snapshot or {}).get("steps", [])) if escalation else []
    if escalation is None or not steps:
        return []
    ids = {pk for step in steps for pk in step.get("users", [])}
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=ids)} if ids else {}
    running = escalation.status in RUNNING_ESCALATION
    rows = []
    for index, step in enumerate(steps):
        state = ""
        if running and index < escalation.step_index:
            state = "done"
        elif running and index == escalation.step_index:
            state = "next"
        rows.append(StepRow(number=index + 1, text=_step_text(step, names), state=state))
    return rows


def incident_page(*, public_id: uuid.UUID) -> IncidentPage | None:
    """The incident with ``public_id`` and everything its page shows, in a fixed number of queries whatever the
    number of alerts, timeline entries and pages (newest first, capped); None if there is no such incident."""
    incident = (
        Incident.objects.select_related("runbook", "assignee", "acknowledged_by", "resolved_by", "integration")
        .filter(public_id=public_id)
        .first()
    )
    if incident is None:
        return None
    alerts = [_alert_row(a) for a in incident.alerts.order_by("-last_received_at", "-id")[:INCIDENT_ALERTS]]
    timeline, more_timeline = _capped(
        incident.timeline.order_by("-at", "-id")[: INCIDENT_TIMELINE + 1], INCIDENT_TIMELINE
    )
    deliveries, more_deliveries = _capped(
        Delivery.objects.filter(incident=incident, purpose=DeliveryPurpose.PAGE)
        .select_related("user")
        .order_by("-created_at", "-id")[: INCIDENT_DELIVERIES + 1],
        INCIDENT_DELIVERIES,
    )
    escalation = (
        Escalation.objects.select_related("policy").filter(incident=incident).order_by("-started_at", "-pk").first()
    )
    policy_name = ""
    if escalation is not None:  # the name as snapshotted; an escalation with no policy has an empty snapshot
        named = (escalation.snapshot or {}).get("policy", {}).get("name")
        policy_name = str(named or (escalation.policy.name if escalation.policy else ""))
    return IncidentPage(
        incident=incident,
        alerts=alerts,
        timeline=timeline,
        deliveries=deliveries,
        escalation=escalation,
        policy_name=policy_name,
        steps=_step_rows(escalation),
        more_timeline=more_timeline,
        more_deliveries=more_deliveries,
    )


# --- the week view ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """One span drawn on a week row: where it sits (percent of the week) and what it says."""

    left: float
    width: float
    label: str
    start: datetime
    end: datetime
    css: str = ""


@dataclass
class WeekRow:
    title: str
    kind: str  # "layer", "overrides" or "final"
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Day:
    date: date
    start: datetime
    left: float
    width: float


@dataclass
class WeekView:
    schedule: Schedule
    time_zone: str
    start: datetime
    end: datetime
    days: list[Day]
    rows: list[WeekRow]
    overrides: list[Override]
    final: list[ShiftRow]
    gaps: list[tuple[datetime, datetime]]
    previous: date
    next: date
    monday: date


def week_monday(value: date) -> date:
    """The Monday of the week ``value`` falls in."""
    return value - timedelta(days=value.weekday())


def _bar(start: datetime, end: datetime, week_start: datetime, week_end: datetime, label: str, css: str) -> Bar:
    # Percentages of elapsed time (all in UTC): a 25-hour fall-back Sunday is wider than a 23-hour spring-forward one.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = (week_end - week_start).total_seconds()
    lo, hi = max(start, week_start), min(end, week_end)
    left = (lo - week_start).total_seconds() / total * 100
    width = max((hi - lo).total_seconds() / total * 100, 0.0)
    return Bar(left=round(left, 3), width=round(width, 3), label=label, start=start, end=end, css=css)


def week_view(*, schedule: Schedule, monday: date) -> WeekView:
    """Seven days of ``schedule`` from ``monday`` (local midnight in the schedule's zone): a row per layer with its
    own rotation (restrictions applied), a row of overrides, and the final row (who is paged), plus the gaps."""
    tz = ZoneInfo(schedule.time_zone)
    monday = week_monday(monday)
    # In UTC: Python subtracts two datetimes of one zone by their wall clocks, which would hide the DST hour.
    day_starts = [datetime.combine(monday + timedelta(days=i), time(0), tzinfo=tz).astimezone(UTC) for i in range(8)]
    start, end = day_starts[0], day_starts[7]
    total = (end - start).total_seconds()
    days = [
        Day(
            date=(monday + timedelta(days=i)),
            start=day_starts[i],
            left=round((day_starts[i] - start).total_seconds() / total * 100, 3),
            width=round((day_starts[i + 1] - day_starts[i]).total_seconds() / total * 100, 3),
        )
        for i in range(7)
    ]
    final = shift_rows(final_shifts(schedule, start, end))
    turns = Prefetch("turns", queryset=LayerMember.objects.order_by("position", "pk"))
    layers = list(schedule.layers.prefetch_related(turns).order_by("-position", "id"))
    own = {layer.pk: layer_shifts(layer, start, end) for layer in layers}
    names = {u.pk: str(u) for u in User.objects.filter(pk__in={s.user_id for shifts in own.values() for s in shifts})}
    overrides = list(
        Override.objects.filter(schedule=schedule, start__lt=end, end__gt=start)
        .select_related("user", "created_by")
        .order_by("start", "id")
    )
    rows = [
        WeekRow(
            title=layer.name,
            kind="layer",
            bars=[_bar(s.start, s.end, start, end, names.get(s.user_id, "?"), "layer") for s in own[layer.pk]],
        )
        for layer in layers
    ]
    rows.append(
        WeekRow(
            title="Overrides",
            kind="overrides",
            bars=[
                _bar(o.start, o.end, start, end, f"{o.user} ({o.get_mode_display()})", "override") for o in overrides
            ],
        )
    )
    gaps = schedule_gaps(schedule, start, end)
    rows.append(
        WeekRow(
            title="Final",
            kind="final",
            bars=[
                _bar(r.start, r.end, start, end, str(r.user or "?"), "final override" if r.override else "final")
                for r in final
            ]
            + [_bar(lo, hi, start, end, "Nobody on call", "gap") for lo, hi in gaps],
        )
    )
    return WeekView(
        schedule=schedule,
        time_zone=schedule.time_zone,
        start=start,
        end=end,
        days=days,
        rows=rows,
        overrides=overrides,
        final=final,
        gaps=gaps,
        previous=monday - timedelta(days=7),
        next=monday + timedelta(days=7),
        monday=monday,
    )
