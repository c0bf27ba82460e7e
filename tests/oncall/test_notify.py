"""Deliveries: notification rules and urgency, delayed rules, the re-check before sending, throttles, retries with
exponential backoff up to FAILED, lost sends, notices, and no address or secret in errors or logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from apps.incidents.models import Incident
from apps.oncall import engine, notify
from apps.oncall.choices import DeliveryStatus
from apps.oncall.models import Delivery
from tests.oncall.conftest import deliveries, timeline

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def start(pager, incident: Incident, now: datetime = T0) -> None:
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=now)
    pager.drain(now)


def send_due(pager, now: datetime) -> list[Delivery]:
    with pager.commit():
        notify.sweep_deliveries(now=now)
    return pager.drain(now)


@pytest.fixture
def alice(make_user):
    return make_user(role="oncall_engineer", username="alice")


def test_rules_follow_the_urgency_and_a_user_without_rules_gets_every_enabled_method(
    alice, make_user, make_contact, make_policy, make_incident, pager, sink
) -> None:
    bob = make_user(username="bob")
    make_contact(alice, "email", "alice@example.test", delay=0, urgency="any")
    make_contact(alice, "sms", "+15550000001", delay=0, urgency="high")
    make_contact(alice, "slack", f"{sink.url}/hook/a", delay=3, urgency="low")
    make_contact(bob, "email", "bob@example.test")
    make_contact(bob, "slack", f"{sink.url}/hook/b", enabled=False)
    carol = make_user(username="carol")  # nothing to reach her by
    make_policy("critical", [("users", [alice, bob, carol])])

    low = make_incident(urgency="low", title="low")
    with pager.commit():
        engine.escalation_start(incident_id=low.pk, now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    pager.drain(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert sorted((d.user.username, d.kind, d.status) for d in deliveries(low)) == [
        ("alice", "email", "sent"),
        ("alice", "slack", "pending"),
        ("bob", "email", "sent"),
    ]
    high = make_incident(urgency="high", title="high")
    start(pager, high)
    assert sorted((d.user.username, d.kind) for d in deliveries(high)) == [
        ("alice", "email"),
        ("alice", "sms"),
        ("bob", "email"),
    ]
    assert ("note", "Not paged (no contact method or notification rule for high urgency): carol.") in timeline(high)


def test_a_delayed_rule_is_sent_when_due_and_not_if_acknowledged_meanwhile(
    alice, make_contact, make_policy, make_incident, pager, sink
) -> None:
    make_contact(alice, "email", "alice@example.test", delay=0)
    make_contact(alice, "sms", "+15550000001", delay=5)
    make_policy("critical", [("users", [alice])])
    first, second = make_incident(title="first"), make_incident(title="second")
    start(pager, first)
    start(pager, second)
    assert send_due(pager, T0 + timedelta(minutes=4)) == []
    # The second is acknowledged without its stop signal reaching us: the send re-checks and cancels.
    Incident.objects.filter(pk=second.pk).update(status="acknowledged")
    send_due(pager, T0 + timedelta(minutes=5))
    assert deliveries(first, kind="sms")[0].status == DeliveryStatus.SENT
    cancelled = deliveries(second, kind="sms")[0]
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "not sent: the incident is acknowledged")
    assert len(sink.requests("POST")) == 1


def test_the_throttle_records_the_page_it_holds_back(
    alice, make_contact, make_policy, make_incident, pager, sink, configure
) -> None:
    configure(**{"oncall.throttles": '{"sms": {"count": 2, "minutes": 15}}'})
    make_contact(alice, "sms", "+15550000001")
    make_policy("critical", [("users", [alice])])
    for n in range(3):
        start(pager, make_incident(title=f"incident {n}"), T0 + timedelta(minutes=n))
    pages = list(Delivery.objects.order_by("id"))
    assert [d.status for d in pages] == ["sent", "sent", "throttled"]
    assert pages[2].last_error == (
        "throttled: 2 messages already sent to this SMS contact method in the last 15 minutes (limit 2)"
    )
    assert any(k == "paged" and "throttled" in m for k, m in timeline(pages[2].incident))
    assert len(sink.requests("POST")) == 2
    start(pager, make_incident(title="later"), T0 + timedelta(minutes=16))  # the window has moved on
    assert Delivery.objects.order_by("-id").first().status == DeliveryStatus.SENT


def test_failures_are_retried_with_exponential_backoff_then_marked_failed(
    alice, make_contact, make_policy, make_incident, pager, sink, configure
) -> None:
    configure(**{"oncall.delivery_max_tries": 3, "oncall.delivery_backoff_seconds": 10})
    make_contact(alice, "webhook", f"{sink.url}/hook/alice")
    make_policy("critical", [("users", [alice])])
    sink.fail[("POST", "/hook/alice")] = (503, {"error": "busy"})
    incident = make_incident()
    start(pager, incident)
    [page] = deliveries(incident)
    assert (page.status, page.tries, page.due_at, page.last_error, page.response_status) == (
        "retrying",
        1,
        T0 + timedelta(seconds=10),
        "try 1: the endpoint answered HTTP 503",
        503,
    )
    assert send_due(pager, T0 + timedelta(seconds=9)) == []
    send_due(pager, T0 + timedelta(seconds=10))
    page.refresh_from_db()
    assert (page.status, page.tries, page.due_at) == ("retrying", 2, T0 + timedelta(seconds=30))
    send_due(pager, T0 + timedelta(seconds=30))
    page.refresh_from_db()
    assert (page.status, page.tries, page.last_error) == ("failed", 3, "try 3: the endpoint answered HTTP 503")
    assert len(sink.requests("POST")) == 3
    assert any(
        k == "paged" and "failed after 3 tries: the endpoint answered HTTP 503" in m for k, m in timeline(incident)
    )


def test_a_4xx_fails_at_once_but_429_is_retried(alice, make_contact, make_policy, make_incident, pager, sink) -> None:
    make_contact(alice, "webhook", f"{sink.url}/hook/gone")
    make_contact(alice, "slack", f"{sink.url}/hook/busy")
    make_policy("critical", [("users", [alice])])
    sink.fail[("POST", "/hook/gone")] = (404, {})
    sink.fail[("POST", "/hook/busy")] = (429, {})
    incident = make_incident()
    start(pager, incident)
    assert sorted((d.kind, d.status, d.last_error) for d in deliveries(incident)) == [
        ("slack", "retrying", "try 1: the endpoint answered HTTP 429"),
        ("webhook", "failed", "try 1: the endpoint refused the message with HTTP 404"),
    ]
    del sink.fail[("POST", "/hook/busy")]
    send_due(pager, T0 + timedelta(seconds=10))
    assert deliveries(incident, kind="slack")[0].status == DeliveryStatus.SENT


def test_connection_errors_never_reveal_the_address_or_the_secret(
    alice, make_contact, make_policy, make_incident, pager, caplog
) -> None:
    address = "http://127.0.0.1:9/hook/secret-path-xyz"  # the discard port: nothing answers
    make_contact(alice, "webhook", address, secret="topsecret-signing-key")
    make_policy("critical", [("users", [alice])])
    incident = make_incident()
    with caplog.at_level(logging.INFO):  # the level the portal logs at
        start(pager, incident)
    [page] = deliveries(incident)
    assert (page.status, page.last_error) == ("retrying", "try 1: connection failed (ConnectionError)")
    logged = caplog.text + "".join(str(r.msg) for r in caplog.records)
    for secret in ("secret-path-xyz", "topsecret-signing-key", "127.0.0.1:9"):
        assert secret not in logged
        assert secret not in page.last_error


def test_a_send_whose_worker_was_lost_is_sent_again_after_its_lease(
    alice, make_contact, make_policy, make_incident, pager, sink
) -> None:
    make_contact(alice, "webhook", f"{sink.url}/hook/alice")
    make_policy("critical", [("users", [alice])])
    incident = make_incident()
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=T0)
    escalation_id, token = pager.steps.pop()
    with pager.commit():
        engine.step_run(escalation_id=escalation_id, token=token, now=T0)
    [page] = deliveries(incident)
    # A worker claimed it and died before sending: SENDING with a lease.
    Delivery.objects.filter(pk=page.pk).update(status="sending", tries=1, lease_until=T0 + timedelta(seconds=60))
    pager.sends.clear()
    assert send_due(pager, T0 + timedelta(seconds=30)) == []  # still leased
    send_due(pager, T0 + timedelta(seconds=61))
    page.refresh_from_db()
    assert (page.status, page.tries) == ("sent", 2)
    assert len(sink.requests("POST")) == 1
    assert notify.delivery_send(delivery_id=page.pk, now=T0 + timedelta(hours=1)) is None  # done is done


def test_notices_go_to_every_method_but_sms_once_per_key(alice, make_contact, pager, sink) -> None:
    make_contact(alice, "email", "alice@example.test")
    make_contact(alice, "webhook", f"{sink.url}/hook/alice")
    make_contact(alice, "sms", "+15550000001")
    with pager.commit():
        first = notify.notice_send(
            user=alice,
            purpose="handoff",
            subject="Your shift on primary starts at 09:00",
            body="You are on call on primary from 09:00 to 17:00 (America/Los_Angeles).",
            dedup_key="handoff:1:2026-11-24T17:00",
            payload={"schedule": "primary"},
        )
        again = notify.notice_send(
            user=alice, purpose="handoff", subject="x", body="y", dedup_key="handoff:1:2026-11-24T17:00"
        )
    assert [d.pk for d in again] == [d.pk for d in first]
    assert sorted(d.kind for d in first) == ["email", "webhook"]
    pager.drain()
    assert [m.subject for m in mail.outbox] == ["Your shift on primary starts at 09:00"]
    [received] = sink.requests("POST")
    assert received.json["event"] == "handoff"
    assert received.json["payload"] == {"schedule": "primary"}
    assert received.json["body"].startswith("You are on call on primary")
    with pytest.raises(ValueError, match="notice purpose"):
        notify.notice_send(user=alice, purpose="page", subject="s", body="b", dedup_key="k")
