"""Schedule gaps reported ahead of time, and hand-off notices before a shift starts: the services and their thin
Celery entry points (``oncall.check_gaps`` hourly, ``oncall.send_handoff_notices`` every few minutes).

Gaps become alerts through ``apps.incidents.services.alert_raise`` (one incident per schedule and gap start, so a
repeated check adds nothing); a reported gap that is no longer there (filled by an override, or over) is resolved
the same way. Hand-off notices are sent once per (schedule, user, shift start): the ``HandoffNotice`` row's unique
constraint is the guard, taken in the transaction that hands the notice to ``apps.oncall.notify.notice_send``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.models import User
from apps.configuration.services import config_get
from apps.oncall.choices import DeliveryPurpose
from apps.oncall.models import HandoffNotice, Schedule
from apps.oncall.schedules import Shift, gaps_of, intervals_union, schedules_final_shifts

logger = structlog.get_logger(__name__)

GAP_ALERT = "OncallScheduleGap"
GAP_SOURCE = "oncall"
# Shifts are computed from this far back, so a shift that starts in the notice window is seen whole (not cut at the
# window's start, where it could not be told from one already running).
LOOKBACK = timedelta(days=1)
# ... and this far past the notice window, so the notice can say until when (a longer stretch is "for weeks").
TAIL = timedelta(days=31)


def gap_dedup_key(schedule: Schedule, gap_start: datetime) -> str:
    """The stable key of one gap's alert: the schedule and the instant nobody is on call from."""
    return f"oncall-gap:{schedule.public_id}:{gap_start.astimezone(UTC).isoformat()}"


@dataclass(frozen=True)
class _Reported:
    """An open gap incident: the key to resolve it with and the gap start it was raised for."""

    dedup_key: str
    gap_start: datetime


def _reported_gaps() -> dict[str, list[_Reported]]:
    """Open incidents of gap alerts, by schedule public id (read through the incidents app's selector)."""
    from apps.incidents.selectors import incident_open_list

    found: dict[str, list[_Reported]] = {}
    rows = incident_open_list().filter(labels__source=GAP_SOURCE, labels__alertname=GAP_ALERT)
    for labels, group_key in rows.values_list("labels", "group_key"):
        try:
            gap_start = datetime.fromisoformat(str(labels["gap_start"]))
            schedule_id = str(labels["schedule_id"])
        except (KeyError, TypeError, ValueError):
            continue
        found.setdefault(schedule_id, []).append(_Reported(group_key, gap_start))
    return found


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone or "UTC")).strftime("%a %Y-%m-%d %H:%M %Z")


def schedule_gaps_check(*, now: datetime | None = None) -> dict[str, int]:
    """Raise an alert for every gap in the next ``oncall.gap_horizon_days`` days not reported yet, and resolve the
    alerts of gaps that are gone; returns ``{"raised": n, "resolved": m}``.

    A gap already under way when first seen is reported from now; once reported it keeps its key while it lasts.
    """
    from apps.incidents.choices import AlertStatus, Severity
    from apps.incidents.services import alert_raise

    start = (now or timezone.now()).astimezone(UTC)
    end = start + timedelta(days=int(config_get("oncall.gap_horizon_days")))
    schedules = list(Schedule.objects.order_by("pk"))
    shifts = schedules_final_shifts(schedules, start, end)
    reported = _reported_gaps()
    raised = resolved = 0
    for schedule in schedules:
        gaps = gaps_of(shifts[schedule.pk], start, end)
        open_ = reported.pop(str(schedule.public_id), [])
        kept: set[str] = set()
        for gap_start, gap_end in gaps:
            already = [
                r for r in open_ if gap_start <= r.gap_start < gap_end or (gap_start == start and r.gap_start <= start)
            ]
            if already:
                kept.update(r.dedup_key for r in already)
                continue
            alert_raise(
                source=GAP_SOURCE,
                name=GAP_ALERT,
                summary=f"Nobody on call in {schedule.name} from {_local(gap_start, schedule.time_zone)}",
                severity=Severity.WARNING,
                dedup_key=gap_dedup_key(schedule, gap_start),
                labels={
                    "schedule": schedule.name,
                    "schedule_id": str(schedule.public_id),
                    "gap_start": gap_start.isoformat(),
                    "gap_end": gap_end.isoformat(),
                    "service": "oncall",
                },
                details={"until": gap_end.isoformat(), "horizon_end": end.isoformat()},
            )
            raised += 1
        for stale in open_:
            if stale.dedup_key in kept:
                continue
            alert_raise(
                source=GAP_SOURCE,
                name=GAP_ALERT,
                summary=f"{schedule.name} has someone on call again",
                dedup_key=stale.dedup_key,
                status=AlertStatus.RESOLVED,
            )
            resolved += 1
    for leftovers in reported.values():  # the schedule was deleted: nobody is left to be missing
        for stale in leftovers:
            alert_raise(
                source=GAP_SOURCE,
                name=GAP_ALERT,
                summary="Schedule deleted",
                dedup_key=stale.dedup_key,
                status=AlertStatus.RESOLVED,
            )
            resolved += 1
    if raised or resolved:
        logger.info("oncall_gaps_checked", schedules=len(schedules), raised=raised, resolved=resolved)
    return {"raised": raised, "resolved": resolved}


