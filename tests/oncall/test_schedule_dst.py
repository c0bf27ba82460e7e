"""Daylight-saving changes, by the rule in ``apps.oncall.schedules``: day and week shifts hand off at the local wall
time (23/25 h and 167/169 h shifts), hour shifts are elapsed time, a hand-off inside the spring-forward gap moves to
the moment of the change, one inside the repeated fall-back hour takes its first occurrence, and restriction windows
follow the local clock. In America/Los_Angeles (2027-03-14, 2027-11-07) and Europe/Lisbon (2027-03-28, 2027-10-31)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.common.models import User
from apps.oncall.choices import ShiftUnit
from apps.oncall.schedules import final_shifts, layer_shifts, local_instant, who_is_on_call
from tests.oncall.test_schedules import make_layer, make_schedule, utc

pytestmark = pytest.mark.django_db

LA = "America/Los_Angeles"
LISBON = "Europe/Lisbon"
TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


@pytest.fixture
def trio(make_user: Callable[..., User]) -> list[User]:
    return [make_user(username=name) for name in ("ann", "bob", "cyd")]


@pytest.mark.parametrize(
    ("zone", "rotation_start", "long_or_short_start", "hours"),
    [
        (LA, "2027-03-10 09:00-08:00", "2027-03-13 17:00", 23),  # Sat 09:00 PST -> Sun 09:00 PDT
        (LA, "2027-11-03 09:00-07:00", "2027-11-06 16:00", 25),  # Sat 09:00 PDT -> Sun 09:00 PST
        (LISBON, "2027-03-25 09:00+00:00", "2027-03-27 09:00", 23),  # Sat 09:00 WET -> Sun 09:00 WEST
        (LISBON, "2027-10-28 09:00+01:00", "2027-10-30 08:00", 25),  # Sat 09:00 WEST -> Sun 09:00 WET
    ],
)
def test_daily_hand_off_stays_at_local_wall_time_across_the_change(
    trio: list[User], zone: str, rotation_start: str, long_or_short_start: str, hours: int
) -> None:
    schedule = make_schedule()
    start = utc(rotation_start)
    make_layer(schedule, trio, start=start, zone=zone)
    week_later = local_instant(local(start, zone).date() + timedelta(days=7), time(9, 0), ZoneInfo(zone))
    shifts = final_shifts(schedule, start, week_later)
    assert len(shifts) == 7
    assert all(local(s.start, zone).time() == time(9, 0) for s in shifts)
    assert all(local(s.end, zone).time() == time(9, 0) for s in shifts)
    durations = {s.start: (s.end - s.start) for s in shifts}
    changed = utc(long_or_short_start)
    assert durations.pop(changed) == timedelta(hours=hours)
    assert set(durations.values()) == {timedelta(hours=24)}
    # Exactly at the hand-off after the changed shift, and the instant before it.
    hand_off = changed + timedelta(hours=hours)
    before, after = who_is_on_call(schedule, hand_off - TICK), who_is_on_call(schedule, hand_off)
    assert len(before) == len(after) == 1
    assert before != after
    assert trio.index(after[0]) == (trio.index(before[0]) + 1) % 3


@pytest.mark.parametrize(
    ("zone", "rotation_start", "hours"),
    [
        (LA, "2027-03-08 09:00-08:00", 167),
        (LA, "2027-11-01 09:00-07:00", 169),
        (LISBON, "2027-03-22 09:00+00:00", 167),
        (LISBON, "2027-10-25 09:00+01:00", 169),
    ],
)
def test_weekly_hand_off_stays_at_local_wall_time_across_the_change(
    trio: list[User], zone: str, rotation_start: str, hours: int
) -> None:
    start = utc(rotation_start)
    layer = make_layer(make_schedule(), trio, start=start, zone=zone, unit=ShiftUnit.WEEKS)
    three_weeks = local_instant(local(start, zone).date() + timedelta(days=21), time(9, 0), ZoneInfo(zone))
    shifts = layer_shifts(layer, start, three_weeks)
    assert [s.end - s.start for s in shifts] == [timedelta(hours=hours), timedelta(hours=168), timedelta(hours=168)]
    assert [local(s.start, zone).strftime("%a %H:%M") for s in shifts] == ["Mon 09:00"] * 3
    assert [s.user_id for s in shifts] == [u.pk for u in trio]


@pytest.mark.parametrize(
    ("zone", "rotation_start", "local_hours"),
    [
        (LA, "2027-03-13 08:00-08:00", [8, 20, 9, 21]),  # the spring-forward hour moves the local hand-off later
        (LA, "2027-11-06 08:00-07:00", [8, 20, 7, 19]),
        (LISBON, "2027-03-27 08:00+00:00", [8, 20, 9, 21]),
        (LISBON, "2027-10-30 08:00+01:00", [8, 20, 7, 19]),
    ],
)
def test_hour_shifts_are_exact_elapsed_time_across_the_change(
    trio: list[User], zone: str, rotation_start: str, local_hours: list[int]
) -> None:
    start = utc(rotation_start)
    layer = make_layer(make_schedule(), trio[:2], start=start, zone=zone, length=12, unit=ShiftUnit.HOURS)
    shifts = layer_shifts(layer, start, start + timedelta(hours=48))
    assert [s.start for s in shifts] == [start + timedelta(hours=12 * k) for k in range(4)]
    assert all(s.end - s.start == timedelta(hours=12) for s in shifts)
    assert [local(s.start, zone).hour for s in shifts] == local_hours


@pytest.mark.parametrize(
    ("zone", "rotation_start", "moved_to", "local_text"),
    [
        # 02:30 does not exist in Los Angeles on 2027-03-14: the hand-off is at 03:00 PDT (10:00 UTC).
        (LA, "2027-03-12 02:30-08:00", "2027-03-14 10:00", "03:00 PDT"),
        # 01:30 does not exist in Lisbon on 2027-03-28: the hand-off is at 02:00 WEST (01:00 UTC).
        (LISBON, "2027-03-26 01:30+00:00", "2027-03-28 01:00", "02:00 WEST"),
    ],
)
def test_hand_off_inside_the_nonexistent_hour_moves_to_the_change(
    trio: list[User], zone: str, rotation_start: str, moved_to: str, local_text: str
) -> None:
    ann, bob, cyd = trio
    schedule = make_schedule()
    start = utc(rotation_start)
    make_layer(schedule, trio, start=start, zone=zone)
    shifts = final_shifts(schedule, start, start + timedelta(days=3, hours=12))
    hand_off = utc(moved_to)
    assert [s.start for s in shifts] == [
        start,
        start + timedelta(days=1),
        hand_off,
        start + timedelta(days=3) - HOUR,  # the next day, 02:30 (01:30) exists again, in summer time
    ]
    assert local(hand_off, zone).strftime("%H:%M %Z") == local_text
    assert shifts[1].end - shifts[1].start == timedelta(hours=23, minutes=30)
    assert shifts[2].end - shifts[2].start == timedelta(hours=23, minutes=30)
    assert who_is_on_call(schedule, hand_off - TICK) == [bob]
    assert who_is_on_call(schedule, hand_off) == [cyd]
    assert who_is_on_call(schedule, shifts[3].start) == [ann]


@pytest.mark.parametrize(
    ("zone", "rotation_start", "first_occurrence"),
    [
        # 01:30 happens twice in Los Angeles on 2027-11-07 (PDT, then PST): the first, 08:30 UTC, is the hand-off.
        (LA, "2027-11-05 01:30-07:00", "2027-11-07 08:30"),
        # 01:30 happens twice in Lisbon on 2027-10-31 (WEST, then WET): the first is 00:30 UTC.
        (LISBON, "2027-10-29 01:30+01:00", "2027-10-31 00:30"),
    ],
)
def test_hand_off_inside_the_repeated_hour_takes_its_first_occurrence(
    trio: list[User], zone: str, rotation_start: str, first_occurrence: str
) -> None:
    _, bob, cyd = trio
    schedule = make_schedule()
    start = utc(rotation_start)
    make_layer(schedule, trio, start=start, zone=zone)
    shifts = final_shifts(schedule, start, start + timedelta(days=3, hours=12))
    hand_off = utc(first_occurrence)
    assert len(shifts) == 4
    assert shifts[2].start == hand_off
    assert shifts[1].end - shifts[1].start == timedelta(hours=24)
    assert shifts[2].end - shifts[2].start == timedelta(hours=25)
    assert local(shifts[3].start, zone).time() == time(1, 30)
    assert who_is_on_call(schedule, hand_off - TICK) == [bob]
    assert who_is_on_call(schedule, hand_off) == [cyd]
    second_occurrence = hand_off + HOUR  # the clock shows 01:30 again: no hand-off this time
    assert local(second_occurrence, zone).time() == time(1, 30)
    assert who_is_on_call(schedule, second_occurrence) == [cyd]


@pytest.mark.parametrize(
    ("zone", "day", "window", "expected"),
    [
        (LA, "2027-03-13", ("01:00", "04:00"), ("2027-03-13 09:00", "2027-03-13 12:00")),  # 3 h, before the change
        (LA, "2027-03-14", ("01:00", "04:00"), ("2027-03-14 09:00", "2027-03-14 11:00")),  # 2 h: 02:00-03:00 is gone
        (LA, "2027-03-14", ("02:30", "05:00"), ("2027-03-14 10:00", "2027-03-14 12:00")),  # opens at the change
        (LA, "2027-11-07", ("01:00", "04:00"), ("2027-11-07 08:00", "2027-11-07 12:00")),  # 4 h: 01:00-02:00 twice
        (LA, "2027-03-13", ("22:00", "06:00"), ("2027-03-14 06:00", "2027-03-14 13:00")),  # overnight: 7 h
        (LISBON, "2027-03-28", ("00:30", "03:00"), ("2027-03-28 00:30", "2027-03-28 02:00")),  # 1.5 h
        (LISBON, "2027-10-31", ("00:30", "03:00"), ("2027-10-30 23:30", "2027-10-31 03:00")),  # 3.5 h
    ],
)
def test_restriction_windows_follow_the_local_clock_across_the_change(
    trio: list[User], zone: str, day: str, window: tuple[str, str], expected: tuple[str, str]
) -> None:
    the_day = date.fromisoformat(day)
    restrictions = [{"weekdays": [the_day.weekday()], "start": window[0], "end": window[1]}]
    schedule = make_schedule()
    # Weekly, handing off a few days earlier: no hand-off inside the window.
    rotation_start = local_instant(the_day - timedelta(days=3), time(12, 0), ZoneInfo(zone))
    make_layer(schedule, trio[:1], start=rotation_start, zone=zone, unit=ShiftUnit.WEEKS, restrictions=restrictions)
    look_from = datetime.combine(the_day - timedelta(days=1), time(0, 0), tzinfo=UTC)
    shifts = final_shifts(schedule, look_from, look_from + timedelta(days=3))
    assert [(s.start, s.end) for s in shifts] == [(utc(expected[0]), utc(expected[1]))]
    assert who_is_on_call(schedule, utc(expected[0]) - TICK) == []
    assert who_is_on_call(schedule, utc(expected[0])) == trio[:1]
    assert who_is_on_call(schedule, utc(expected[1]) - TICK) == trio[:1]
    assert who_is_on_call(schedule, utc(expected[1])) == []


@pytest.mark.parametrize(
    ("zone", "day", "wall", "instant"),
    [
        (LA, "2027-03-14", "02:00", "2027-03-14 10:00"),
        (LA, "2027-03-14", "02:59", "2027-03-14 10:00"),
        (LA, "2027-03-14", "03:00", "2027-03-14 10:00"),
        (LA, "2027-03-14", "01:59", "2027-03-14 09:59"),
        (LA, "2027-11-07", "01:00", "2027-11-07 08:00"),
        (LA, "2027-11-07", "02:00", "2027-11-07 10:00"),
        (LISBON, "2027-03-28", "01:15", "2027-03-28 01:00"),
        (LISBON, "2027-10-31", "01:15", "2027-10-31 00:15"),
    ],
)
def test_local_instant_applies_the_rule_to_any_wall_time(zone: str, day: str, wall: str, instant: str) -> None:
    hours, minutes = (int(part) for part in wall.split(":"))
    found = local_instant(date.fromisoformat(day), time(hours, minutes), ZoneInfo(zone))
    assert found == utc(instant)
    assert found.tzinfo is UTC
