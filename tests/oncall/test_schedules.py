"""Schedules without daylight-saving changes: rotations, layer precedence, restrictions, overrides, merging, gaps,
a user's shifts across schedules, restriction validation, and the number of queries a computation makes.

The helpers at the top are shared by the other schedule tests of this package."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from apps.common.models import User
from apps.common.testing import count_queries
from apps.oncall.choices import OverrideMode, ShiftUnit
from apps.oncall.models import Layer, LayerMember, Override, Schedule
from apps.oncall.schedules import (
    Shift,
    final_shifts,
    layer_shifts,
    next_shifts,
    restrictions_validate,
    schedule_gaps,
    user_shifts,
    who_is_on_call,
)

pytestmark = pytest.mark.django_db

_names = itertools.count(1)


def utc(text: str) -> datetime:
    """An instant written as ``2027-03-01 09:00`` (UTC) or with an explicit offset."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def make_schedule(name: str | None = None, **fields: Any) -> Schedule:
    return Schedule.objects.create(name=name or f"schedule-{next(_names)}", **fields)


def make_layer(
    schedule: Schedule,
    users: Sequence[User],
    *,
    start: datetime,
    position: int = 0,
    length: int = 1,
    unit: str = ShiftUnit.DAYS,
    zone: str = "UTC",
    restrictions: list[dict[str, Any]] | None = None,
    active_from: datetime | None = None,
    active_until: datetime | None = None,
) -> Layer:
    layer = Layer.objects.create(
        schedule=schedule,
        name=f"layer {position}",
        position=position,
        time_zone=zone,
        rotation_start=start,
        shift_length=length,
        shift_unit=unit,
        restrictions=restrictions or [],
        active_from=active_from,
        active_until=active_until,
    )
    LayerMember.objects.bulk_create(
        [LayerMember(layer=layer, user=user, position=index) for index, user in enumerate(users)]
    )
    return layer


def make_override(
    schedule: Schedule,
    user: User,
    start: datetime,
    end: datetime,
    *,
    mode: str = OverrideMode.REPLACE,
    created_at: datetime | None = None,
) -> Override:
    override = Override.objects.create(schedule=schedule, user=user, start=start, end=end, mode=mode)
    if created_at is not None:
        Override.objects.filter(pk=override.pk).update(created_at=created_at)
        override.refresh_from_db()
    return override


def spans(shifts: Sequence[Shift]) -> list[tuple[int, datetime, datetime]]:
    return [(s.user_id, s.start, s.end) for s in shifts]


@pytest.fixture
def people(make_user: Callable[..., User]) -> list[User]:
    return [make_user(username=name, display_name=name.title()) for name in ("ann", "bob", "cyd", "dee")]


# --- one layer --------------------------------------------------------------------------------------------------
def test_daily_rotation_hands_off_in_turn_order_and_starts_over(people: list[User]) -> None:
    ann, bob, cyd, _ = people
    layer = make_layer(make_schedule(), [ann, bob, cyd], start=utc("2027-01-04 09:00"))
    shifts = layer_shifts(layer, utc("2027-01-04 00:00"), utc("2027-01-08 12:00"))
    assert spans(shifts) == [
        (ann.pk, utc("2027-01-04 09:00"), utc("2027-01-05 09:00")),
        (bob.pk, utc("2027-01-05 09:00"), utc("2027-01-06 09:00")),
        (cyd.pk, utc("2027-01-06 09:00"), utc("2027-01-07 09:00")),
        (ann.pk, utc("2027-01-07 09:00"), utc("2027-01-08 09:00")),
        (bob.pk, utc("2027-01-08 09:00"), utc("2027-01-08 12:00")),
    ]
    assert {s.layer_id for s in shifts} == {layer.pk}
    assert all(s.override_id is None for s in shifts)


def test_turn_count_is_right_far_from_the_rotation_start(people: list[User]) -> None:
    ann, bob, cyd, _ = people
    layer = make_layer(make_schedule(), [ann, bob, cyd], start=utc("2027-01-04 09:00"), length=2)
    # 1000 days later: turn 500, which is 500 % 3 = 2 -> cyd, from 2029-09-30 09:00 for two days.
    shifts = layer_shifts(layer, utc("2029-10-01 00:00"), utc("2029-10-01 01:00"))
    assert spans(shifts) == [(cyd.pk, utc("2029-10-01 00:00"), utc("2029-10-01 01:00"))]
    whole = layer_shifts(layer, utc("2029-09-30 08:00"), utc("2029-10-02 10:00"))
    assert spans(whole)[1] == (cyd.pk, utc("2029-09-30 09:00"), utc("2029-10-02 09:00"))