def _coverage_starts(shifts: list[Shift]) -> list[tuple[int, datetime, datetime]]:
    """(user, start, end) of each stretch a user is continuously on call, whatever layer or override puts them
    there: someone whose layer shift runs straight into their own override is not handed anything new."""
    by_user: dict[int, list[tuple[datetime, datetime]]] = {}
    for shift in shifts:
        by_user.setdefault(shift.user_id, []).append((shift.start, shift.end))
    return [(user_id, lo, hi) for user_id, spans in by_user.items() for lo, hi in intervals_union(spans)]


def handoff_notices_send(*, now: datetime | None = None) -> int:
    """Tell each user whose on-call stretch starts within ``oncall.handoff_notice_minutes`` that it is coming, once
    per (schedule, user, start); returns how many notices this call sent."""
    from apps.oncall.notify import notice_send

    moment = (now or timezone.now()).astimezone(UTC)
    horizon = moment + timedelta(minutes=int(config_get("oncall.handoff_notice_minutes")))
    schedules = list(Schedule.objects.order_by("pk"))
    window_end = horizon + TAIL
    shifts = schedules_final_shifts(schedules, moment - LOOKBACK, window_end)
    due: list[tuple[Schedule, int, datetime, datetime]] = []
    for schedule in schedules:
        for user_id, start, end in _coverage_starts(shifts[schedule.pk]):
            if moment < start <= horizon:
                due.append((schedule, user_id, start, end))
    if not due:
        return 0
    users = User.objects.in_bulk({user_id for _, user_id, _, _ in due})
    sent = 0
    for schedule, user_id, start, end in sorted(due, key=lambda item: (item[2], item[0].pk, item[1])):
        user = users.get(user_id)
        if user is None or not user.is_active:
            continue
        try:
            with transaction.atomic():
                # The unique (schedule, user, shift_start) row is the guard: a second worker blocks on it until
                # this transaction ends, then fails to insert and sends nothing.
                HandoffNotice.objects.create(schedule=schedule, user=user, shift_start=start)
                zone = user.time_zone or schedule.time_zone
                until = f"until {_local(end, zone)}" if end < window_end else "for more than four weeks"
                notice_send(
                    user=user,
                    purpose=DeliveryPurpose.HANDOFF,
                    subject=f"Your on-call shift on {schedule.name} starts {_local(start, zone)}",
                    body=(
                        f"You are on call on {schedule.name} from {_local(start, zone)} {until}.\n"
                        "Check your contact methods and open incidents before it starts."
                    ),
                    dedup_key=f"handoff:{schedule.public_id}:{user.public_id}:{start.isoformat()}",
                    payload={
                        "schedule": str(schedule.public_id),
                        "schedule_name": schedule.name,
                        "shift_start": start.isoformat(),
                        "shift_end": end.isoformat() if end < window_end else None,
                    },
                )
        except IntegrityError:
            continue  # already sent (by an earlier run or a concurrent worker)
        except Exception:  # one user's failure must not hold back the others; the row rolled back, so it is retried
            logger.exception("oncall_handoff_notice_failed", schedule=str(schedule.public_id), user=str(user.public_id))
            continue
        sent += 1
    if sent:
        logger.info("oncall_handoff_notices_sent", count=sent)
    return sent


@shared_task(name="oncall.check_gaps", acks_late=True, ignore_result=True)
def check_gaps() -> dict[str, int]:
    """Report schedule gaps in the coming days as alerts (and resolve those that are gone)."""
    return schedule_gaps_check()


@shared_task(name="oncall.send_handoff_notices", acks_late=True, ignore_result=True)
def send_handoff_notices() -> int:
    """Send hand-off notices for shifts about to start."""
    return handoff_notices_send()
