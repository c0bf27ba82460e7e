"""Who is on call when: the rotation of each layer, layers stacked, overrides on top. Pure computation over the
models: a schedule's layers, turns and overrides are fetched in a constant number of queries, everything else is
Python. Part of the on-call app's public surface (pages, API, escalation engine, feeds and notices call it).

Every interval is half-open, ``[start, end)``, and every datetime is aware and in UTC.

The daylight-saving rule (one rule, used for hand-offs and restriction windows alike):

- A layer whose ``shift_unit`` is HOURS hands off every ``shift_length`` hours of *elapsed* time from
  ``rotation_start``: a 12-hour shift is 12 real hours long, even across a clock change, so its local hand-off time
  moves by an hour when the clocks do.
- A layer counted in DAYS or WEEKS hands off at the *local wall-clock time* of ``rotation_start`` in the layer's
  ``time_zone``, on every ``shift_length`` days (or 7 * ``shift_length`` days) after its local date. A daily shift
  across a spring-forward change lasts 23 hours, across a fall-back change 25 hours (a week: 167 or 169 hours).
- Turning a wall-clock time of a given local date into an instant:
  * a time that does not exist that day (inside the spring-forward gap, e.g. 02:30 in Los Angeles on the change day)
    moves forward to the first valid instant after the gap (the moment of the change, shown as 03:00 local);
  * a time that exists twice (inside the repeated fall-back hour) takes its first occurrence (``fold=0``, the
    daylight-saving one).
- The first shift begins at ``rotation_start`` itself, and nothing is covered before it. Turn ``k`` (0, 1, 2, …)
  goes to ``turns[k % len(turns)]`` in order of position; a layer with no turns covers nothing.
- Restrictions are windows of the week in the layer's zone, ``{"weekdays": [0..6], "start": "HH:MM", "end": "HH:MM"}``
  (Monday is 0). A window opens on each listed weekday at ``start`` and closes at ``end`` the same day, or the next
  day when ``end`` is at or before ``start``; both ends are turned into instants by the rule above (so a 01:00-04:00
  window on the spring-forward night in Los Angeles is two hours long). A restricted layer covers only the parts of
  its shifts inside some window; without restrictions it covers whole shifts.
- ``active_from`` / ``active_until`` clip the layer (the rotation still counts from ``rotation_start``).

Stacking: at any instant the highest-position layer that covers it decides who is on call; lower layers fill where
higher ones have nothing (a restricted business-hours layer over a round-the-clock one). Overrides sit on top of
every layer: a REPLACE override puts its user there instead of whoever the layers chose (the most recently created
wins where REPLACE overrides overlap); an ADD override puts its user there beside them. Adjacent pieces of one user
from one source (a layer or an override) are merged.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q

from apps.common.models import User
from apps.oncall.choices import OverrideMode, ShiftUnit
from apps.oncall.models import Layer, LayerMember, Override, Schedule

logger = structlog.get_logger(__name__)

MAX_WINDOWS = 50
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
WINDOW_KEYS = frozenset({"weekdays", "start", "end"})
ONE_MICROSECOND = timedelta(microseconds=1)
# How far ``next_shifts`` looks ahead before it gives up (a schedule may have nobody for a long time).
NEXT_SHIFT_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class Shift:
    """One user on call for ``[start, end)``, from a layer (``layer_id``) or an override (``override_id``)."""

    user_id: int
    start: datetime
    end: datetime
    layer_id: int | None
    override_id: int | None

    @property
    def source(self) -> tuple[int | None, int | None]:
        return (self.layer_id, self.override_id)


# --- restrictions -----------------------------------------------------------------------------------------------
def restrictions_validate(value: Any) -> list[dict[str, Any]]:
    """Check a layer's restrictions and return them normalised (weekdays sorted and unique, times ``HH:MM``).

    Raises ``ValidationError`` whose messages name the window and the field at fault, e.g.
    ``"window 2: start must be a time HH:MM (00:00 to 23:59)"``.
    """
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValidationError("Restrictions must be a list of windows {weekdays, start, end}.", code="invalid")
    if len(value) > MAX_WINDOWS:
        raise ValidationError(f"At most {MAX_WINDOWS} restriction windows are allowed.", code="invalid")
    errors: list[str] = []
    out: list[dict[str, Any]] = []
    for number, window in enumerate(value, start=1):
        where = f"window {number}"
        if not isinstance(window, dict):
            errors.append(f"{where}: must be an object with weekdays, start and end")
            continue
        unknown = sorted(str(key) for key in set(window) - WINDOW_KEYS)
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)}; expected weekdays, start and end")
        missing = sorted(WINDOW_KEYS - set(window))
        if missing:
            errors.append(f"{where}: missing {', '.join(missing)}")
            continue
        weekdays = window["weekdays"]
        if (
            not isinstance(weekdays, list)
            or not weekdays
            or not all(isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6 for day in weekdays)
        ):
            errors.append(f"{where}: weekdays must be a non-empty list of numbers 0 (Monday) to 6 (Sunday)")
            continue
        times = {}
        for name in ("start", "end"):
            text = window[name]
            if not isinstance(text, str) or not HHMM.match(text):
                errors.append(f"{where}: {name} must be a time HH:MM (00:00 to 23:59)")
            else:
                times[name] = text
        if len(times) == 2:
            out.append({"weekdays": sorted(set(weekdays)), "start": times["start"], "end": times["end"]})
    if errors:
        raise ValidationError(errors, code="invalid")
    return out


def _wall(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


# --- wall-clock arithmetic --------------------------------------------------------------------------------------
def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``wall`` on local ``day`` in ``tz``, by the module's rule: a time inside the
    spring-forward gap moves forward to the moment of the change; a repeated time takes its first occurrence."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first  # exists (if twice, fold=0 is the first occurrence)
    # Nonexistent: fold=1 reads it with the offset after the change, fold=0 with the one before; the change lies
    # between the two readings. Find it: the first instant whose local time is past the wall time.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)  # local time before the gap: not past
    hi = first  # local time after the gap: past
    if lo > hi:  # a zone that moves its clocks back over a gap cannot happen, but never loop on bad data
        lo, hi = hi, lo
    while hi - lo > ONE_MICROSECOND:
        mid = lo + (hi - lo) // 2
        if mid.astimezone(tz).replace(tzinfo=None) > naive:
            hi = mid
        else:
            lo = mid
    return hi


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")


# --- one layer --------------------------------------------------------------------------------------------------
class _Rotation:
    """The hand-off instants of one layer: ``boundary(k)`` is the start of turn ``k``."""

    def __init__(self, layer: Layer) -> None:
        self.start = layer.rotation_start.astimezone(UTC)
        self.tz = _zone(layer.time_zone)
        self.length = max(1, int(layer.shift_length))
        self.hours = layer.shift_unit == ShiftUnit.HOURS
        self.step_days = self.length * (7 if layer.shift_unit == ShiftUnit.WEEKS else 1)
        local = self.start.astimezone(self.tz)
        self.first_day = local.date()
        self.wall = local.time().replace(tzinfo=None, fold=0)
        self._cache: dict[int, datetime] = {0: self.start}

    def boundary(self, k: int) -> datetime:
        found = self._cache.get(k)
        if found is None:
            if self.hours:
                found = self.start + timedelta(hours=self.length * k)
            else:
                found = local_instant(self.first_day + timedelta(days=self.step_days * k), self.wall, self.tz)
            self._cache[k] = found
        return found

    def first_turn_at(self, moment: datetime) -> int:
        """The turn running at ``moment`` (0 when it is before the rotation starts)."""
        if moment <= self.start:
            return 0
        if self.hours:
            return int((moment - self.start) // timedelta(hours=self.length))
        days = (moment.astimezone(self.tz).date() - self.first_day).days
        k = max(0, days // self.step_days - 1)
        while self.boundary(k + 1) <= moment:
            k += 1
        return k


def _windows(restrictions: list[dict[str, Any]], tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple]:
    """The union of the restriction windows overlapping [start, end), as sorted disjoint UTC intervals."""
    parsed = [(set(w["weekdays"]), _wall(w["start"]), _wall(w["end"])) for w in restrictions]
    day = start.astimezone(tz).date() - timedelta(days=1)  # a window of the day before may run past midnight
    last = end.astimezone(tz).date()
    spans: list[tuple[datetime, datetime]] = []
    while day <= last:
        weekday = day.weekday()
        for weekdays, opens, closes in parsed:
            if weekday not in weekdays:
                continue
            close_day = day + timedelta(days=1) if closes <= opens else day
            lo, hi = local_instant(day, opens, tz), local_instant(close_day, closes, tz)
            if hi > lo and hi > start and lo < end:
                spans.append((max(lo, start), min(hi, end)))
        day += timedelta(days=1)
    return intervals_union(spans)


def intervals_union(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, disjoint intervals covering the same instants as ``spans`` (touching ones joined)."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _turns(layer: Layer) -> list[LayerMember]:
    """The layer's turns in order (from the prefetch when there is one)."""
    return sorted(layer.turns.all(), key=lambda turn: (turn.position, turn.pk))