def test_hour_shifts_are_counted_from_the_rotation_start(people: list[User]) -> None:
    ann, bob, _, _ = people
    layer = make_layer(make_schedule(), [ann, bob], start=utc("2027-01-04 05:00"), length=8, unit=ShiftUnit.HOURS)
    shifts = layer_shifts(layer, utc("2027-01-05 00:00"), utc("2027-01-05 22:00"))
    assert spans(shifts) == [
        (ann.pk, utc("2027-01-05 00:00"), utc("2027-01-05 05:00")),  # turn 2, from 2027-01-04 21:00
        (bob.pk, utc("2027-01-05 05:00"), utc("2027-01-05 13:00")),
        (ann.pk, utc("2027-01-05 13:00"), utc("2027-01-05 21:00")),
        (bob.pk, utc("2027-01-05 21:00"), utc("2027-01-05 22:00")),
    ]


def test_weekly_rotation_with_a_user_taking_two_turns(people: list[User]) -> None:
    ann, bob, _, _ = people
    layer = make_layer(make_schedule(), [ann, bob, ann], start=utc("2027-01-04 10:00"), unit=ShiftUnit.WEEKS)
    shifts = layer_shifts(layer, utc("2027-01-04 10:00"), utc("2027-01-25 10:00"))
    assert [(s.user_id, s.start) for s in shifts] == [
        (ann.pk, utc("2027-01-04 10:00")),
        (bob.pk, utc("2027-01-11 10:00")),
        (ann.pk, utc("2027-01-18 10:00")),
    ]


def test_nothing_before_rotation_start_and_nothing_without_turns(people: list[User]) -> None:
    schedule = make_schedule()
    layer = make_layer(schedule, people[:1], start=utc("2027-01-04 09:00"))
    assert layer_shifts(layer, utc("2027-01-01 00:00"), utc("2027-01-04 09:00")) == []
    empty = make_layer(schedule, [], start=utc("2027-01-01 00:00"), position=1)
    assert layer_shifts(empty, utc("2027-01-01 00:00"), utc("2027-02-01 00:00")) == []
    assert who_is_on_call(schedule, utc("2027-01-02 00:00")) == []


def test_active_from_and_until_clip_the_layer_but_not_the_rotation(people: list[User]) -> None:
    ann, bob, _, _ = people
    layer = make_layer(
        make_schedule(),
        [ann, bob],
        start=utc("2027-01-04 09:00"),
        active_from=utc("2027-01-05 12:00"),
        active_until=utc("2027-01-07 00:00"),
    )
    shifts = layer_shifts(layer, utc("2027-01-01 00:00"), utc("2027-01-10 00:00"))
    assert spans(shifts) == [
        (bob.pk, utc("2027-01-05 12:00"), utc("2027-01-06 09:00")),  # still bob's turn: counted from the start
        (ann.pk, utc("2027-01-06 09:00"), utc("2027-01-07 00:00")),
    ]


