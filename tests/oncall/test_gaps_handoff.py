"""Schedule gaps reported as alerts ahead of time (once per gap, resolved when filled), and hand-off notices sent
once per (schedule, user, shift start), also when two workers race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from apps.common.models import User
from apps.incidents.choices import IncidentStatus, Severity
from apps.incidents.models import Incident
from apps.incidents.services import payloads_sweep
from apps.oncall import notify, schedule_tasks
from apps.oncall.choices import DeliveryPurpose, DeliveryStatus, ShiftUnit
from apps.oncall.models import Delivery, HandoffNotice
from apps.oncall.schedule_tasks import GAP_ALERT, gap_dedup_key, handoff_notices_send, schedule_gaps_check
from tests.oncall.test_schedules import make_layer, make_override, make_schedule, utc

BUSINESS_HOURS = [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
FRIDAY_NOON = utc("2027-01-08 12:00")


def gap_incidents() -> list[Incident]:
    payloads_sweep(older_than=timedelta(0))  # process the raised alerts here, as the worker would
    return list(Incident.objects.filter(labels__alertname=GAP_ALERT).order_by("pk"))


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user(username="ann", display_name="Ann")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user(username="bob", display_name="Bob", time_zone="Europe/Lisbon")


@pytest.fixture
def two_days(configure: Callable[..., None]) -> None:
    configure(**{"oncall.gap_horizon_days": 2})


# --- gaps ---------------------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.usefixtures("two_days")
def test_a_gap_is_reported_once_however_often_the_check_runs(ann: User) -> None:
    schedule = make_schedule("payments primary")
    make_layer(schedule, [ann], start=utc("2027-01-04 00:00"), restrictions=BUSINESS_HOURS)
    assert schedule_gaps_check(now=FRIDAY_NOON) == {"raised": 1, "resolved": 0}
    [incident] = gap_incidents()
    assert incident.group_key == gap_dedup_key(schedule, utc("2027-01-08 17:00"))
    assert incident.labels["schedule"] == "payments primary"
    assert incident.labels["schedule_id"] == str(schedule.public_id)
    assert incident.labels["gap_start"] == "2027-01-08T17:00:00+00:00"
    assert incident.labels["source"] == "oncall"
    assert incident.severity == Severity.WARNING
    assert "payments primary" in incident.title
    for hours in (1, 2, 5):
        assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=hours)) == {"raised": 0, "resolved": 0}
    assert gap_incidents() == [incident]


@pytest.mark.django_db
@pytest.mark.usefixtures("two_days")
def test_each_gap_in_the_horizon_has_its_own_incident_and_covered_schedules_none(ann: User, bob: User) -> None:
    nights = [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "20:00", "end": "08:00"}]
    make_layer(make_schedule("nights"), [ann], start=utc("2027-01-04 00:00"), restrictions=nights)
    covered = make_schedule("covered")
    make_layer(covered, [bob], start=utc("2027-01-01 00:00"), unit=ShiftUnit.WEEKS)
    assert schedule_gaps_check(now=FRIDAY_NOON) == {"raised": 3, "resolved": 0}
    incidents = gap_incidents()
    assert [i.labels["gap_start"] for i in incidents] == [
        "2027-01-08T12:00:00+00:00",  # under way now
        "2027-01-09T08:00:00+00:00",
        "2027-01-10T08:00:00+00:00",  # cut at the horizon, Sunday noon
    ]
    assert [i.labels["gap_end"] for i in incidents][:2] == ["2027-01-08T20:00:00+00:00", "2027-01-09T20:00:00+00:00"]
    assert {i.labels["schedule"] for i in incidents} == {"nights"}


@pytest.mark.django_db
@pytest.mark.usefixtures("two_days")
def test_a_gap_filled_by_an_override_is_resolved_and_not_reported_again(ann: User, bob: User) -> None:
    schedule = make_schedule()
    make_layer(schedule, [ann], start=utc("2027-01-04 00:00"), restrictions=BUSINESS_HOURS)
    schedule_gaps_check(now=FRIDAY_NOON)
    [incident] = gap_incidents()
    make_override(schedule, bob, utc("2027-01-08 17:00"), utc("2027-01-11 09:00"))
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=1)) == {"raised": 0, "resolved": 1}
    assert gap_incidents() == [incident]
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=2)) == {"raised": 0, "resolved": 0}
    assert len(gap_incidents()) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("two_days")
def test_a_gap_made_shorter_is_reported_from_its_new_start(ann: User, bob: User) -> None:
    schedule = make_schedule()
    make_layer(schedule, [ann], start=utc("2027-01-04 00:00"), restrictions=BUSINESS_HOURS)
    schedule_gaps_check(now=FRIDAY_NOON)
    gap_incidents()
    make_override(schedule, bob, utc("2027-01-08 17:00"), utc("2027-01-09 09:00"))
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=1)) == {"raised": 1, "resolved": 1}
    old, new = gap_incidents()
    old.refresh_from_db()
    assert old.status == IncidentStatus.RESOLVED
    assert new.status == IncidentStatus.TRIGGERED
    assert new.group_key == gap_dedup_key(schedule, utc("2027-01-09 09:00"))


@pytest.mark.django_db
@pytest.mark.usefixtures("two_days")
def test_a_gap_under_way_keeps_its_incident_until_someone_is_on_call(ann: User) -> None:
    schedule = make_schedule("empty")
    assert schedule_gaps_check(now=FRIDAY_NOON) == {"raised": 1, "resolved": 0}
    [incident] = gap_incidents()
    assert incident.labels["gap_start"] == FRIDAY_NOON.isoformat()
    # An hour later the gap is seen from the new "now"; it is the same gap.
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=1)) == {"raised": 0, "resolved": 0}
    make_layer(schedule, [ann], start=FRIDAY_NOON + timedelta(hours=2), unit=ShiftUnit.WEEKS)
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=3)) == {"raised": 0, "resolved": 1}
    gap_incidents()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    schedule.delete()
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=4)) == {"raised": 0, "resolved": 0}


@pytest.mark.django_db
@pytest.mark.usefixtures("two_days")
def test_the_gap_of_a_deleted_schedule_is_resolved() -> None:
    schedule = make_schedule("short-lived")
    schedule_gaps_check(now=FRIDAY_NOON)
    [incident] = gap_incidents()
    schedule.delete()
    assert schedule_gaps_check(now=FRIDAY_NOON + timedelta(hours=1)) == {"raised": 0, "resolved": 1}
    gap_incidents()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED


def test_the_periodic_tasks_are_registered_under_their_names() -> None:
    from ecap_site.celery import app

    for name, function in (
        ("oncall.check_gaps", schedule_tasks.check_gaps),
        ("oncall.send_handoff_notices", schedule_tasks.send_handoff_notices),
    ):
        task = app.tasks[name]
        assert task.run.__module__ == "apps.oncall.schedule_tasks"
        assert task.run.__name__ == function.__name__
        assert task.acks_late


# --- hand-off notices ---------------------------------------------------------------------------------------------
def _daily(ann: User, bob: User, name: str = "primary") -> Any:
    schedule = make_schedule(name)
    make_layer(schedule, [ann, bob], start=utc("2027-01-04 09:00"))  # ann, then bob from 2027-01-05 09:00
    return schedule


@pytest.mark.django_db
def test_the_user_whose_shift_starts_soon_gets_one_notice_through_their_channels(
    ann: User, bob: User, make_contact: Callable[..., Any], pager: Any, sink: Any
) -> None:
    schedule = _daily(ann, bob)
    make_contact(bob, "webhook", f"{sink.url}/hook/bob")
    make_contact(bob, "sms", "+351910000000")  # SMS only when there is nothing else: not used here
    make_contact(ann, "webhook", f"{sink.url}/hook/ann")
    now = utc("2027-01-05 08:15")
    with pager.commit():
        assert handoff_notices_send(now=now) == 1
    [notice] = HandoffNotice.objects.all()
    assert (notice.schedule, notice.user, notice.shift_start) == (schedule, bob, utc("2027-01-05 09:00"))
    [delivery] = Delivery.objects.filter(purpose=DeliveryPurpose.HANDOFF)
    assert (delivery.user, delivery.kind) == (bob, "webhook")
    sent = pager.drain(now=now)
    assert [d.status for d in sent] == [DeliveryStatus.SENT]
    [received] = sink.requests("POST")
    assert received.path == "/hook/bob"
    body = received.json
    assert body["event"] == "handoff"
    # Bob reads Lisbon time (the same as UTC in January).
    assert body["subject"] == "Your on-call shift on primary starts Tue 2027-01-05 09:00 WET"
    assert "until Wed 2027-01-06 09:00 WET" in body["body"]
    assert body["payload"]["shift_start"] == "2027-01-05T09:00:00+00:00"
    assert body["payload"]["schedule"] == str(schedule.public_id)
    # Every later run in the window sends nothing more.
    for minutes in (5, 30, 44):
        with pager.commit():
            assert handoff_notices_send(now=now + timedelta(minutes=minutes)) == 0
    assert Delivery.objects.filter(purpose=DeliveryPurpose.HANDOFF).count() == 1
    assert pager.drain(now=now) == []


@pytest.mark.django_db
def test_only_shifts_starting_within_the_notice_window_are_announced(
    ann: User, bob: User, configure: Callable[..., None]
) -> None:
    _daily(ann, bob)
    assert handoff_notices_send(now=utc("2027-01-05 07:59")) == 0  # 61 minutes ahead: not yet
    assert handoff_notices_send(now=utc("2027-01-05 09:00")) == 0  # started: too late, and ann's is running
    configure(**{"oncall.handoff_notice_minutes": 180})
    assert handoff_notices_send(now=utc("2027-01-05 06:00")) == 1
    assert HandoffNotice.objects.get().user == bob


@pytest.mark.django_db
def test_no_notice_when_the_user_is_already_on_call_just_before(ann: User, bob: User) -> None:
    schedule = _daily(ann, bob)
    make_override(schedule, bob, utc("2027-01-05 08:00"), utc("2027-01-05 09:00"))  # bob takes ann's last hour
    assert handoff_notices_send(now=utc("2027-01-05 07:30")) == 1
    assert HandoffNotice.objects.get().shift_start == utc("2027-01-05 08:00")
    # At 08:30 bob's layer shift starts within the hour, but bob has been on call since 08:00: nothing new.
    assert handoff_notices_send(now=utc("2027-01-05 08:30")) == 0
    assert HandoffNotice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_one_notice(
    ann: User, bob: User, make_contact: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _daily(ann, bob)
    make_contact(bob, "email", "bob@example.test")
    monkeypatch.setattr(notify, "publish_send", lambda delivery_id, countdown=None: None)
    real = notify.notice_send
    entered = threading.Event()

    def held_notice_send(**kwargs: Any) -> Any:
        # The first worker holds its uncommitted HandoffNotice row until the second is waiting on it.
        entered.set()
        with connection.cursor() as cursor:
            for _ in range(600):
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.05)
            else:
                pytest.fail("the second worker never waited for the first one's row")
        return real(**kwargs)

    monkeypatch.setattr(notify, "notice_send", held_notice_send)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(handoff_notices_send(now=utc("2027-01-05 08:30")))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert entered.is_set()
    assert sorted(results) == [0, 1]
    assert HandoffNotice.objects.count() == 1
    assert Delivery.objects.filter(purpose=DeliveryPurpose.HANDOFF, user=bob).count() == 1