def layer_shifts(layer: Layer, start: datetime, end: datetime) -> list[Shift]:
    """The parts of ``[start, end)`` the layer covers, one ``Shift`` per turn (split by restriction windows).

    Uses ``layer.turns`` (prefetch it to avoid a query); follows the rule in the module docstring. A layer whose
    stored time zone or restrictions are invalid (written around the validating admin and API) covers nothing and
    is logged: the layers below it still page someone, and the gap check reports what it leaves uncovered.
    """
    _check_range(start, end)
    turns = _turns(layer)
    if not turns or end <= start:
        return []
    try:
        rotation = _Rotation(layer)
        restrictions = restrictions_validate(layer.restrictions)
    except (ValidationError, ZoneInfoNotFoundError, ValueError) as exc:
        logger.error("oncall_layer_invalid", layer=layer.pk, schedule=layer.schedule_id, error=type(exc).__name__)
        return []
    lo = max(start, rotation.start, layer.active_from or rotation.start)
    hi = min(end, layer.active_until) if layer.active_until else end
    if hi <= lo:
        return []
    whole: list[Shift] = []
    k = rotation.first_turn_at(lo)
    while True:
        turn_start, turn_end = rotation.boundary(k), rotation.boundary(k + 1)
        if turn_start >= hi:
            break
        piece_start, piece_end = max(turn_start, lo), min(turn_end, hi)
        if piece_end > piece_start:
            whole.append(Shift(turns[k % len(turns)].user_id, piece_start, piece_end, layer.pk, None))
        k += 1
    if not restrictions:
        return whole
    windows = _windows(restrictions, rotation.tz, lo, hi)
    out: list[Shift] = []
    index = 0
    for shift in whole:
        while index < len(windows) and windows[index][1] <= shift.start:
            index += 1
        probe = index
        while probe < len(windows) and windows[probe][0] < shift.end:
            piece_start, piece_end = max(shift.start, windows[probe][0]), min(shift.end, windows[probe][1])
            if piece_end > piece_start:
                out.append(Shift(shift.user_id, piece_start, piece_end, layer.pk, None))
            probe += 1
    return out


