"""The escalation engine on PostgreSQL: snapshot at trigger, first page at once, escalation on schedule (time driven
by explicit ``now``), stop on acknowledge, fencing tokens, steps interrupted mid-way, races, business hours."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.incidents import signals
from apps.incidents.lifecycle import (
    incident_acknowledge,
    incident_escalate,
    incident_reassign,
    incident_unacknowledge,
)
from apps.incidents.models import AlertPayload, Incident
from apps.incidents.services import payload_process
from apps.oncall import engine, notify, schedules
from apps.oncall.choices import DeliveryStatus, EscalationStatus, StopReason
from apps.oncall.models import Delivery, Escalation, EscalationStep, Layer, LayerMember, Override
from tests.incidents.conftest import am_alert, am_payload
from tests.oncall.conftest import deliveries, timeline

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 07:00 in Los Angeles


@pytest.fixture
def people(make_user, make_contact):
    """alice: e-mail at once, SMS after 5 min; bob and carol: e-mail (no rules: every method at once)."""
    alice, bob, carol = (make_user(role="oncall_engineer", username=n) for n in ("alice", "bob", "carol"))
    make_contact(alice, "email", "alice@example.test", delay=0)
    make_contact(alice, "sms", "+15550000001", delay=5)
    make_contact(bob, "email", "bob@example.test")
    make_contact(carol, "email", "carol@example.test")
    return alice, bob, carol


def trigger(pager, incident: Incident, now: datetime = T0) -> Escalation | None:
    with pager.commit():
        escalation = engine.escalation_start(incident_id=incident.pk, now=now)
    pager.drain(now)
    return escalation


def sweep(pager, now: datetime) -> int:
    with pager.commit():
        claimed = engine.sweep_escalations(now=now)
        notify.sweep_deliveries(now=now)
    pager.drain(now)
    return claimed


def paged(incident: Incident) -> list[tuple[str, str, int, str]]:
    return [(d.user.username, d.kind, d.step_index, d.status) for d in deliveries(incident)]


def test_trigger_snapshots_the_policy_and_pages_the_first_step_at_once(
    people, pager, make_policy, make_incident, make_team
) -> None:
    alice, bob, carol = people
    team = make_team("sre", [bob, carol])
    make_policy("critical", [("users", [alice]), ("wait", 5), ("team", team)], repeat_count=1)
    incident = make_incident()

    with pager.commit():  # the incidents app sends the signal after commit
        signals.incident_triggered.send(sender=Incident, incident_id=incident.pk)
    assert len(pager.steps) == 1
    pager.drain()

    escalation = Escalation.objects.get(incident=incident)
    assert escalation.snapshot["steps"] == [
        {"kind": "notify_users", "position": 0, "users": [alice.pk]},
        {"kind": "wait", "position": 1, "wait_minutes": 5},
        {"kind": "notify_team", "position": 2, "team": "sre", "users": sorted([bob.pk, carol.pk])},
    ]
    assert escalation.snapshot["repeat_count"] == 1
    assert (escalation.status, escalation.step_index) == ("active", 2)
    assert paged(incident) == [("alice", "email", 0, "sent"), ("alice", "sms", 0, "pending")]
    assert escalation.due_at == deliveries(incident, kind="sms")[0].due_at
    assert [m.to for m in mail.outbox] == [["alice@example.test"]]
    assert ("paged", "Paged alice (email, sms after 5 min) — step 1.") in timeline(incident)


def test_unanswered_page_escalates_on_schedule_then_repeats_then_is_exhausted(
    people, pager, make_policy, make_incident, sink
) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [bob]), ("wait", 10)], repeat_count=1)
    incident = make_incident()
    trigger(pager, incident)

    assert sweep(pager, T0 + timedelta(minutes=4, seconds=59)) == 0
    assert [d for d in paged(incident) if d[0] == "bob"] == []
    sweep(pager, T0 + timedelta(minutes=5))  # bob's step, and alice's SMS rule falls due
    assert paged(incident) == [("alice", "email", 0, "sent"), ("alice", "sms", 0, "sent"), ("bob", "email", 2, "sent")]

    sweep(pager, T0 + timedelta(minutes=15))  # the repeat: attempt 1
    assert [(d.user.username, d.step_index, d.attempt) for d in deliveries(incident, kind="email")] == [
        ("alice", 0, 0),
        ("bob", 2, 0),
        ("alice", 0, 1),
    ]
    sweep(pager, T0 + timedelta(minutes=20))
    sweep(pager, T0 + timedelta(minutes=30))
    escalation = Escalation.objects.get(incident=incident)
    assert escalation.status == EscalationStatus.EXHAUSTED
    assert escalation.cycle == 1
    assert len(deliveries(incident, kind="email")) == 4
    assert any("Escalation exhausted" in m for _, m in timeline(incident))
    assert sweep(pager, T0 + timedelta(hours=2)) == 0  # nothing left to claim


def test_acknowledge_stops_every_pending_step_and_delayed_delivery(people, pager, make_policy, make_incident) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [bob])])
    incident = make_incident()
    trigger(pager, incident)
    token_before = Escalation.objects.get(incident=incident).fencing_token

    with pager.commit():
        incident_acknowledge(incident=incident, actor=alice)

    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.status, escalation.stop_reason) == (EscalationStatus.STOPPED, StopReason.ACKNOWLEDGED)
    assert escalation.fencing_token == token_before + 1
    assert paged(incident) == [("alice", "email", 0, "sent"), ("alice", "sms", 0, "cancelled")]
    assert sweep(pager, T0 + timedelta(hours=1)) == 0
    assert paged(incident) == [("alice", "email", 0, "sent"), ("alice", "sms", 0, "cancelled")]
    assert len(mail.outbox) == 1
    assert any(k == "note" and m.startswith("Paging stopped (acknowledged); 1 pending") for k, m in timeline(incident))


def test_a_duplicate_step_task_and_a_stale_token_do_nothing(people, pager, make_policy, make_incident) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [bob])])
    incident = make_incident()
    with pager.commit():
        escalation = engine.escalation_start(incident_id=incident.pk, now=T0)
    assert escalation is not None
    (escalation_id, token) = pager.steps[0]
    pager.steps.append((escalation_id, token))  # the broker delivers the task twice
    pager.drain(T0)
    assert paged(incident) == [("alice", "email", 0, "sent"), ("alice", "sms", 0, "pending")]
    assert Escalation.objects.get(pk=escalation_id).step_index == 2  # the duplicate did not run bob's step early

    # A claim whose worker is presumed lost is claimed again with a new token; the old token then does nothing.
    later = T0 + timedelta(minutes=5)
    with pager.commit():
        assert engine.sweep_escalations(now=later) == 1
    new_id, new_token = pager.steps.pop()
    assert new_token == token + 1
    assert engine.step_run(escalation_id=escalation_id, token=token, now=later) is None
    with pager.commit():
        engine.step_run(escalation_id=new_id, token=new_token, now=later)
    pager.drain(later)
    assert [d for d in paged(incident) if d[0] == "bob"] == [("bob", "email", 2, "sent")]


def test_a_step_interrupted_midway_is_run_again_after_the_lease_without_a_second_page(
    people, pager, make_policy, make_incident, monkeypatch
) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("users", [bob])])
    incident = make_incident()
    real = notify.pages_create
    calls = {"n": 0}

    def crash_after_first_inserts(**kwargs):
        calls["n"] += 1
        result = real(**kwargs)
        if calls["n"] == 2:  # alice's rows are inserted, bob's too: then the worker dies
            raise RuntimeError("worker lost")
        return result

    monkeypatch.setattr(notify, "pages_create", crash_after_first_inserts)
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=T0)
    with pytest.raises(RuntimeError):
        pager.drain(T0)
    assert deliveries(incident) == []  # the step's transaction was rolled back with it
    monkeypatch.setattr(notify, "pages_create", real)

    assert sweep(pager, T0 + timedelta(seconds=30)) == 0  # still within the lease
    assert sweep(pager, T0 + timedelta(seconds=61)) == 1
    assert paged(incident) == [
        ("alice", "email", 0, "sent"),
        ("alice", "sms", 0, "pending"),
        ("bob", "email", 1, "sent"),
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.test", "bob@example.test"]
    # Running the same step again (a redelivered task with the new token) inserts nothing twice.
    escalation = Escalation.objects.get(incident=incident)
    Escalation.objects.filter(pk=escalation.pk).update(
        step_index=0, cycle=0, status="active", due_at=T0, claimed_until=T0
    )
    with pager.commit():
        engine.step_run(escalation_id=escalation.pk, token=escalation.fencing_token, now=T0 + timedelta(seconds=62))
    pager.drain(T0 + timedelta(seconds=62))
    assert len(deliveries(incident)) == 3
    assert len(mail.outbox) == 2


def test_policy_edits_after_the_trigger_do_not_change_the_running_escalation(
    people, pager, make_policy, make_incident, make_team, make_user
) -> None:
    alice, bob, carol = people
    team = make_team("sre", [bob])
    policy = make_policy("critical", [("users", [alice]), ("wait", 5), ("team", team)])
    incident = make_incident()
    trigger(pager, incident)

    EscalationStep.objects.get(policy=policy, position=1).delete()  # no more waiting
    team.members.set([carol])  # a different team
    EscalationStep.objects.get(policy=policy, position=0).users.set([carol])
    policy.repeat_count = 5
    policy.save()

    sweep(pager, T0 + timedelta(minutes=5))
    assert [d.user.username for d in deliveries(incident, kind="email")] == ["alice", "bob"]
    sweep(pager, T0 + timedelta(minutes=60))
    assert Escalation.objects.get(incident=incident).status == EscalationStatus.EXHAUSTED  # repeat_count stayed 0


def test_notify_schedule_pages_whoever_is_on_call_when_the_step_runs(
    people, pager, make_policy, make_incident, make_schedule
) -> None:
    alice, bob, _ = people
    schedule = make_schedule("primary")
    layer = Layer.objects.create(
        schedule=schedule, name="weekly", time_zone="UTC", rotation_start=T0 - timedelta(days=1), shift_unit="weeks"
    )
    LayerMember.objects.create(layer=layer, user=bob, position=0)
    make_policy("critical", [("users", [alice]), ("wait", 5), ("schedule", schedule)])
    incident = make_incident()
    trigger(pager, incident)
    # After the trigger, alice takes over the schedule for an hour: the step resolves it when it runs.
    Override.objects.create(schedule=schedule, user=alice, start=T0 + timedelta(minutes=1), end=T0 + timedelta(hours=1))
    sweep(pager, T0 + timedelta(minutes=5))
    assert [(d.user.username, d.step_index) for d in deliveries(incident, kind="email")] == [("alice", 0), ("alice", 2)]


def test_a_schedule_with_nobody_on_call_is_noted_and_skipped(
    people, pager, make_policy, make_incident, make_schedule
) -> None:
    make_policy("critical", [("schedule", make_schedule("empty"))])
    incident = make_incident()
    trigger(pager, incident)
    assert deliveries(incident) == []
    assert ("note", "Nobody is on call in empty: step skipped.") in timeline(incident)
    assert Escalation.objects.get(incident=incident).status == EscalationStatus.EXHAUSTED


def test_without_any_policy_nobody_is_paged_and_the_timeline_says_so(pager, make_incident, configure) -> None:
    configure(**{"oncall.default_policy": "missing-default"})
    incident = make_incident(escalation_policy="payments-team")
    assert trigger(pager, incident) is None
    assert deliveries(incident) == []
    assert timeline(incident)[-1] == (
        "note",
        "Nobody is paged: policy 'payments-team' does not exist; neither does the default.",
    )
    assert Escalation.objects.get(incident=incident).stop_reason == StopReason.NO_POLICY


def test_an_unknown_policy_falls_back_to_the_configured_default(people, pager, make_policy, make_incident) -> None:
    alice, *_ = people
    make_policy("critical", [("users", [alice])])
    incident = make_incident(escalation_policy="gone")
    escalation = trigger(pager, incident)
    assert escalation is not None
    assert escalation.snapshot["policy"]["name"] == "critical"
    assert ("note", "Escalation: policy 'gone' does not exist; using the default 'critical'.") in timeline(incident)


def test_a_duplicate_trigger_neither_creates_a_second_escalation_nor_raises(
    people, pager, make_policy, make_incident
) -> None:
    alice, *_ = people
    make_policy("critical", [("users", [alice]), ("wait", 5)])
    incident = make_incident()
    first = trigger(pager, incident)
    again = trigger(pager, incident)
    assert first is not None
    assert again == first
    assert Escalation.objects.filter(incident=incident).count() == 1
    assert len(mail.outbox) == 1


def test_unacknowledge_starts_a_new_escalation_from_the_first_step(people, pager, make_policy, make_incident) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("wait", 30), ("users", [bob])])
    incident = make_incident()
    trigger(pager, incident)
    with pager.commit():
        incident_acknowledge(incident=incident, actor=alice)
    with pager.commit():
        incident_unacknowledge(incident=incident, actor=alice)
    pager.drain()
    escalations = list(Escalation.objects.filter(incident=incident).order_by("pk"))
    assert [e.status for e in escalations] == [EscalationStatus.STOPPED, EscalationStatus.ACTIVE]
    assert escalations[1].snapshot["generation"] == 1
    assert [(d.attempt, d.status) for d in deliveries(incident, kind="email")] == [(0, "sent"), (10, "sent")]
    assert len(mail.outbox) == 2


def test_escalate_by_hand_runs_the_next_notify_step_at_once(people, pager, make_policy, make_incident) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("wait", 30), ("users", [bob])])
    incident = make_incident()
    trigger(pager, incident)
    with pager.commit():
        incident_escalate(incident=incident, actor=alice, reason="need payments expertise")
    pager.drain()
    assert [d.user.username for d in deliveries(incident, kind="email")] == ["alice", "bob"]


def test_a_new_assignee_is_paged_directly(people, pager, make_policy, make_incident) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice])])
    incident = make_incident()
    trigger(pager, incident)
    with pager.commit():
        incident_reassign(incident=incident, actor=alice, assignee=bob)
    pager.drain()
    assert [(d.user.username, d.step_index) for d in deliveries(incident, kind="email")] == [
        ("alice", 0),
        ("bob", engine.REASSIGN_STEP),
    ]
    assert [m.to for m in mail.outbox] == [["alice@example.test"], ["bob@example.test"]]


# --- business hours -------------------------------------------------------------------------------------------------
LA = {"time_zone": "America/Los_Angeles", "start": "09:00", "end": "17:00", "weekdays": [0, 1, 2, 3, 4]}
LISBON = {**LA, "time_zone": "Europe/Lisbon"}


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        # Los Angeles, spring forward (Sunday 8 March 2026): Saturday noon PST -> Monday 09:00 PDT (16:00 UTC).
        (LA, datetime(2026, 3, 7, 20, 0, tzinfo=UTC), datetime(2026, 3, 9, 16, 0, tzinfo=UTC)),
        # Los Angeles, fall back (Sunday 1 November 2026): Friday 18:00 PDT -> Monday 09:00 PST (17:00 UTC).
        (LA, datetime(2026, 10, 31, 1, 0, tzinfo=UTC), datetime(2026, 11, 2, 17, 0, tzinfo=UTC)),
        # Lisbon, spring forward (Sunday 29 March 2026): Saturday -> Monday 09:00 WEST (08:00 UTC).
        (LISBON, datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        # Lisbon, fall back (Sunday 25 October 2026): Saturday -> Monday 09:00 WET (09:00 UTC).
        (LISBON, datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 26, 9, 0, tzinfo=UTC)),
        # Within hours: at once. Before opening on a weekday: that morning.
        (LA, datetime(2026, 3, 9, 16, 30, tzinfo=UTC), datetime(2026, 3, 9, 16, 30, tzinfo=UTC)),
        (LA, datetime(2026, 3, 10, 12, 0, tzinfo=UTC), datetime(2026, 3, 10, 16, 0, tzinfo=UTC)),
    ],
)
def test_next_business_hours_start_is_exact_across_daylight_saving_changes(hours, at, expected) -> None:
    assert engine.business_hours_next(hours, at) == expected


def test_business_hours_opening_in_the_skipped_hour_open_at_the_change() -> None:
    # Los Angeles springs forward at 02:00 PST on Sunday 14 March 2027 (10:00 UTC); 02:30 does not exist that day.
    early = {"time_zone": "America/Los_Angeles", "start": "02:30", "end": "05:00", "weekdays": [6]}
    change = datetime(2027, 3, 14, 10, 0, tzinfo=UTC)
    assert engine.business_hours_next(early, datetime(2027, 3, 14, 9, 0, tzinfo=UTC)) == change
    assert engine.business_hours_open(early, change)
    assert not engine.business_hours_open(early, change - timedelta(microseconds=1))
    # The same wall-clock rule as the schedules' hand-offs.
    assert engine.business_hours_next(early, change - timedelta(hours=1)) == schedules.local_instant(
        date(2027, 3, 14), time(2, 30), ZoneInfo("America/Los_Angeles")
    )


def test_business_hours_may_run_past_midnight() -> None:
    night = {"time_zone": "UTC", "start": "22:00", "end": "06:00", "weekdays": [0]}
    assert engine.business_hours_open(night, datetime(2026, 3, 10, 5, 0, tzinfo=UTC))  # Monday's window, Tuesday 05:00
    assert not engine.business_hours_open(night, datetime(2026, 3, 10, 7, 0, tzinfo=UTC))


def test_a_low_urgency_incident_waits_for_business_hours(people, pager, make_policy, make_incident) -> None:
    alice, *_ = people
    make_policy("critical", [("users", [alice])], business_time_zone="America/Los_Angeles")
    saturday = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)
    incident = make_incident(urgency="low")
    escalation = trigger(pager, incident, saturday)
    assert escalation is not None
    assert (escalation.status, escalation.due_at) == ("waiting", datetime(2026, 3, 9, 16, 0, tzinfo=UTC))
    assert sweep(pager, datetime(2026, 3, 9, 15, 59, tzinfo=UTC)) == 0
    assert deliveries(incident) == []
    sweep(pager, datetime(2026, 3, 9, 16, 0, tzinfo=UTC))
    assert [d.kind for d in deliveries(incident, status="sent")] == ["email"]
    assert ("note", "Business hours began: paging starts.") in timeline(incident)

    high = make_incident(urgency="high")
    trigger(pager, high, saturday)
    assert Escalation.objects.get(incident=high).status == EscalationStatus.EXHAUSTED  # paged at once, on Saturday
    assert len(deliveries(high, status="sent")) == 1


# --- races on the real database -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_acknowledge_racing_the_next_step_sends_no_page_after_the_ack(
    people, pager, make_policy, make_incident, monkeypatch, sink
) -> None:
    alice, bob, _ = people
    from apps.oncall.models import ContactMethod

    hook = ContactMethod.objects.create(user=bob, kind="webhook", address=f"{sink.url}/hook/bob", secret="k")
    assert hook.pk
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [bob]), ("wait", 10)])
    incident = make_incident()
    trigger(pager, incident)
    inserted = threading.Event()
    real = notify.pages_create

    def slow_pages_create(**kwargs):
        result = real(**kwargs)
        inserted.set()  # bob's rows are in, uncommitted: the acknowledgement starts now and has to wait
        with connection.cursor() as cursor:
            for _ in range(200):
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.05)
        return result

    monkeypatch.setattr(notify, "pages_create", slow_pages_create)
    later = T0 + timedelta(minutes=5)
    assert engine.sweep_escalations(now=later) == 1
    escalation_id, token = pager.steps.pop()

    def step() -> None:
        try:
            engine.step_run(escalation_id=escalation_id, token=token, now=later)
        finally:
            connection.close()

    def ack() -> None:
        try:
            assert inserted.wait(10)
            incident_acknowledge(incident=Incident.objects.get(pk=incident.pk), actor=alice)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(step), pool.submit(ack)]:
            future.result()
    pager.drain(later)

    bob_pages = deliveries(incident, user=bob)
    assert bob_pages
    assert {d.status for d in bob_pages} == {DeliveryStatus.CANCELLED}
    assert sink.requests("POST") == []
    assert Escalation.objects.get(incident=incident).status == EscalationStatus.STOPPED


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_triggers_make_one_escalation(people, pager, make_policy, make_incident) -> None:
    alice, *_ = people
    make_policy("critical", [("users", [alice])])
    incident = make_incident()
    go = threading.Barrier(10)

    def start(_: int) -> int | None:
        go.wait()
        try:
            found = engine.escalation_start(incident_id=incident.pk, now=T0)
            return found.pk if found else None
        finally:
            connection.close()

    with ThreadPoolExecutor(10) as pool:
        ids = set(pool.map(start, range(10)))
    assert len(ids) == 1
    assert Escalation.objects.filter(incident=incident).count() == 1
    pager.drain(T0)
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_hundred_concurrent_duplicate_alert_posts_page_exactly_once(
    people, pager, make_policy, make_integration_token, sink, make_contact
) -> None:
    alice, *_ = people
    make_contact(alice, "webhook", f"{sink.url}/hook/alice", delay=0)
    make_policy("critical", [("users", [alice])])
    url = f"/integrations/v1/alertmanager/{make_integration_token}/"
    body = json.dumps(am_payload(am_alert()))
    start = threading.Barrier(20)

    def post_five(_: int) -> list[int]:
        client = Client()
        start.wait()
        try:
            return [client.post(url, body, content_type="application/json").status_code for _ in range(5)]
        finally:
            connection.close()

    with ThreadPoolExecutor(20) as pool:
        codes = [c for batch in pool.map(post_five, range(20)) for c in batch]
    assert codes == [202] * 100

    ids = list(AlertPayload.objects.values_list("pk", flat=True))
    go = threading.Barrier(8)

    def process(chunk: list[int]) -> int:
        go.wait()
        try:
            return sum(payload_process(payload_id=i) for i in chunk)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(process, [ids[n::8] for n in range(8)])) == 100
    pager.drain()
    incident = Incident.objects.get()
    assert Escalation.objects.filter(incident=incident).count() == 1
    assert sorted((d.user.username, d.kind, d.status) for d in deliveries(incident)) == [
        ("alice", "email", "sent"),
        ("alice", "sms", "pending"),
        ("alice", "webhook", "sent"),
    ]
    assert len(sink.requests("POST")) == 1
    assert len(mail.outbox) == 1


@pytest.fixture
def make_integration_token(db: None) -> str:
    from apps.incidents.services import integration_create

    _, token = integration_create(kind="alertmanager", name="prometheus-prod")
    return token


def test_sweeper_starts_an_escalation_whose_trigger_signal_was_lost(people, pager, make_policy, make_incident) -> None:
    alice, *_ = people
    make_policy("critical", [("users", [alice])])
    incident = make_incident()  # no signal was sent
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(triggered_at=now - timedelta(minutes=2))
    assert sweep(pager, now) == 1
    assert [d.status for d in deliveries(incident, kind="email")] == ["sent"]
    assert sweep(pager, now + timedelta(seconds=5)) == 0
    assert Delivery.objects.filter(incident=incident, kind="email").count() == 1


def test_a_step_claimed_before_an_acknowledgement_pages_nobody_after_it(
    people, pager, make_policy, make_incident
) -> None:
    alice, bob, _ = people
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [bob])])
    incident = make_incident()
    trigger(pager, incident)
    later = T0 + timedelta(minutes=5)
    with pager.commit():
        assert engine.sweep_escalations(now=later) == 1  # bob's step is claimed and queued
    Incident.objects.filter(pk=incident.pk).update(status="acknowledged")  # and the stop signal is lost
    pager.drain(later)
    assert [d for d in paged(incident) if d[0] == "bob"] == []
    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.status, escalation.stop_reason) == ("stopped", "acknowledged")
    assert deliveries(incident, kind="sms")[0].status == DeliveryStatus.CANCELLED
