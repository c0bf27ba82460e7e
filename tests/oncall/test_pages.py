"""The on-call pages under /oncall/: now and next, my shifts, my open incidents with acknowledge and resolve, a
schedule's week with its overrides, and my contact methods and rules (masked, audited when revealed)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.common.models import User
from apps.incidents.choices import IncidentStatus
from apps.incidents.models import Incident
from apps.oncall import services
from apps.oncall.choices import ContactKind, DeliveryPurpose, DeliveryStatus, ShiftUnit
from apps.oncall.models import ContactMethod, Delivery, NotificationRule, Override, Schedule
from apps.oncall.selectors import week_view
from apps.oncall.services import LayerIn

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def me(make_user: Callable[..., User]) -> User:
    return make_user(username="oli", role="oncall_engineer", display_name="Oli On-call", time_zone="Europe/Lisbon")


@pytest.fixture
def browser(me: User) -> Client:
    client = Client()
    client.force_login(me)
    return client


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user(username="ann", role="oncall_engineer", display_name="Ann Alder")


def daily(people: list[User], name: str = "Primary", start: datetime | None = None) -> Schedule:
    return services.schedule_create(
        name=name,
        time_zone="America/Los_Angeles",
        layers=[
            LayerIn(
                name="Daily rotation",
                rotation_start=start or datetime(2026, 1, 5, 9, tzinfo=LA),
                members=people,
                time_zone="America/Los_Angeles",
                shift_unit=ShiftUnit.DAYS,
            )
        ],
    )


def login_as(make_user: Callable[..., User], role: str | None) -> Client:
    client = Client()
    client.force_login(make_user(role=role))
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


# --- access -----------------------------------------------------------------------------------------------------
def test_pages_need_login_and_the_view_permission(make_user: Callable[..., User]) -> None:
    anonymous = Client().get("/oncall/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")
    nobody = login_as(make_user, None)
    for path in ("/oncall/", "/oncall/me/shifts/", "/oncall/me/incidents/", "/oncall/me/contact/"):
        response = nobody.get(path)
        assert response.status_code == 403, path
        assert "need the permission to view schedules" in text(response)


def test_the_navigation_links_to_on_call_for_those_who_may_read_it(browser: Client, make_user) -> None:
    assert 'href="/oncall/"' in browser.get("/").content.decode()
    assert 'href="/oncall/"' not in login_as(make_user, "compliance_officer").get("/").content.decode()


# --- overview ---------------------------------------------------------------------------------------------------
def test_overview_shows_who_is_on_call_now_and_next_and_flags_gaps(browser: Client, me: User, ann: User) -> None:
    schedule = daily([me, ann])
    services.schedule_create(name="Nobody yet")
    page = browser.get("/oncall/")
    assert page.status_code == 200
    rows = {row.schedule.name: row for row in page.context["rows"]}
    assert rows["Nobody yet"].gap_now is True
    now_user = rows["Primary"].on_call[0]
    assert now_user in (me, ann)
    assert rows["Primary"].next[0].user not in (now_user, None)
    body = text(page)
    assert f'href="/oncall/schedules/{schedule.public_id}/"' in body
    assert "Nobody</span>" in body
    assert "Covered" in body
    assert body.count('class="row-gap"') == 1


# --- my shifts --------------------------------------------------------------------------------------------------
def test_my_shifts_are_listed_in_my_time_zone_with_my_feed(browser: Client, me: User, ann: User) -> None:
    tomorrow = timezone.localtime(timezone.now(), LA).date() + timedelta(days=1)
    daily([me, ann], start=datetime.combine(tomorrow, datetime.min.time(), tzinfo=LA).replace(hour=9))
    page = browser.get("/oncall/me/shifts/")
    assert page.status_code == 200
    rows = page.context["rows"]
    # Every other day over the next 14 days, starting tomorrow: mine only, never Ann's.
    assert len(rows) == 7
    assert {r.row.user for r in rows} == {me}
    assert {r.row.start.astimezone(LA).hour for r in rows} == {9}
    # The 09:00 Los Angeles hand-off shown in my zone (Lisbon), not the schedule's.
    first = rows[0].row.start.astimezone(ZoneInfo("Europe/Lisbon"))
    assert first.strftime("%Y-%m-%d %H:%M") in text(page)
    assert page.context["shown_tz"] == "Europe/Lisbon"
    feed_url = page.context["feed_url"]
    assert feed_url in text(page)
    feed = Client().get(feed_url.removeprefix("http://testserver"))
    assert feed.status_code == 200
    assert b"BEGIN:VCALENDAR" in feed.content
    assert b"Primary" in feed.content


# --- my open incidents ------------------------------------------------------------------------------------------
@pytest.fixture
def paged_incident(make_incident, me: User) -> Incident:
    incident = make_incident(title="PaymentProcessingFailure on payments")
    method = ContactMethod.objects.create(user=me, kind=ContactKind.EMAIL, address="oli@example.com")
    Delivery.objects.create(
        incident=incident,
        user=me,
        contact_method=method,
        kind=ContactKind.EMAIL,
        dedup_key=f"page:{incident.pk}:oli",
        due_at=timezone.now(),
        status=DeliveryStatus.SENT,
    )
    return incident


def test_my_open_incidents_are_those_assigned_to_me_or_that_paged_me(
    browser: Client, me: User, ann: User, make_incident, paged_incident: Incident
) -> None:
    assigned = make_incident(title="StreamingJobFailure", assignee=me)
    make_incident(title="Someone else's", assignee=ann)
    make_incident(title="Closed", assignee=me, status=IncidentStatus.RESOLVED, resolved_at=timezone.now())
    page = browser.get("/oncall/me/incidents/")
    assert [i.pk for i in page.context["incidents"]] == [assigned.pk, paged_incident.pk]
    body = text(page)
    assert "Someone else&#x27;s" not in body
    assert "Closed" not in body
    assert f"/oncall/me/incidents/{paged_incident.public_id}/acknowledge/" in body


def test_acknowledge_and_resolve_from_the_page(browser: Client, paged_incident: Incident, me: User) -> None:
    done = browser.post(f"/oncall/me/incidents/{paged_incident.public_id}/acknowledge/", follow=True)
    paged_incident.refresh_from_db()
    assert (paged_incident.status, paged_incident.acknowledged_by) == (IncidentStatus.ACKNOWLEDGED, me)
    assert f"Incident #{paged_incident.pk} acknowledged." in text(done)
    again = browser.post(f"/oncall/me/incidents/{paged_incident.public_id}/acknowledge/", follow=True)
    assert "nothing changed" in text(again)
    assert "already acknowledged" in text(again)
    browser.post(f"/oncall/me/incidents/{paged_incident.public_id}/resolve/", {"resolution": "Gateway failed over"})
    paged_incident.refresh_from_db()
    assert (paged_incident.status, paged_incident.resolution) == (IncidentStatus.RESOLVED, "Gateway failed over")
    gone = browser.post(f"/oncall/me/incidents/{paged_incident.public_id}/resolve/")
    assert gone.status_code == 404  # no longer one of my open incidents


def test_incident_actions_need_post_csrf_and_my_incident(me: User, ann: User, make_incident, paged_incident) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(me)
    assert strict.post(f"/oncall/me/incidents/{paged_incident.public_id}/acknowledge/").status_code == 403
    assert strict.get(f"/oncall/me/incidents/{paged_incident.public_id}/acknowledge/").status_code == 405
    others = make_incident(title="Ann's", assignee=ann)
    client = Client()
    client.force_login(me)
    assert client.post(f"/oncall/me/incidents/{others.public_id}/acknowledge/").status_code == 404
    assert client.post(f"/oncall/me/incidents/{paged_incident.public_id}/delete/").status_code == 404
    paged_incident.refresh_from_db()
    others.refresh_from_db()
    assert paged_incident.status == others.status == IncidentStatus.TRIGGERED


# --- a schedule's week ------------------------------------------------------------------------------------------
def test_the_week_view_has_a_row_per_layer_overrides_and_final_in_the_schedules_zone(
    browser: Client, me: User, ann: User
) -> None:
    schedule = daily([me, ann])
    services.override_create(
        schedule=schedule,
        user=ann,
        start=datetime(2026, 3, 4, 12, tzinfo=LA),
        end=datetime(2026, 3, 4, 18, tzinfo=LA),
        reason="Dentist",
        now=datetime(2026, 3, 1, tzinfo=LA),
    )
    page = browser.get(f"/oncall/schedules/{schedule.public_id}/", {"week": "2026-03-04"})
    assert page.status_code == 200
    week = page.context["week"]
    assert week.monday == date(2026, 3, 2)
    assert week.start == datetime(2026, 3, 2, tzinfo=LA)
    assert week.days[0].date == date(2026, 3, 2)
    assert week.days[6].date == date(2026, 3, 8)
    assert [(r.title, r.kind) for r in week.rows] == [
        ("Daily rotation", "layer"), ("Overrides", "overrides"), ("Final", "final"),
    ]  # fmt: skip
    assert len(week.rows[0].bars) == 8  # a daily 09:00 hand-off: 8 pieces in a Monday-to-Monday week
    assert [b.label for b in week.rows[1].bars] == ["Ann Alder (Instead of whoever is on call)"]
    body = text(page)
    assert "?week=2026-02-23" in body
    assert "?week=2026-03-09" in body
    assert f"/oncall/feeds/schedule/{schedule.feed_token}.ics" in body
    assert "Wed 2026-03-04 12:00" in body  # the override, in Los Angeles time
    assert "Dentist" in body


def test_the_week_of_a_spring_forward_sunday_is_an_hour_shorter(me: User, ann: User) -> None:
    schedule = daily([me, ann])
    view = week_view(schedule=schedule, monday=date(2026, 3, 2))  # clocks go forward on Sunday 2026-03-08
    assert view.end.astimezone(UTC) - view.start.astimezone(UTC) == timedelta(hours=167)
    sunday, monday = view.days[6], view.days[0]
    assert sunday.width < monday.width
    assert round(sunday.width / monday.width, 4) == round(23 / 24, 4)
    final = [r for r in view.final if r.start >= datetime(2026, 3, 7, 9, tzinfo=LA)]
    assert final[0].end.astimezone(UTC) - final[0].start.astimezone(UTC) == timedelta(hours=23)
    assert final[0].end.astimezone(LA).hour == 9  # the daily hand-off stays at 09:00 local


def test_an_override_is_created_from_the_form_in_the_schedules_zone(browser: Client, me: User, ann: User) -> None:
    schedule = daily([me])
    start = (timezone.localtime(timezone.now(), LA) + timedelta(days=2)).replace(hour=10, minute=0, second=0)
    form = browser.get(f"/oncall/schedules/{schedule.public_id}/overrides/new/")
    assert form.status_code == 200
    assert "America/Los_Angeles" in text(form)
    done = browser.post(
        f"/oncall/schedules/{schedule.public_id}/overrides/new/",
        {
            "user": ann.pk,
            "start": start.strftime("%Y-%m-%dT%H:%M"),
            "end": (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "mode": "replace",
            "reason": "Swap",
        },
        follow=True,
    )
    override = Override.objects.get(schedule=schedule)
    assert override.start == start.replace(microsecond=0)
    assert override.created_by == me
    assert override.end - override.start == timedelta(hours=3)
    assert "Override added: Ann Alder" in text(done)
    assert done.context["week"].monday == start.date() - timedelta(days=start.weekday())


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2099-01-02T10:00", "2099-01-02T09:00", "The end must be after the start."),
        ("2020-01-02T10:00", "2020-01-02T12:00", "The override would be over already."),
        ("2099-03-08T02:30", "2099-03-08T05:00", "2099-03-08 02:30"),  # skipped by the spring-forward change
        ("next week", "2099-03-08T05:00", "Enter a valid date/time."),
    ],
)
def test_a_bad_override_shows_the_error_in_the_form(browser: Client, me: User, start, end, message) -> None:
    schedule = daily([me])
    response = browser.post(
        f"/oncall/schedules/{schedule.public_id}/overrides/new/",
        {"user": me.pk, "start": start, "end": end, "mode": "replace"},
    )
    assert response.status_code == 400
    assert message in text(response)
    assert 'class="field-error"' in text(response)
    assert not Override.objects.exists()


def test_overrides_are_deleted_by_those_allowed_and_not_by_readers(
    browser: Client, me: User, ann: User, make_user
) -> None:
    schedule = daily([me])
    start = timezone.now() + timedelta(days=1)
    override = services.override_create(schedule=schedule, user=ann, start=start, end=start + timedelta(hours=2))
    url = f"/oncall/schedules/{schedule.public_id}/overrides/{override.public_id}/delete/"
    reader = login_as(make_user, "integrator")
    page = reader.get(f"/oncall/schedules/{schedule.public_id}/")
    assert page.status_code == 200
    assert url not in text(page)
    assert "New override" not in text(page)
    assert reader.post(url).status_code == 403
    assert reader.get(f"/oncall/schedules/{schedule.public_id}/overrides/new/").status_code == 403
    assert Override.objects.filter(pk=override.pk).exists()
    browser.post(url)
    assert not Override.objects.filter(pk=override.pk).exists()


# --- contact methods and rules ----------------------------------------------------------------------------------
def test_contact_addresses_are_masked_and_revealing_one_is_audited(browser: Client, me: User) -> None:
    sms = services.contact_method_create(user=me, kind=ContactKind.SMS, address="+14155554567")
    page = browser.get("/oncall/me/contact/")
    assert "+1••••••4567" in text(page)
    assert "+14155554567" not in text(page)
    before = AuditEvent.objects.filter(action="read").count()
    revealed = browser.post(f"/oncall/me/contact/methods/{sms.public_id}/reveal/")
    assert "+14155554567" in text(revealed)
    reads = AuditEvent.objects.filter(action="read").order_by("-id")
    assert reads.count() == before + 1
    assert reads[0].details["fields"] == ["address"]
    assert reads[0].purpose == "oncall: own contact method"


def test_someone_elses_contact_method_is_not_found(browser: Client, ann: User) -> None:
    anns = services.contact_method_create(user=ann, kind=ContactKind.EMAIL, address="ann@example.com")
    assert browser.post(f"/oncall/me/contact/methods/{anns.public_id}/reveal/").status_code == 404
    assert browser.post(f"/oncall/me/contact/methods/{anns.public_id}/delete/").status_code == 404
    assert ContactMethod.objects.filter(pk=anns.pk).exists()


def test_adding_a_bad_contact_method_shows_the_error(browser: Client, me: User) -> None:
    response = browser.post("/oncall/me/contact/methods/", {"kind": "sms", "address": "555-0142"})
    assert response.status_code == 400
    assert "Not an E.164 phone number" in text(response)
    assert not ContactMethod.objects.exists()


def test_methods_and_rules_are_added_and_removed(browser: Client, me: User) -> None:
    browser.post("/oncall/me/contact/methods/", {"kind": "email", "address": "oli@example.com", "label": "Work"})
    method = ContactMethod.objects.get(user=me)
    browser.post(
        "/oncall/me/contact/rules/", {"contact_method": method.public_id, "delay_minutes": 5, "urgency": "any"}
    )
    rule = NotificationRule.objects.get(user=me)
    assert (rule.contact_method, rule.delay_minutes) == (method, 5)
    page = browser.get("/oncall/me/contact/")
    assert "5 min" in text(page)
    assert "o•••@example.com" in text(page)
    duplicate = browser.post(
        "/oncall/me/contact/rules/", {"contact_method": method.public_id, "delay_minutes": 5, "urgency": "any"}
    )
    assert duplicate.status_code == 400
    assert "already has a rule" in text(duplicate)
    browser.post(f"/oncall/me/contact/rules/{rule.public_id}/delete/")
    assert not NotificationRule.objects.exists()
    browser.post(f"/oncall/me/contact/methods/{method.public_id}/delete/")
    assert not ContactMethod.objects.exists()


def test_readers_see_their_page_without_forms_and_cannot_add(make_user) -> None:
    reader = login_as(make_user, "integrator")
    page = reader.get("/oncall/me/contact/")
    assert page.status_code == 200
    assert "Add a contact method" not in text(page)
    refused = reader.post("/oncall/me/contact/methods/", {"kind": "email", "address": "i@example.com"})
    assert refused.status_code == 403
    assert not ContactMethod.objects.exists()


def test_a_test_message_reaches_the_recording_sink(browser: Client, me: User, sink, pager) -> None:
    services.contact_method_create(user=me, kind=ContactKind.SLACK, address=f"{sink.url}/hook/slack")
    with pager.commit():
        done = browser.post("/oncall/me/contact/test/", follow=True)
    assert "Test message queued" in text(done)
    sent = pager.drain()
    assert [(d.purpose, d.status) for d in sent] == [(DeliveryPurpose.TEST, DeliveryStatus.SENT)]
    (received,) = sink.requests("POST")
    assert received.path == "/hook/slack"
    assert "Test message from the ECAP on-call pages" in received.json["text"]
    assert "Oli On-call asked for this test message" in received.json["text"]