def test_restrictions_keep_only_the_windows_in_the_layer_zone(people: list[User]) -> None:
    ann = people[0]
    business = [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    layer = make_layer(
        make_schedule(),
        [ann],
        start=utc("2027-01-04 00:00-08:00"),  # Monday midnight in Los Angeles
        unit=ShiftUnit.WEEKS,
        zone="America/Los_Angeles",
        restrictions=business,
    )
    shifts = layer_shifts(layer, utc("2027-01-08 00:00-08:00"), utc("2027-01-12 00:00-08:00"))
    assert spans(shifts) == [
        (ann.pk, utc("2027-01-08 17:00"), utc("2027-01-09 01:00")),  # Friday 09:00-17:00 Pacific
        (ann.pk, utc("2027-01-11 17:00"), utc("2027-01-12 01:00")),  # Monday
    ]


def test_a_window_ending_at_or_before_its_start_runs_past_midnight(people: list[User]) -> None:
    ann = people[0]
    nights = [{"weekdays": [4], "start": "22:00", "end": "06:00"}, {"weekdays": [6], "start": "12:00", "end": "12:00"}]
    # Weekly from a Wednesday: no hand-off inside the windows looked at.
    layer = make_layer(make_schedule(), [ann], start=utc("2027-01-06 00:00"), unit=ShiftUnit.WEEKS, restrictions=nights)
    shifts = layer_shifts(layer, utc("2027-01-08 00:00"), utc("2027-01-11 23:00"))
    assert spans(shifts) == [
        (ann.pk, utc("2027-01-08 22:00"), utc("2027-01-09 06:00")),  # Friday night into Saturday
        (ann.pk, utc("2027-01-10 12:00"), utc("2027-01-11 12:00")),  # Sunday noon, a whole day
    ]


# --- stacking and overrides ---------------------------------------------------------------------------------------
def test_higher_layer_wins_and_lower_layer_fills_its_restricted_gaps(people: list[User]) -> None:
    ann, bob, _, _ = people
    schedule = make_schedule()
    base = make_layer(schedule, [ann], start=utc("2027-01-04 00:00"), unit=ShiftUnit.WEEKS, position=0)
    top = make_layer(
        schedule,
        [bob],
        start=utc("2027-01-04 00:00"),
        position=5,
        restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}],
    )
    shifts = final_shifts(schedule, utc("2027-01-08 00:00"), utc("2027-01-09 12:00"))
    assert [(s.user_id, s.start, s.end, s.layer_id) for s in shifts] == [
        (ann.pk, utc("2027-01-08 00:00"), utc("2027-01-08 09:00"), base.pk),
        (bob.pk, utc("2027-01-08 09:00"), utc("2027-01-08 17:00"), top.pk),
        (ann.pk, utc("2027-01-08 17:00"), utc("2027-01-09 12:00"), base.pk),  # Saturday: the base layer
    ]
    assert who_is_on_call(schedule, utc("2027-01-08 16:59:59")) == [bob]
    assert who_is_on_call(schedule, utc("2027-01-08 17:00")) == [ann]


def test_replace_override_puts_its_user_instead_for_its_interval(people: list[User]) -> None:
    ann, bob, cyd, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ann, bob], start=utc("2027-01-04 09:00"))
    override = make_override(schedule, cyd, utc("2027-01-04 12:00"), utc("2027-01-05 12:00"))
    shifts = final_shifts(schedule, utc("2027-01-04 09:00"), utc("2027-01-06 09:00"))
    assert [(s.user_id, s.start, s.end, s.override_id) for s in shifts] == [
        (ann.pk, utc("2027-01-04 09:00"), utc("2027-01-04 12:00"), None),
        (cyd.pk, utc("2027-01-04 12:00"), utc("2027-01-05 12:00"), override.pk),
        (bob.pk, utc("2027-01-05 12:00"), utc("2027-01-06 09:00"), None),
    ]
    assert shifts[1].layer_id is None
    assert who_is_on_call(schedule, utc("2027-01-05 09:00")) == [cyd]


def test_replace_override_in_a_gap_puts_someone_on_call(people: list[User]) -> None:
    schedule = make_schedule()
    make_override(schedule, people[0], utc("2027-01-04 00:00"), utc("2027-01-04 06:00"))
    assert who_is_on_call(schedule, utc("2027-01-04 05:59:59")) == [people[0]]
    assert schedule_gaps(schedule, utc("2027-01-03 00:00"), utc("2027-01-05 00:00")) == [
        (utc("2027-01-03 00:00"), utc("2027-01-04 00:00")),
        (utc("2027-01-04 06:00"), utc("2027-01-05 00:00")),
    ]


