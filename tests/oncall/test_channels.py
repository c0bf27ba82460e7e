"""Every channel against what was really received: e-mail in Django's outbox, Slack, the signed webhook and the SMS
gateway on a local recording HTTP server."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime

import pytest
from django.core import mail

from apps.incidents.models import Runbook
from apps.oncall import engine
from apps.oncall.channels import signature
from apps.oncall.links import link_read
from tests.oncall.conftest import SMS_TOKEN, WEBHOOK_SECRET, deliveries

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
BASE = "https://portal.example.test"


@pytest.fixture
def paged_everywhere(make_user, make_contact, make_policy, make_incident, pager, sink):
    """alice, with e-mail, Slack, webhook and SMS at once, paged by the first step of a P1 with a runbook."""
    alice = make_user(role="oncall_engineer", username="alice")
    make_contact(alice, "email", "alice@example.test")
    make_contact(alice, "slack", f"{sink.url}/hook/slack")
    make_contact(alice, "webhook", f"{sink.url}/hook/webhook")
    make_contact(alice, "sms", "+15550000001")
    make_policy("critical", [("users", [alice])])
    runbook = Runbook.objects.create(slug="payment-failure", title="Payments failing", body="# Do this")
    incident = make_incident(
        title="PaymentProcessingFailure: card payments failing",
        impact="critical",
        impact_text="checkout down for every customer",
        runbook=runbook,
    )
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=T0)
    pager.drain(T0)
    return alice, incident


def by_path(sink, path: str):
    found = [r for r in sink.requests("POST") if r.path == path]
    assert len(found) == 1, [r.path for r in sink.requests()]
    return found[0]


def assert_link(url: str, incident, user, action: str) -> None:
    assert url.startswith(f"{BASE}/oncall/l/")
    claim = link_read(url.removeprefix(f"{BASE}/oncall/l/").rstrip("/"))
    assert (claim.incident, claim.user, claim.action) == (incident.public_id, user.public_id, action)


def test_the_first_page_goes_out_on_every_channel_at_once(paged_everywhere) -> None:
    _, incident = paged_everywhere
    assert sorted((d.kind, d.status, d.tries) for d in deliveries(incident)) == [
        ("email", "sent", 1),
        ("slack", "sent", 1),
        ("sms", "sent", 1),
        ("webhook", "sent", 1),
    ]


def test_the_email_page_carries_summary_runbook_and_links(paged_everywhere) -> None:
    alice, incident = paged_everywhere
    [message] = mail.outbox
    assert message.to == ["alice@example.test"]
    assert message.subject == "[P1] PaymentProcessingFailure: card payments failing"
    body = message.body
    for text in ("P1 — critical", "payments", "Critical — checkout down for every customer"):
        assert text in body
    assert f"Runbook:   {BASE}/oncall/incidents/{incident.public_id}/#runbook" in body
    assert f"Incident:  {BASE}/oncall/incidents/{incident.public_id}/\n" in body
    ack = body.split("Acknowledge: ")[1].split()[0]
    resolve = body.split("Resolve:     ")[1].split()[0]
    assert_link(ack, incident, alice, "ack")
    assert_link(resolve, incident, alice, "resolve")
    html, mime = message.alternatives[0]
    assert mime == "text/html"
    assert f'href="{ack}"' in html


def test_the_slack_message_has_text_blocks_and_link_buttons(paged_everywhere, sink) -> None:
    alice, incident = paged_everywhere
    received = by_path(sink, "/hook/slack")
    body = received.json
    assert set(body) == {"text", "blocks"}
    assert "[P1] PaymentProcessingFailure" in body["text"]
    buttons = {e["text"]["text"]: e["url"] for e in body["blocks"][1]["elements"]}
    assert set(buttons) == {"Acknowledge", "Resolve", "Runbook", "Incident"}
    assert buttons["Incident"] == f"{BASE}/oncall/incidents/{incident.public_id}/"
    assert buttons["Runbook"] == f"{BASE}/oncall/incidents/{incident.public_id}/#runbook"
    assert_link(buttons["Acknowledge"], incident, alice, "ack")
    assert_link(buttons["Resolve"], incident, alice, "resolve")
    assert "*Impact:* Critical — checkout down for every customer" in body["blocks"][0]["text"]["text"]


def test_the_webhook_is_signed_with_the_contact_methods_secret(paged_everywhere, sink) -> None:
    alice, incident = paged_everywhere
    received = by_path(sink, "/hook/webhook")
    timestamp = received.headers["X-ECAP-Timestamp"]
    expected = (
        "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + received.body, "sha256").hexdigest()
    )
    assert hmac.compare_digest(received.headers["X-ECAP-Signature"], expected)
    assert signature(secret=WEBHOOK_SECRET, timestamp=timestamp, body=received.body) == expected
    body = received.json
    assert body["event"] == "page"
    assert body["delivery_id"] == received.headers["Idempotency-Key"]
    assert body["incident"]["id"] == str(incident.public_id)
    assert {k: body["incident"][k] for k in ("title", "priority", "status", "urgency")} == {
        "title": "PaymentProcessingFailure: card payments failing",
        "priority": "P1",
        "status": "triggered",
        "urgency": "high",
    }
    assert body["incident"]["url"] == f"{BASE}/oncall/incidents/{incident.public_id}/"
    assert body["incident"]["runbook_url"] == f"{BASE}/oncall/incidents/{incident.public_id}/#runbook"
    assert_link(body["ack_url"], incident, alice, "ack")
    assert_link(body["resolve_url"], incident, alice, "resolve")
    assert "alice@example.test" not in received.body.decode()


def test_the_sms_gateway_receives_exactly_to_and_a_short_message_with_the_ack_link(paged_everywhere, sink) -> None:
    alice, incident = paged_everywhere
    received = by_path(sink, "/hook/sms")
    assert received.headers["Authorization"] == f"Bearer {SMS_TOKEN}"
    body = received.json
    assert set(body) == {"to", "message"}
    assert body["to"] == "+15550000001"
    assert len(body["message"]) <= 160
    assert body["message"].startswith("P1 PaymentProcessin")
    assert_link(body["message"].split("ACK ")[1], incident, alice, "ack")


def test_a_webhook_without_a_secret_and_sms_without_a_gateway_fail_with_the_reason(
    make_user, make_contact, make_policy, make_incident, pager, sink, configure
) -> None:
    bob = make_user(username="bob")
    make_contact(bob, "webhook", f"{sink.url}/hook/webhook", secret="")
    make_contact(bob, "sms", "+15550000002")
    configure(**{"oncall.sms_gateway_url": ""})
    make_policy("critical", [("users", [bob])])
    incident = make_incident()
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=T0)
    pager.drain(T0)
    assert sorted((d.kind, d.status, d.last_error) for d in deliveries(incident)) == [
        ("sms", "failed", "try 1: SMS is disabled: oncall.sms_gateway_url is empty"),
        ("webhook", "failed", "try 1: the webhook contact method has no signing secret"),
    ]
    assert sink.requests() == []
    messages = list(incident.timeline.filter(kind="paged").values_list("message", flat=True))
    assert any("failed after 1 tries: SMS is disabled" in m for m in messages)


def test_page_body_is_valid_json_for_webhooks(paged_everywhere, sink) -> None:
    received = by_path(sink, "/hook/webhook")
    assert json.loads(received.body)["incident"]["service"] == "payments"