# --- the whole schedule -----------------------------------------------------------------------------------------
@dataclass
class _Loaded:
    """What a schedule's computation needs, fetched up front."""

    layers: list[Layer] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)


def _load(schedule_ids: Sequence[int], start: datetime, end: datetime) -> dict[int, _Loaded]:
    """Layers (with their turns) and the overrides overlapping [start, end) of many schedules: three queries."""
    loaded: dict[int, _Loaded] = {pk: _Loaded() for pk in schedule_ids}
    if not loaded:
        return loaded
    turns = Prefetch("turns", queryset=LayerMember.objects.order_by("position", "pk"))
    for layer in Layer.objects.filter(schedule_id__in=loaded).prefetch_related(turns).order_by("-position", "pk"):
        loaded[layer.schedule_id].layers.append(layer)
    overrides = Override.objects.filter(schedule_id__in=loaded, start__lt=end, end__gt=start).order_by("start", "pk")
    for override in overrides:
        loaded[override.schedule_id].overrides.append(override)
    return loaded


def _stack(data: _Loaded, start: datetime, end: datetime) -> list[Shift]:
    """Layers stacked and overrides applied over [start, end) (see the module docstring)."""
    if end <= start:
        return []
    per_layer = [layer_shifts(layer, start, end) for layer in sorted(data.layers, key=lambda la: -la.position)]
    overrides = [(max(o.start, start), min(o.end, end), o) for o in data.overrides if o.start < end and o.end > start]
    points = {start, end}
    for shifts in per_layer:
        for shift in shifts:
            points.update((shift.start, shift.end))
    for lo, hi, _ in overrides:
        points.update((lo, hi))
    edges = sorted(points)
    overrides.sort(key=lambda item: item[0])
    pointers = [0] * len(per_layer)
    active: list[tuple[datetime, datetime, Override]] = []
    next_override = 0
    pieces: list[Shift] = []
    for seg_start, seg_end in itertools.pairwise(edges):
        base: Shift | None = None
        for index, shifts in enumerate(per_layer):
            pointer = pointers[index]
            while pointer < len(shifts) and shifts[pointer].end <= seg_start:
                pointer += 1
            pointers[index] = pointer
            if pointer < len(shifts) and shifts[pointer].start <= seg_start:
                base = shifts[pointer]
                break
        while next_override < len(overrides) and overrides[next_override][0] <= seg_start:
            active.append(overrides[next_override])
            next_override += 1
        active = [item for item in active if item[1] > seg_start]
        replacing = [o for _, _, o in active if o.mode == OverrideMode.REPLACE]
        users: dict[int, Shift] = {}
        if replacing:
            winner = max(replacing, key=lambda o: (o.created_at, o.pk))
            users[winner.user_id] = Shift(winner.user_id, seg_start, seg_end, None, winner.pk)
        elif base is not None:
            users[base.user_id] = Shift(base.user_id, seg_start, seg_end, base.layer_id, None)
        adding = sorted((o for _, _, o in active if o.mode == OverrideMode.ADD), key=lambda o: (o.created_at, o.pk))
        for override in adding:
            users.setdefault(override.user_id, Shift(override.user_id, seg_start, seg_end, None, override.pk))
        pieces.extend(users.values())
    return _merge(pieces)