def test_add_override_puts_its_user_beside_whoever_is_on_call(people: list[User]) -> None:
    ann, bob, cyd, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ann], start=utc("2027-01-04 09:00"))
    added = make_override(schedule, cyd, utc("2027-01-05 00:00"), utc("2027-01-05 06:00"), mode=OverrideMode.ADD)
    assert who_is_on_call(schedule, utc("2027-01-05 03:00")) == [ann, cyd]
    assert who_is_on_call(schedule, utc("2027-01-05 06:00")) == [ann]
    shifts = final_shifts(schedule, utc("2027-01-05 00:00"), utc("2027-01-05 12:00"))
    # The layer's shift is not cut by an added user; the added one has its own piece.
    assert [(s.user_id, s.start, s.end, s.override_id) for s in shifts] == [
        (ann.pk, utc("2027-01-05 00:00"), utc("2027-01-05 12:00"), None),
        (cyd.pk, utc("2027-01-05 00:00"), utc("2027-01-05 06:00"), added.pk),
    ]
    # An ADD override of someone already on call adds nobody.
    make_override(schedule, ann, utc("2027-01-05 00:00"), utc("2027-01-05 06:00"), mode=OverrideMode.ADD)
    assert who_is_on_call(schedule, utc("2027-01-05 03:00")) == [ann, cyd]
    assert bob not in who_is_on_call(schedule, utc("2027-01-05 03:00"))


def test_overlapping_replace_overrides_the_most_recently_created_wins(people: list[User]) -> None:
    ann, bob, cyd, dee = people
    schedule = make_schedule()
    make_layer(schedule, [ann], start=utc("2027-01-04 00:00"))
    older = make_override(
        schedule, bob, utc("2027-01-05 00:00"), utc("2027-01-05 12:00"), created_at=utc("2026-12-01 00:00")
    )
    newer = make_override(
        schedule, cyd, utc("2027-01-05 06:00"), utc("2027-01-05 18:00"), created_at=utc("2026-12-02 00:00")
    )
    added = make_override(schedule, dee, utc("2027-01-05 10:00"), utc("2027-01-05 11:00"), mode=OverrideMode.ADD)
    shifts = final_shifts(schedule, utc("2027-01-05 00:00"), utc("2027-01-06 00:00"))
    assert [(s.user_id, s.start, s.end, s.override_id) for s in shifts] == [
        (bob.pk, utc("2027-01-05 00:00"), utc("2027-01-05 06:00"), older.pk),
        (cyd.pk, utc("2027-01-05 06:00"), utc("2027-01-05 18:00"), newer.pk),
        (dee.pk, utc("2027-01-05 10:00"), utc("2027-01-05 11:00"), added.pk),
        (ann.pk, utc("2027-01-05 18:00"), utc("2027-01-06 00:00"), None),
    ]
    assert who_is_on_call(schedule, utc("2027-01-05 10:30")) == [cyd, dee]
    # Creation order decides, not the start: make the older override the newer one.
    Override.objects.filter(pk=older.pk).update(created_at=utc("2026-12-03 00:00"))
    assert who_is_on_call(schedule, utc("2027-01-05 10:30")) == [bob, dee]


def test_adjacent_pieces_of_one_user_and_source_are_merged(people: list[User]) -> None:
    ann, bob, _, _ = people
    schedule = make_schedule()
    layer = make_layer(schedule, [ann], start=utc("2027-01-04 09:00"))  # one member: every day is ann's
    shifts = final_shifts(schedule, utc("2027-01-04 09:00"), utc("2027-01-11 09:00"))
    assert spans(shifts) == [(ann.pk, utc("2027-01-04 09:00"), utc("2027-01-11 09:00"))]
    # Two back-to-back overrides of one user are two sources: not merged; the layer piece before them is its own.
    first = make_override(schedule, bob, utc("2027-01-05 00:00"), utc("2027-01-05 06:00"))
    second = make_override(schedule, bob, utc("2027-01-05 06:00"), utc("2027-01-05 12:00"))
    shifts = final_shifts(schedule, utc("2027-01-04 09:00"), utc("2027-01-06 09:00"))
    assert [(s.user_id, s.start, s.end, s.layer_id, s.override_id) for s in shifts] == [
        (ann.pk, utc("2027-01-04 09:00"), utc("2027-01-05 00:00"), layer.pk, None),
        (bob.pk, utc("2027-01-05 00:00"), utc("2027-01-05 06:00"), None, first.pk),
        (bob.pk, utc("2027-01-05 06:00"), utc("2027-01-05 12:00"), None, second.pk),
        (ann.pk, utc("2027-01-05 12:00"), utc("2027-01-06 09:00"), layer.pk, None),
    ]


