"""The secret iCal feeds: the events they list (parsed back with icalendar), stable UIDs, the views without login,
unknown and rotated tokens, and tokens kept out of the logs."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from apps.common.errors import DomainError
from apps.common.logging import MASK, mask_secret_paths
from apps.common.models import User
from apps.oncall.calendar import feed_rotate, schedule_feed, user_feed, user_feed_token
from apps.oncall.choices import ShiftUnit
from apps.oncall.models import Schedule, UserFeed
from tests.oncall.test_schedules import make_layer, make_override, make_schedule, utc

pytestmark = pytest.mark.django_db

NOW = utc("2027-03-10 12:00")


def events(body: bytes) -> list[dict]:
    calendar = Calendar.from_ical(body)
    return [
        {
            "uid": str(event["UID"]),
            "summary": str(event["SUMMARY"]),
            "start": event.decoded("DTSTART"),
            "end": event.decoded("DTEND"),
        }
        for event in calendar.walk("VEVENT")
    ]


@pytest.fixture
def pair(make_user: Callable[..., User]) -> tuple[User, User]:
    return make_user(username="ann", display_name="Ann Archer"), make_user(username="bob", display_name="")


@pytest.fixture
def weekly(pair: tuple[User, User]) -> Schedule:
    schedule = make_schedule("payments primary", time_zone="America/Los_Angeles")
    make_layer(schedule, list(pair), start=utc("2027-01-04 17:00"), unit=ShiftUnit.WEEKS, zone="America/Los_Angeles")
    return schedule


def test_schedule_feed_lists_every_shift_from_a_week_back_to_sixty_days_ahead(
    weekly: Schedule, pair: tuple[User, User]
) -> None:
    bob = pair[1]
    override = make_override(weekly, bob, utc("2027-03-20 00:00"), utc("2027-03-21 00:00"))
    body = schedule_feed(weekly, now=NOW)
    calendar = Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == "On call: payments primary"
    assert str(calendar["VERSION"]) == "2.0"
    found = events(body)
    # Monday 09:00 Pacific hand-offs: 17:00 UTC in winter, 16:00 UTC from 2027-03-14.
    assert found[0]["start"] == NOW - timedelta(days=7)  # the shift under way a week ago, cut at the window
    assert found[0]["end"] == utc("2027-03-08 17:00")
    assert found[1]["start"] == utc("2027-03-08 17:00")
    assert found[2]["start"] == utc("2027-03-15 16:00")
    assert found[-1]["end"] == NOW + timedelta(days=60)
    assert all(e["start"].tzinfo is not None and e["start"].utcoffset() == timedelta(0) for e in found)
    # Weeks alternate ann, bob; bob's override cuts ann's week of 2027-03-15 in two.
    assert [e["summary"] for e in found[:5]] == ["Ann Archer", "bob", "Ann Archer", "bob", "Ann Archer"]
    replaced = [e for e in found if e["start"] == override.start]
    assert [(e["summary"], e["end"]) for e in replaced] == [("bob", override.end)]
    assert len({e["uid"] for e in found}) == len(found)
    # Every instant of the window is in exactly one event: nothing missing, nothing doubled.
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(found))
    assert b"DTSTART:20270315T160000Z" in body


def test_uids_stay_the_same_when_the_feed_is_read_later(weekly: Schedule) -> None:
    today = {e["start"]: e["uid"] for e in events(schedule_feed(weekly, now=NOW))}
    tomorrow = events(schedule_feed(weekly, now=NOW + timedelta(days=1)))
    later = {e["start"]: e["uid"] for e in tomorrow}
    shared = set(today) & set(later)
    assert len(shared) >= 8
    assert all(today[start] == later[start] for start in shared)
    # The shift cut at the window's start keeps its UID although its visible start moved by a day.
    assert events(schedule_feed(weekly, now=NOW))[0]["uid"] == tomorrow[0]["uid"]
    assert tomorrow[0]["uid"].endswith("-open@oncall.ecap")


def test_user_feed_lists_the_users_shifts_in_every_schedule(pair: tuple[User, User], weekly: Schedule) -> None:
    ann, bob = pair
    other = make_schedule("warehouse")
    make_override(other, ann, utc("2027-03-12 00:00"), utc("2027-03-12 08:00"))
    make_override(weekly, bob, utc("2027-03-16 00:00"), utc("2027-03-16 12:00"))  # in ann's week: not hers
    body = user_feed(ann, now=NOW)
    assert str(Calendar.from_ical(body)["X-WR-CALNAME"]) == "On-call shifts of Ann Archer"
    found = events(body)
    assert [(e["summary"], e["start"], e["end"]) for e in found[:4]] == [
        ("On call: payments primary", utc("2027-03-03 12:00"), utc("2027-03-08 17:00")),
        ("On call: warehouse", utc("2027-03-12 00:00"), utc("2027-03-12 08:00")),
        ("On call: payments primary", utc("2027-03-15 16:00"), utc("2027-03-16 00:00")),
        ("On call: payments primary", utc("2027-03-16 12:00"), utc("2027-03-22 16:00")),
    ]
    assert all("bob" not in e["summary"] for e in found)


def test_feeds_answer_without_login_as_text_calendar(client: Client, weekly: Schedule, pair: tuple[User, User]) -> None:
    response = client.get(reverse("oncall:feed-schedule", kwargs={"token": weekly.feed_token}))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert str(Calendar.from_ical(response.content)["X-WR-CALNAME"]) == "On call: payments primary"
    assert events(response.content)
    token = user_feed_token(pair[0])
    assert token == user_feed_token(pair[0])  # created once, then the same
    url = reverse("oncall:feed-user", kwargs={"token": token})
    assert url == f"/oncall/feeds/user/{token}.ics"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert str(Calendar.from_ical(response.content)["X-WR-CALNAME"]) == "On-call shifts of Ann Archer"
    assert client.head(url).status_code == 200  # some calendar clients check with HEAD first
    assert client.post(url).status_code == 405


@pytest.mark.parametrize("kind", ["schedule", "user"])
def test_unknown_tokens_are_not_found(client: Client, weekly: Schedule, kind: str) -> None:
    response = client.get(f"/oncall/feeds/{kind}/not-a-real-token.ics")
    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content
    assert client.get(f"/oncall/feeds/{kind}/.ics").status_code == 404


def test_the_feed_of_a_deactivated_user_is_gone(client: Client, pair: tuple[User, User]) -> None:
    ann = pair[0]
    url = reverse("oncall:feed-user", kwargs={"token": user_feed_token(ann)})
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    assert client.get(url).status_code == 404


def test_rotating_a_schedule_feed_revokes_the_old_url(client: Client, weekly: Schedule) -> None:
    old_url = reverse("oncall:feed-schedule", kwargs={"token": weekly.feed_token})
    assert client.get(old_url).status_code == 200
    new_token = feed_rotate(schedule=weekly)
    assert weekly.feed_token == new_token
    assert Schedule.objects.get(pk=weekly.pk).feed_token == new_token
    assert client.get(old_url).status_code == 404
    assert client.get(reverse("oncall:feed-schedule", kwargs={"token": new_token})).status_code == 200


def test_rotating_a_user_feed_revokes_the_old_url(client: Client, pair: tuple[User, User]) -> None:
    ann, bob = pair
    old_url = reverse("oncall:feed-user", kwargs={"token": user_feed_token(ann)})
    new_token = feed_rotate(user=ann)
    assert UserFeed.objects.get(user=ann).token == new_token
    assert client.get(old_url).status_code == 404
    assert client.get(reverse("oncall:feed-user", kwargs={"token": new_token})).status_code == 200
    # A user without a feed yet gets one.
    assert not UserFeed.objects.filter(user=bob).exists()
    bob_token = feed_rotate(user=bob)
    assert UserFeed.objects.get(user=bob).token == bob_token
    with pytest.raises(DomainError):
        feed_rotate()


def test_feed_tokens_never_reach_the_logs(
    client: Client, weekly: Schedule, pair: tuple[User, User], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("django_structlog", "django.request", "django.server"):  # quieter than DEBUG in the test settings
        caplog.set_level(logging.DEBUG, logger=name)
    user_token = user_feed_token(pair[0])
    client.get(reverse("oncall:feed-schedule", kwargs={"token": weekly.feed_token}))
    client.get(reverse("oncall:feed-user", kwargs={"token": user_token}))
    client.get("/oncall/feeds/schedule/leaked-old-token-0123456789.ics")
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "request_started" in logged  # the request lines were logged, with the token masked
    assert f"/oncall/feeds/schedule/{MASK}.ics" in logged
    for token in (weekly.feed_token, user_token, "leaked-old-token-0123456789"):
        assert token not in logged


def test_only_the_token_of_a_feed_path_is_masked() -> None:
    assert mask_secret_paths("GET /oncall/feeds/user/abc_DEF-123.ics?x=1") == f"GET /oncall/feeds/user/{MASK}.ics?x=1"
    assert mask_secret_paths("GET /oncall/") == "GET /oncall/"


def test_the_window_is_whole_seconds_in_utc() -> None:
    from apps.oncall.calendar import feed_window

    start, end = feed_window(datetime(2027, 3, 10, 12, 0, 0, 123456, tzinfo=UTC))
    assert (start, end) == (utc("2027-03-03 12:00"), utc("2027-05-09 12:00"))