def _merge(pieces: Iterable[Shift]) -> list[Shift]:
    """Join touching pieces of one user from one source; sort by start, then user."""
    by_source: dict[tuple[int, int | None, int | None], list[Shift]] = defaultdict(list)
    for piece in pieces:
        by_source[(piece.user_id, piece.layer_id, piece.override_id)].append(piece)
    merged: list[Shift] = []
    for group in by_source.values():
        group.sort(key=lambda s: s.start)
        current = group[0]
        for piece in group[1:]:
            if piece.start <= current.end:
                current = Shift(current.user_id, current.start, max(current.end, piece.end), *current.source)
            else:
                merged.append(current)
                current = piece
        merged.append(current)
    merged.sort(key=lambda s: (s.start, s.user_id, s.end, s.layer_id or 0, s.override_id or 0))
    return merged


def final_shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call in ``schedule`` over ``[start, end)``: one ``Shift`` per piece, sorted by start then user.

    Three queries whatever the length of the range or the number of layers, turns and overrides.
    """
    _check_range(start, end)
    return _stack(_load([schedule.pk], start, end)[schedule.pk], start, end)


def schedules_final_shifts(schedules: Sequence[Schedule], start: datetime, end: datetime) -> dict[int, list[Shift]]:
    """``final_shifts`` of many schedules at once (three queries in all), keyed by schedule id."""
    _check_range(start, end)
    loaded = _load([s.pk for s in schedules], start, end)
    return {pk: _stack(data, start, end) for pk, data in loaded.items()}


@dataclass(frozen=True)
class Outlook:
    """A schedule seen from one moment: who is on call (user ids, layer or replacing override first, then added
    users), the next shift to begin, and the gaps over the horizon."""

    on_call: list[int]
    next: list[Shift]
    gaps: list[tuple[datetime, datetime]]


def schedules_outlook(schedules: Sequence[Schedule], at: datetime, horizon: timedelta) -> dict[int, Outlook]:
    """``who_is_on_call``, ``next_shifts(count=1)`` and ``schedule_gaps`` over ``[at, at + horizon)`` for many
    schedules from one load (three queries in all); only a schedule whose next shift is not over within the window
    (a week at least) is looked further ahead on its own."""
    gap_end = at + horizon
    window_end = max(gap_end, at + timedelta(days=7))
    _check_range(at, window_end)
    loaded = _load([s.pk for s in schedules], at, window_end)
    out: dict[int, Outlook] = {}
    for schedule in schedules:
        data = loaded[schedule.pk]
        shifts = _stack(data, at, window_end)
        added = {o.pk for o in data.overrides if o.mode == OverrideMode.ADD}
        now = sorted((s for s in shifts if s.start == at), key=lambda s: (s.override_id in added, s.user_id))
        upcoming = [s for s in shifts if s.start > at][:1]
        if not upcoming or upcoming[0].end >= window_end:
            upcoming = next_shifts(schedule, at, count=1)
        out[schedule.pk] = Outlook(
            on_call=list(dict.fromkeys(s.user_id for s in now)),
            next=upcoming,
            gaps=gaps_of((s for s in shifts if s.start < gap_end), at, gap_end),
        )
    return out


def who_is_on_call(schedule: Schedule, at: datetime) -> list[User]:
    """The users on call at ``at``: whoever the layers or a replacing override put there first, then users added by
    ADD overrides. An empty list is a gap."""
    end = at + ONE_MICROSECOND
    _check_range(at, end)
    data = _load([schedule.pk], at, end)[schedule.pk]
    added = {o.pk for o in data.overrides if o.mode == OverrideMode.ADD}
    shifts = sorted(_stack(data, at, end), key=lambda s: (s.override_id in added, s.user_id))
    ids = list(dict.fromkeys(s.user_id for s in shifts))
    users = User.objects.in_bulk(ids)
    return [users[pk] for pk in ids if pk in users]


def next_shifts(schedule: Schedule, after: datetime, count: int = 1) -> list[Shift]:
    """The next ``count`` shifts that begin after ``after`` (who comes next), whole (not cut at a search window)."""
    if count < 1:
        return []
    span = timedelta(days=7)
    while True:
        window_end = after + span
        shifts = [s for s in final_shifts(schedule, after, window_end) if s.start > after]
        chosen = shifts[:count]
        complete = len(chosen) == count and all(s.end < window_end for s in chosen)
        if complete or span >= NEXT_SHIFT_HORIZON:
            return chosen
        span = min(span * 4, NEXT_SHIFT_HORIZON)


def gaps_of(shifts: Iterable[Shift], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) no shift covers."""
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for lo, hi in intervals_union((s.start, s.end) for s in shifts):
        if lo > cursor:
            gaps.append((cursor, min(lo, end)))
        cursor = max(cursor, hi)
    if cursor < end:
        gaps.append((cursor, end))
    return [(lo, hi) for lo, hi in gaps if hi > lo]


def schedule_gaps(schedule: Schedule, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The intervals of ``[start, end)`` when nobody is on call in ``schedule``."""
    return gaps_of(final_shifts(schedule, start, end), start, end)


def user_shifts(user: User, start: datetime, end: datetime) -> list[tuple[Schedule, Shift]]:
    """The user's final shifts in every schedule over ``[start, end)``, sorted by start (for "my shifts" and the
    user's feed). Four queries: the schedules the user appears in, then their layers, turns and overrides."""
    _check_range(start, end)
    schedules = list(
        Schedule.objects.filter(
            Q(layers__turns__user=user) | Q(overrides__user=user, overrides__start__lt=end, overrides__end__gt=start)
        ).distinct()
    )
    by_id = {schedule.pk: schedule for schedule in schedules}
    found: list[tuple[Schedule, Shift]] = []
    for schedule_id, shifts in schedules_final_shifts(schedules, start, end).items():
        found.extend((by_id[schedule_id], shift) for shift in shifts if shift.user_id == user.pk)
    found.sort(key=lambda item: (item[1].start, item[0].name, item[1].end))
    return found