def test_gaps_are_the_times_nobody_is_on_call(people: list[User]) -> None:
    schedule = make_schedule()
    make_layer(
        schedule,
        people[:2],
        start=utc("2027-01-04 00:00"),
        restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start": "08:00", "end": "20:00"}],
    )
    make_override(schedule, people[2], utc("2027-01-08 20:00"), utc("2027-01-09 02:00"))
    gaps = schedule_gaps(schedule, utc("2027-01-08 00:00"), utc("2027-01-11 12:00"))
    assert gaps == [
        (utc("2027-01-08 00:00"), utc("2027-01-08 08:00")),
        (utc("2027-01-09 02:00"), utc("2027-01-11 08:00")),  # the weekend, after the override
    ]
    assert who_is_on_call(schedule, utc("2027-01-10 12:00")) == []
    assert schedule_gaps(make_schedule(), utc("2027-01-01"), utc("2027-01-02")) == [
        (utc("2027-01-01"), utc("2027-01-02"))
    ]


def test_next_shifts_are_whole_and_in_order(people: list[User]) -> None:
    ann, bob, cyd, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ann, bob, cyd], start=utc("2027-01-04 09:00"), unit=ShiftUnit.WEEKS)
    upcoming = next_shifts(schedule, utc("2027-01-05 00:00"), count=2)
    assert spans(upcoming) == [
        (bob.pk, utc("2027-01-11 09:00"), utc("2027-01-18 09:00")),
        (cyd.pk, utc("2027-01-18 09:00"), utc("2027-01-25 09:00")),
    ]
    # A shift starting exactly at ``after`` is the current one, not the next.
    assert spans(next_shifts(schedule, utc("2027-01-11 09:00"))) == [
        (cyd.pk, utc("2027-01-18 09:00"), utc("2027-01-25 09:00"))
    ]
    assert next_shifts(make_schedule(), utc("2027-01-05 00:00")) == []


def test_user_shifts_cover_every_schedule_the_user_is_on(people: list[User]) -> None:
    ann, bob, cyd, _ = people
    primary, secondary, other = make_schedule("primary"), make_schedule("secondary"), make_schedule("other")
    make_layer(primary, [ann, bob], start=utc("2027-01-04 09:00"))
    make_layer(secondary, [cyd], start=utc("2027-01-04 09:00"))
    make_layer(other, [bob], start=utc("2027-01-04 09:00"))
    make_override(secondary, ann, utc("2027-01-05 00:00"), utc("2027-01-05 03:00"))  # ann covers cyd for 3 hours
    make_override(primary, cyd, utc("2027-01-06 09:00"), utc("2027-01-06 21:00"))  # cyd takes half of ann's day
    found = user_shifts(ann, utc("2027-01-04 09:00"), utc("2027-01-08 09:00"))
    assert [(schedule.name, s.start, s.end) for schedule, s in found] == [
        ("primary", utc("2027-01-04 09:00"), utc("2027-01-05 09:00")),
        ("secondary", utc("2027-01-05 00:00"), utc("2027-01-05 03:00")),
        ("primary", utc("2027-01-06 21:00"), utc("2027-01-07 09:00")),
    ]
    assert all(s.user_id == ann.pk for _, s in found)


def test_a_layer_stored_with_invalid_settings_covers_nothing_and_lower_layers_page(people: list[User]) -> None:
    ann, bob, _, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ann], start=utc("2027-01-04 00:00"), position=0)
    broken = make_layer(schedule, [bob], start=utc("2027-01-04 00:00"), position=1)
    # Written around the validating admin and API: a window with an impossible time.
    Layer.objects.filter(pk=broken.pk).update(restrictions=[{"weekdays": [0], "start": "25:00", "end": "26:00"}])
    assert who_is_on_call(schedule, utc("2027-01-04 12:00")) == [ann]
    Layer.objects.filter(pk=broken.pk).update(restrictions=[], time_zone="Mars/Olympus_Mons")
    assert who_is_on_call(schedule, utc("2027-01-04 12:00")) == [ann]
    Layer.objects.filter(pk=broken.pk).update(time_zone="UTC")
    assert who_is_on_call(schedule, utc("2027-01-04 12:00")) == [bob]


def test_naive_datetimes_are_refused(people: list[User]) -> None:
    schedule = make_schedule()
    with pytest.raises(ValueError, match="aware"):
        final_shifts(schedule, datetime(2027, 1, 4), datetime(2027, 1, 5))  # noqa: DTZ001 - the refused input
    with pytest.raises(ValueError, match="aware"):
        who_is_on_call(schedule, datetime(2027, 1, 4))  # noqa: DTZ001 - the refused input


