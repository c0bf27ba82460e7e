"""The escalation engine: an incident's escalation policy frozen at trigger, its steps run from database rows with a
due time, exactly once.

- ``escalation_start``: snapshot the policy, create the one running escalation of the incident, claim its first step;
- ``sweep_escalations``: claim every due step (``select_for_update(skip_locked=True)``), bumping the fencing token;
- ``step_run``: run the claimed steps under the row lock if the token is still the claim's and the incident is still
  triggered; notify steps insert unique delivery rows, a wait step sets the next due time;
- ``escalation_stop`` / ``escalation_restart`` / ``escalation_escalate_now`` / ``assignee_page``: what the incident
  signals ask for (``receivers.py``).

A worker killed mid-step rolls its transaction back; the claim's lease runs out, the sweeper claims the step again
with a new token, and the step inserts the same delivery rows (nobody is paged twice). A stop bumps the token too, so
a step task already queued does nothing.

Pages are unique per (incident, step, attempt, user, contact method) across every escalation of the incident, so the
attempt of a page is ``generation * 10 + cycle``: ``generation`` counts the incident's earlier escalations (an
unacknowledged incident starts a new one) and ``cycle`` < 10 (a policy repeats at most nine times).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.models import User
from apps.configuration.services import config_get
from apps.incidents.choices import IncidentStatus, TimelineKind, Urgency
from apps.incidents.models import Incident
from apps.incidents.timeline import timeline_add
from apps.oncall import notify
from apps.oncall.choices import EscalationStatus, StepKind, StopReason
from apps.oncall.metrics import escalation_lag_observe
from apps.oncall.models import Escalation, EscalationPolicy, Schedule
from apps.oncall.schedules import local_instant

logger = structlog.get_logger(__name__)

RUNNING = (EscalationStatus.ACTIVE, EscalationStatus.WAITING_BUSINESS_HOURS)
NOTIFY_KINDS = (StepKind.NOTIFY_USERS, StepKind.NOTIFY_SCHEDULE, StepKind.NOTIFY_TEAM)
CYCLES_PER_GENERATION = 10
REASSIGN_STEP = 900  # step index of the pages sent to a new assignee (outside every policy)
MISSED_AFTER = timedelta(seconds=30)
MISSED_WITHIN = timedelta(hours=1)
SWEEP_LIMIT = 200
STOP_FOR: dict[str, str] = {
    IncidentStatus.ACKNOWLEDGED: StopReason.ACKNOWLEDGED,
    IncidentStatus.RESOLVED: StopReason.RESOLVED,
    IncidentStatus.SILENCED: StopReason.SILENCED,
}


# --- the snapshot -------------------------------------------------------------------------------------------------
def policy_snapshot(policy: EscalationPolicy) -> dict[str, Any]:
    """The policy as it is now, with team members resolved (a schedule is resolved when its step runs)."""
    steps = []
    for step in policy.steps.prefetch_related("users", "team__members").select_related("schedule").order_by("position"):
        entry: dict[str, Any] = {"kind": step.kind, "position": step.position}
        if step.kind == StepKind.NOTIFY_USERS:
            entry["users"] = sorted(u.pk for u in step.users.all())
        elif step.kind == StepKind.NOTIFY_TEAM and step.team is not None:
            entry["team"], entry["users"] = step.team.name, sorted(u.pk for u in step.team.members.all())
        elif step.kind == StepKind.NOTIFY_SCHEDULE and step.schedule is not None:
            entry["schedule"], entry["schedule_name"] = step.schedule.pk, step.schedule.name
        elif step.kind == StepKind.WAIT:
            entry["wait_minutes"] = step.wait_minutes
        steps.append(entry)
    return {
        "policy": {"id": str(policy.public_id), "name": policy.name},
        "steps": steps,
        "repeat_count": min(int(policy.repeat_count), CYCLES_PER_GENERATION - 1),
        "business_hours": {
            "time_zone": policy.business_time_zone,
            "start": _hhmm(policy.business_start),
            "end": _hhmm(policy.business_end),
            "weekdays": sorted(int(d) for d in policy.business_weekdays),
        },
    }


def _hhmm(value: time | str) -> str:
    return value.strftime("%H:%M") if isinstance(value, time) else time.fromisoformat(str(value)).strftime("%H:%M")


# --- business hours -----------------------------------------------------------------------------------------------
def _hours(spec: dict[str, Any]) -> tuple[ZoneInfo, time, time, set[int]]:
    zone = ZoneInfo(spec["time_zone"])
    return zone, time.fromisoformat(spec["start"]), time.fromisoformat(spec["end"]), set(spec["weekdays"])


def _window(day: date, zone: ZoneInfo, start: time, end: time) -> tuple[datetime, datetime]:
    """The UTC instants of ``day``'s window, by the schedules' wall-clock rule (``local_instant``): a time a
    spring-forward skips moves to the moment of the change; one that fall-back repeats is its first occurrence."""
    end_day = day if end > start else day + timedelta(days=1)
    return local_instant(day, start, zone), local_instant(end_day, end, zone)


def business_hours_open(spec: dict[str, Any], at: datetime) -> bool:
    """Whether ``at`` falls in business hours (weekdays in the policy's zone; a window may run past midnight)."""
    zone, start, end, weekdays = _hours(spec)
    local_day = at.astimezone(zone).date()
    for day in (local_day - timedelta(days=1), local_day):
        if day.weekday() in weekdays:
            opens, closes = _window(day, zone, start, end)
            if opens <= at < closes:
                return True
    return False


def business_hours_next(spec: dict[str, Any], at: datetime) -> datetime:
    """``at`` itself in business hours, else the next start of business hours (exact across DST changes)."""
    if business_hours_open(spec, at):
        return at
    zone, start, end, weekdays = _hours(spec)
    local_day = at.astimezone(zone).date()
    for offset in range(8):
        day = local_day + timedelta(days=offset)
        if day.weekday() in weekdays:
            opens, _ = _window(day, zone, start, end)
            if opens > at:
                return opens
    raise ValueError("the policy's business hours name no weekday")


# --- claiming -----------------------------------------------------------------------------------------------------
def _lease() -> timedelta:
    return timedelta(seconds=int(config_get("oncall.step_lease_seconds")))


def _claim(escalation: Escalation, moment: datetime, *, first: bool = False) -> int:
    """Claim a locked escalation's due step: a new fencing token, a lease, and the step run after commit (``first``:
    the first step of a new escalation, see ``publish_step``)."""
    escalation.fencing_token += 1
    escalation.claimed_until = moment + _lease()
    escalation.save(update_fields=["fencing_token", "claimed_until", "updated_at"])
    escalation_id, token = escalation.pk, escalation.fencing_token
    transaction.on_commit(lambda: publish_step(escalation_id, token, first=first))
    return token


def publish_step(escalation_id: int, token: int, *, first: bool = False) -> None:
    """Run a claimed step as a task. The first step of a new escalation triggered inside a Celery task (the task
    that processed the alert) runs at once in that task instead: the first page saves a trip through the broker.
    Never raises: a step that fails here is claimed again by the sweeper when its lease runs out."""
    from celery import current_task

    from apps.oncall.tasks import run_step

    if first and current_task and current_task.request.id:
        try:
            step_run(escalation_id=escalation_id, token=token)
        except Exception:
            logger.exception("oncall_step_failed", escalation_id=escalation_id)
        return
    try:
        run_step.apply_async(args=[escalation_id, token], retry=False)
    except Exception as exc:
        logger.warning("oncall_step_enqueue_failed", escalation_id=escalation_id, error=type(exc).__name__)


def sweep_escalations(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Claim every due step not claimed by a live worker (and start escalations whose trigger signal was lost)."""
    moment = now or timezone.now()
    with transaction.atomic():
        due = list(
            Escalation.objects.select_for_update(skip_locked=True)
            .filter(status__in=RUNNING, due_at__lte=moment)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=moment))
            .order_by("due_at")[:limit]
        )
        for escalation in due:
            _claim(escalation, moment)
    missed = list(
        Incident.objects.filter(
            status=IncidentStatus.TRIGGERED,
            in_maintenance=False,
            triggered_at__gte=moment - MISSED_WITHIN,
            triggered_at__lte=moment - MISSED_AFTER,
            escalations__isnull=True,
        ).values_list("pk", flat=True)[:limit]
    )
    for incident_id in missed:
        escalation_start(incident_id=incident_id, now=moment)
    return len(due) + len(missed)


# --- starting -----------------------------------------------------------------------------------------------------
def _policy_for(incident: Incident) -> tuple[EscalationPolicy | None, str]:
    named = incident.escalation_policy
    if named:
        found = EscalationPolicy.objects.filter(name=named).first()
        if found is not None:
            return found, ""
    default = str(config_get("oncall.default_policy"))
    found = EscalationPolicy.objects.filter(name=default).first() if default else None
    if named:
        return found, f"policy {named!r} does not exist; " + (
            f"using the default {default!r}" if found else "neither does the default"
        )
    return found, ""


def _running(incident_id: int) -> Escalation | None:
    return Escalation.objects.select_for_update().filter(incident_id=incident_id, status__in=RUNNING).first()


def escalation_start(*, incident_id: int, now: datetime | None = None) -> Escalation | None:
    """Start paging for a triggered incident: the running escalation (the one already running, on a duplicate
    trigger), or None when the incident is not triggered or no policy applies (said on its timeline)."""
    moment = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None or incident.status != IncidentStatus.TRIGGERED or incident.in_maintenance:
            return None
        running = _running(incident_id)
        if running is not None:
            return running
        policy, note = _policy_for(incident)
        if policy is None:
            Escalation.objects.create(
                incident=incident,
                snapshot={},
                status=EscalationStatus.STOPPED,
                stop_reason=StopReason.NO_POLICY,
                stopped_at=moment,
            )
            why = (
                note or f"no escalation policy named and the default {config_get('oncall.default_policy')!r} is missing"
            )
            timeline_add(incident=incident, kind=TimelineKind.NOTE, message=f"Nobody is paged: {why}.")
            logger.warning("oncall_no_policy", incident_id=incident_id)
            return None
        if note:
            timeline_add(incident=incident, kind=TimelineKind.NOTE, message=f"Escalation: {note}.")
        snapshot = policy_snapshot(policy)
        snapshot["generation"] = Escalation.objects.filter(incident=incident).exclude(snapshot={}).count()
        return _create(incident, policy, snapshot, moment, step_index=0)


def _create(
    incident: Incident, policy: EscalationPolicy | None, snapshot: dict[str, Any], moment: datetime, *, step_index: int
) -> Escalation | None:
    waiting = incident.urgency == Urgency.LOW and not business_hours_open(snapshot["business_hours"], moment)
    due = business_hours_next(snapshot["business_hours"], moment) if waiting else moment
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(
                incident=incident,
                policy=policy,
                snapshot=snapshot,
                status=EscalationStatus.WAITING_BUSINESS_HOURS if waiting else EscalationStatus.ACTIVE,
                step_index=step_index,
                due_at=due,
            )
    except IntegrityError:  # a running escalation appeared meanwhile (the incident lock makes this rare)
        return Escalation.objects.filter(incident=incident, status__in=RUNNING).first()
    name = snapshot["policy"]["name"]
    if waiting:
        timeline_add(
            incident=incident,
            kind=TimelineKind.NOTE,
            message=f"Low urgency outside business hours: paging by {name} starts at {due.isoformat()}.",
            data={"escalation": escalation.pk, "due_at": due.isoformat()},
        )
    else:
        timeline_add(
            incident=incident,
            kind=TimelineKind.NOTE,
            message=f"Escalation by {name} started ({len(snapshot['steps'])} steps).",
            data={"escalation": escalation.pk, "policy": name},
        )
        _claim(escalation, moment, first=True)
    return escalation


# --- running ------------------------------------------------------------------------------------------------------
def _step_users(step: dict[str, Any], incident: Incident, moment: datetime) -> list[User]:
    if step["kind"] == StepKind.NOTIFY_SCHEDULE:
        from apps.oncall.schedules import who_is_on_call

        schedule = Schedule.objects.filter(pk=step["schedule"]).first()
        if schedule is None:
            timeline_add(
                incident=incident,
                kind=TimelineKind.NOTE,
                message=f"Schedule {step.get('schedule_name', '?')} no longer exists: step skipped.",
            )
            return []
        users = list(who_is_on_call(schedule, moment))
        if not users:
            timeline_add(
                incident=incident,
                kind=TimelineKind.NOTE,
                message=f"Nobody is on call in {schedule.name}: step skipped.",
                data={"schedule": str(schedule.public_id)},
            )
        return users
    ids = step.get("users", [])
    found = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    return [found[i] for i in ids if i in found]


def _page_step(escalation: Escalation, incident: Incident, index: int, moment: datetime) -> None:
    step = escalation.snapshot["steps"][index]
    users = _step_users(step, incident, moment)
    if not users:
        return
    plan = notify.pages_plan(users=users, urgency=incident.urgency)
    attempt = int(escalation.snapshot.get("generation", 0)) * CYCLES_PER_GENERATION + escalation.cycle
    notify.pages_create(
        incident=incident, escalation=escalation, step_index=index, attempt=attempt, plan=plan, now=moment
    )
    _timeline_pages(incident, plan, f"step {index + 1}" + (f", repeat {escalation.cycle}" if escalation.cycle else ""))


def _timeline_pages(incident: Incident, plan: notify.Plan, where: str) -> None:
    paged: dict[str, list[str]] = {}
    for target in plan.targets:
        delay = f" after {target.delay_minutes} min" if target.delay_minutes else ""
        paged.setdefault(target.user.get_username(), []).append(target.contact_method.kind + delay)
    if paged:
        who = "; ".join(f"{name} ({', '.join(ways)})" for name, ways in paged.items())
        timeline_add(
            incident=incident,
            kind=TimelineKind.PAGED,
            message=f"Paged {who} — {where}.",
            data={"users": sorted(paged), "where": where},
        )
    if plan.unreachable:
        names = ", ".join(u.get_username() for u in plan.unreachable)
        timeline_add(
            incident=incident,
            kind=TimelineKind.NOTE,
            message=f"Not paged (no contact method or notification rule for {incident.urgency} urgency): {names}.",
        )


def step_run(*, escalation_id: int, token: int, now: datetime | None = None) -> Escalation | None:
    """Run the claimed steps of an escalation, once: nothing unless ``token`` is the current fencing token and the
    incident is still triggered. Returns the escalation as left, or None when the task had nothing to do."""
    moment = now or timezone.now()
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(of=("self",))
            .select_related("incident")
            .filter(pk=escalation_id)
            .first()
        )
        if escalation is None or escalation.fencing_token != token or escalation.status not in RUNNING:
            return None
        if escalation.claimed_until is None or escalation.due_at is None or escalation.due_at > moment:
            return None  # this claim's steps already ran (a duplicate delivery of the task)
        incident = escalation.incident
        if incident.status != IncidentStatus.TRIGGERED:
            # The stop signal normally got here first; if it was lost, stop now rather than be claimed for ever.
            reason = STOP_FOR.get(incident.status, StopReason.RESOLVED)
            return escalation_stop(incident_id=incident.pk, reason=reason, now=moment)
        if escalation.status == EscalationStatus.WAITING_BUSINESS_HOURS:
            escalation.status = EscalationStatus.ACTIVE
            timeline_add(incident=incident, kind=TimelineKind.NOTE, message="Business hours began: paging starts.")
        escalation_lag_observe(due_at=escalation.due_at, ran_at=moment)
        _advance(escalation, incident, moment)
        escalation.claimed_until = None
        escalation.save()
    return escalation


def _advance(escalation: Escalation, incident: Incident, moment: datetime) -> None:
    """Run steps from ``step_index`` until a wait, or the end (repeat, or exhausted)."""
    steps = escalation.snapshot.get("steps", [])
    repeats = int(escalation.snapshot.get("repeat_count", 0))
    while True:
        if escalation.step_index >= len(steps):
            if escalation.cycle < repeats and any(s["kind"] in NOTIFY_KINDS for s in steps):
                escalation.cycle += 1
                escalation.step_index = 0
                continue
            escalation.status, escalation.due_at = EscalationStatus.EXHAUSTED, None
            escalation.stopped_at = moment
            timeline_add(
                incident=incident,
                kind=TimelineKind.NOTE,
                message=f"Escalation exhausted: every step{' and repeat' if repeats else ''} done, "
                "nobody has acknowledged.",
            )
            return
        index = escalation.step_index
        step = steps[index]
        escalation.step_index = index + 1
        if step["kind"] == StepKind.WAIT:
            minutes = int(step.get("wait_minutes", 0))
            if minutes:
                escalation.due_at = moment + timedelta(minutes=minutes)
                return
            continue
        _page_step(escalation, incident, index, moment)


# --- what the incident signals ask for ----------------------------------------------------------------------------
def escalation_stop(*, incident_id: int, reason: str, now: datetime | None = None) -> Escalation | None:
    """Stop paging: the running escalation is stopped, its token bumped (a queued step does nothing) and every page
    not yet sent is cancelled, in one transaction. Returns the stopped escalation, if one was running."""
    moment = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.filter(pk=incident_id).first()
        if incident is None:
            return None
        escalation = _running(incident_id)
        if escalation is not None:
            escalation.status, escalation.stop_reason, escalation.stopped_at = EscalationStatus.STOPPED, reason, moment
            escalation.fencing_token += 1
            escalation.claimed_until = escalation.due_at = None
            escalation.save()
        cancelled = notify.deliveries_cancel(incident=incident, reason=f"incident {reason}")
        if escalation is not None or cancelled:
            pending = (
                f"; {cancelled} pending notification{'s' if cancelled != 1 else ''} cancelled" if cancelled else ""
            )
            timeline_add(
                incident=incident,
                kind=TimelineKind.NOTE,
                message=f"Paging stopped ({StopReason(reason).label.lower()}){pending}.",
                data={"reason": reason, "cancelled": cancelled},
            )
    return escalation


def escalation_restart(*, incident_id: int, now: datetime | None = None) -> Escalation | None:
    """Unacknowledged: a new escalation from the first step (a running one is stopped as restarted)."""
    moment = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None or incident.status != IncidentStatus.TRIGGERED:
            return None
        if _running(incident_id) is not None:
            escalation_stop(incident_id=incident_id, reason=StopReason.RESTARTED, now=moment)
        return escalation_start(incident_id=incident_id, now=moment)


def _next_notify(steps: list[dict[str, Any]], index: int) -> int | None:
    return next((i for i in range(index, len(steps)) if steps[i]["kind"] in NOTIFY_KINDS), None)


def escalation_escalate_now(*, incident_id: int, now: datetime | None = None) -> Escalation | None:
    """Escalate by hand: the next notify step runs at once (after the last, the first of another round); with no
    escalation running, a new one continues where the last one stopped."""
    moment = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None or incident.status != IncidentStatus.TRIGGERED:
            return None
        escalation = _running(incident_id)
        if escalation is None:
            last = (
                Escalation.objects.filter(incident=incident).exclude(snapshot={}).order_by("-started_at", "-pk").first()
            )
            if last is None:
                return escalation_start(incident_id=incident_id, now=moment)
            snapshot = {**last.snapshot, "generation": int(last.snapshot.get("generation", 0)) + 1}
            steps = snapshot["steps"]
            start = _next_notify(steps, last.step_index)
            start = start if start is not None else (_next_notify(steps, 0) or 0)
            timeline_add(incident=incident, kind=TimelineKind.NOTE, message=f"Escalating now: step {start + 1}.")
            return _create(incident, last.policy, snapshot, moment, step_index=start)
        steps = escalation.snapshot.get("steps", [])
        target = _next_notify(steps, escalation.step_index)
        if target is None:
            escalation.cycle = min(escalation.cycle + 1, CYCLES_PER_GENERATION - 1)
            target = _next_notify(steps, 0) or 0
        escalation.step_index, escalation.due_at = target, moment
        escalation.status = EscalationStatus.ACTIVE
        escalation.save()
        timeline_add(incident=incident, kind=TimelineKind.NOTE, message=f"Escalating now: step {target + 1}.")
        _claim(escalation, moment)
    return escalation


def assignee_page(*, incident_id: int, assignee_id: int, now: datetime | None = None) -> list[int]:
    """Page a new assignee directly (their notification rules), if the incident is still triggered."""
    moment = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
        if incident is None or assignee is None or incident.status != IncidentStatus.TRIGGERED:
            return []
        from apps.oncall.models import Delivery

        previous = (
            Delivery.objects.filter(incident=incident, step_index=REASSIGN_STEP, user=assignee)
            .order_by("-attempt")
            .values_list("attempt", flat=True)
            .first()
        )
        plan = notify.pages_plan(users=[assignee], urgency=incident.urgency)
        due = notify.pages_create(
            incident=incident,
            escalation=None,
            step_index=REASSIGN_STEP,
            attempt=0 if previous is None else previous + 1,
            plan=plan,
            now=moment,
        )
        _timeline_pages(incident, plan, "new assignee")
    return due
