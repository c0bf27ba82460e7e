"""Secret iCal feeds of on-call shifts: one per schedule (who is on call when) and one per user (their shifts in
every schedule), and the service that rotates a feed's token when its URL has leaked.

A feed lists every final shift from ``FEED_PAST`` ago to ``FEED_AHEAD`` ahead, times in UTC. Calendar clients poll
the URL and match events by UID, so a UID must stay the same while the shift does: it is derived from the schedule,
the user, the source of the shift (layer or override) and its start. A shift already running when the feed's window
opens is cut at the window's start, which moves every day; such a shift takes the start-free UID "…-open" instead,
so clients update it rather than add a copy each day.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone
from icalendar import Calendar, Event

from apps.common.errors import DomainError
from apps.common.models import User
from apps.oncall.models import Schedule, UserFeed, feed_token
from apps.oncall.schedules import Shift, final_shifts, user_shifts

FEED_PAST = timedelta(days=7)
FEED_AHEAD = timedelta(days=60)
PRODID = "-//ECAP Governance Portal//On-call//EN"
UID_DOMAIN = "oncall.ecap"


def feed_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The span a feed covers, around ``now``."""
    moment = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    return moment - FEED_PAST, moment + FEED_AHEAD


def shift_uid(schedule: Schedule, user_public_id: str, shift: Shift, window_start: datetime) -> str:
    """The stable UID of one shift's event (see the module docstring)."""
    source = f"layer:{shift.layer_id}" if shift.layer_id is not None else f"override:{shift.override_id}"
    start = "open" if shift.start <= window_start else shift.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(f"{schedule.public_id}|{user_public_id}|{source}".encode()).hexdigest()[:24]
    return f"{digest}-{start}@{UID_DOMAIN}"


def _calendar(name: str, description: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-caldesc", description)
    calendar.add("x-published-ttl", "PT15M")  # a hint to clients to poll every 15 minutes
    return calendar


def _event(*, uid: str, summary: str, description: str, shift: Shift, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "OPAQUE")
    return event


def schedule_feed(schedule: Schedule, *, now: datetime | None = None) -> bytes:
    """The schedule's calendar: one event per final shift, titled with the user on call."""
    start, end = feed_window(now)
    stamp = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    shifts = final_shifts(schedule, start, end)
    users = User.objects.in_bulk({shift.user_id for shift in shifts})
    calendar = _calendar(f"On call: {schedule.name}", f"Who is on call in {schedule.name}.")
    for shift in shifts:
        user = users.get(shift.user_id)
        if user is None:
            continue
        how = "override" if shift.override_id is not None else "rotation"
        calendar.add_component(
            _event(
                uid=shift_uid(schedule, str(user.public_id), shift, start),
                summary=str(user),
                description=f"{user} is on call in {schedule.name} ({how}).",
                shift=shift,
                stamp=stamp,
            )
        )
    return calendar.to_ical()


def user_feed(user: User, *, now: datetime | None = None) -> bytes:
    """The user's calendar: one event per final shift of theirs in any schedule, titled with the schedule."""
    start, end = feed_window(now)
    stamp = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    calendar = _calendar(f"On-call shifts of {user}", f"Every on-call shift of {user}.")
    for schedule, shift in user_shifts(user, start, end):
        how = "override" if shift.override_id is not None else "rotation"
        calendar.add_component(
            _event(
                uid=shift_uid(schedule, str(user.public_id), shift, start),
                summary=f"On call: {schedule.name}",
                description=f"You are on call in {schedule.name} ({how}).",
                shift=shift,
                stamp=stamp,
            )
        )
    return calendar.to_ical()


def user_feed_token(user: User) -> str:
    """The token of the user's feed URL (the feed is created on first use)."""
    feed, _ = UserFeed.objects.get_or_create(user=user)
    return feed.token


def feed_rotate(*, schedule: Schedule | None = None, user: User | None = None) -> str:
    """Give a schedule's or a user's feed a new secret token (the old URL stops working at once); returns it."""
    token = feed_token()
    if schedule is not None and user is None:
        with transaction.atomic():
            locked = Schedule.objects.select_for_update().get(pk=schedule.pk)
            locked.feed_token = token
            locked.save(update_fields=["feed_token", "updated_at"])
        schedule.feed_token = token
        return token
    if user is None or schedule is not None:
        raise DomainError("Rotate the feed of either a schedule or a user.", code="invalid_feed")
    with transaction.atomic():
        feed, created = UserFeed.objects.select_for_update().get_or_create(user=user, defaults={"token": token})
        if not created:
            feed.token = token
            feed.save(update_fields=["token"])
    return token