# --- restriction validation ---------------------------------------------------------------------------------------
def test_restrictions_validate_normalises_good_windows() -> None:
    assert restrictions_validate(None) == []
    assert restrictions_validate([]) == []
    assert restrictions_validate([{"weekdays": [4, 0, 4], "start": "09:00", "end": "00:00"}]) == [
        {"weekdays": [0, 4], "start": "09:00", "end": "00:00"}
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"weekdays": [0]}, "must be a list"),
        (["09:00-17:00"], "window 1: must be an object"),
        ([{"weekdays": [0], "start": "09:00"}], "window 1: missing end"),
        ([{"weekdays": [0], "start": "09:00", "end": "17:00", "tz": "UTC"}], "window 1: unknown field(s) tz"),
        ([{"weekdays": [7], "start": "09:00", "end": "17:00"}], "window 1: weekdays must be a non-empty list"),
        ([{"weekdays": [], "start": "09:00", "end": "17:00"}], "window 1: weekdays must be a non-empty list"),
        ([{"weekdays": [True], "start": "09:00", "end": "17:00"}], "window 1: weekdays must be a non-empty list"),
        ([{"weekdays": "0-4", "start": "09:00", "end": "17:00"}], "window 1: weekdays must be a non-empty list"),
        ([{"weekdays": [0], "start": "9:00", "end": "17:00"}], "window 1: start must be a time HH:MM"),
        ([{"weekdays": [0], "start": "09:00", "end": "24:00"}], "window 1: end must be a time HH:MM"),
        ([{"weekdays": [0], "start": 900, "end": "17:00"}], "window 1: start must be a time HH:MM"),
        ([{"weekdays": [0], "start": "09:00", "end": "17:00"}] * 51, "At most 50"),
    ],
)
def test_restrictions_validate_names_the_problem(value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        restrictions_validate(value)
    assert any(message in text for text in caught.value.messages), caught.value.messages


def test_restrictions_validate_reports_every_bad_window() -> None:
    good = {"weekdays": [0], "start": "09:00", "end": "17:00"}
    with pytest.raises(ValidationError) as caught:
        restrictions_validate([good, {"weekdays": [9], "start": "x", "end": "17:00"}, good, {"start": "1"}])
    assert caught.value.messages == [
        "window 2: weekdays must be a non-empty list of numbers 0 (Monday) to 6 (Sunday)",
        "window 4: missing end, weekdays",
    ]


# --- queries ------------------------------------------------------------------------------------------------------
def _busy_schedule(users: list[User], overrides: int, turns_per_layer: int) -> Schedule:
    schedule = make_schedule()
    start = utc("2027-01-04 09:00")
    members = (users * turns_per_layer)[:turns_per_layer]
    make_layer(schedule, members, start=start, position=0, unit=ShiftUnit.WEEKS)
    make_layer(schedule, members, start=start, position=1, length=12, unit=ShiftUnit.HOURS)
    make_layer(
        schedule,
        members,
        start=start,
        position=2,
        restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}],
    )
    for index in range(overrides):
        begin = start + timedelta(hours=13 * index)
        mode = OverrideMode.ADD if index % 3 == 0 else OverrideMode.REPLACE
        make_override(schedule, users[index % len(users)], begin, begin + timedelta(hours=5), mode=mode)
    return schedule


def test_two_weeks_of_a_busy_schedule_take_a_constant_number_of_queries(people: list[User]) -> None:
    start, end = utc("2027-01-04 00:00"), utc("2027-01-18 00:00")
    small = _busy_schedule(people, overrides=10, turns_per_layer=3)
    queries, shifts = count_queries(lambda: final_shifts(small, start, end))
    assert queries == 3  # layers, their turns, the overrides
    assert len(shifts) > 40
    large = _busy_schedule(people, overrides=25, turns_per_layer=12)
    queries_large, shifts_large = count_queries(lambda: final_shifts(large, start, end))
    assert queries_large == 3
    assert len(shifts_large) > len(shifts)
    on_call, _ = count_queries(lambda: who_is_on_call(large, utc("2027-01-05 10:00")))
    assert on_call == 4  # the same three, and the users
