"""The incident page under /oncall/incidents/<id>/ that every page links to: every section in the viewer's time zone,
the runbook sanitised, acknowledge, resolve and escalate now (change permission, CSRF), a constant query count, and
the e-mail, Slack, webhook and SMS pages pointing at it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse

from apps.common.models import User
from apps.common.testing import assert_queries_constant
from apps.incidents.choices import AlertStatus, IncidentStatus, TimelineKind
from apps.incidents.models import Alert, Incident, Runbook, TimelineEntry
from apps.oncall import engine
from apps.oncall.choices import ContactKind, DeliveryStatus
from apps.oncall.models import ContactMethod, Delivery
from apps.oncall.selectors import INCIDENT_TIMELINE
from tests.oncall.conftest import Pager

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 07:00 in Los Angeles (PST)
BASE = "https://portal.example.test"
RUNBOOK = """# Payments failing

Card payments are failing.

| check | where |
|---|---|
| gateway | `kubectl -n payments get pods` |

1. Fail over the gateway.
"""


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def section(response: Any, anchor: str) -> str:
    """The HTML of the page's ``<section id=anchor>``."""
    found = re.search(rf'<section[^>]*id="{anchor}".*?</section>', response.content.decode(), re.S)
    assert found, f"no section #{anchor}"
    return re.sub(r"\s+", " ", found.group(0))


def page_path(incident: Incident) -> str:
    return reverse("oncall:incident", kwargs={"public_id": incident.public_id})


def action_path(incident: Incident, action: str) -> str:
    return reverse("oncall:incident-page-action", kwargs={"public_id": incident.public_id, "action": action})


def add_alert(incident: Incident, name: str, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "fingerprint": f"{name}-{Alert.objects.count()}",
        "name": name,
        "status": AlertStatus.FIRING,
        "labels": {"alertname": name},
        "annotations": {"summary": f"{name} summary"},
        "starts_at": T0,
        "first_received_at": T0,
        "last_received_at": T0,
    }
    values.update(fields)
    return Alert.objects.create(incident=incident, **values)


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user(
        username="alice", role="oncall_engineer", display_name="Alice Ames", time_zone="America/Los_Angeles"
    )


@pytest.fixture
def browser(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def paged(alice, make_user, make_contact, make_policy, make_team, make_incident, pager: Pager, sink) -> Incident:
    """A P1 with a runbook, labels and two alerts; the policy pages alice (e-mail, Slack, webhook, SMS), waits 10
    minutes, then pages team SRE; alice's pages are sent at T0."""
    bob = make_user(username="bob", display_name="Bob Brown")
    make_contact(alice, ContactKind.EMAIL, "alice@example.test")
    make_contact(alice, ContactKind.SLACK, f"{sink.url}/hook/slack")
    make_contact(alice, ContactKind.WEBHOOK, f"{sink.url}/hook/webhook")
    make_contact(alice, ContactKind.SMS, "+15550000001")
    make_policy("critical", [("users", [alice]), ("wait", 10), ("team", make_team("SRE", [bob]))])
    runbook = Runbook.objects.create(slug="payment-failure", title="Payments failing", body=RUNBOOK)
    incident = make_incident(
        title="PaymentProcessingFailure: card payments failing",
        impact="critical",
        impact_text="checkout down for every customer",
        runbook=runbook,
        assignee=bob,
        labels={"service": "payments", "severity": "critical", "team": "sre"},
    )
    Incident.objects.filter(pk=incident.pk).update(triggered_at=T0, alert_count=2)
    add_alert(incident, "PaymentProcessingFailure", generator_url="https://prometheus.example/graph?g0")
    add_alert(incident, "CheckoutErrors", status=AlertStatus.RESOLVED, generator_url="javascript:alert(1)")
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=T0)
    pager.drain(T0)
    incident.refresh_from_db()
    return incident


# --- what the page shows ----------------------------------------------------------------------------------------
def test_the_page_shows_summary_alerts_runbook_escalation_pages_and_timeline(browser: Client, paged: Incident) -> None:
    response = browser.get(page_path(paged))
    assert response.status_code == 200
    body = text(response)
    for shown in (
        "PaymentProcessingFailure: card payments failing",
        "P1 — critical",
        "Critical — checkout down for every customer",
        "High — page at once",
        "Triggered",
        "Bob Brown",  # the assignee
        "<code>service=payments</code>",
        "<code>team=sre</code>",
        "2026-11-24 07:00:00",  # triggered at T0, in alice's zone
        "times in America/Los_Angeles",
    ):
        assert shown in body, shown
    alerts = section(response, "alerts")
    assert "PaymentProcessingFailure summary" in alerts
    assert "CheckoutErrors" in alerts
    assert 'href="https://prometheus.example/graph?g0"' in alerts
    assert "javascript:" not in alerts  # a non-http(s) source link is not linked
    runbook = section(response, "runbook")
    assert "<h1>Payments failing</h1>" in runbook
    assert "<table>" in runbook
    assert "<code>kubectl -n payments get pods</code>" in runbook
    escalation = section(response, "escalation")
    assert "critical" in escalation  # the policy's name from the snapshot
    assert "Escalating" in escalation
    assert re.search(r"Notify Alice Ames.*?done", escalation)
    assert re.search(r"Wait 10 min.*?done", escalation)
    assert re.search(r"Notify team SRE \(Bob Brown\) <span class=\"badge\">next", escalation)
    assert "2026-11-24 07:10:00" in escalation  # the next step is due after the wait
    pages = section(response, "pages")
    for kind in ("E-mail", "Slack incoming webhook", "Webhook (HMAC-signed)", "SMS"):
        assert kind in pages
    assert pages.count("Alice Ames") == 4
    assert pages.count('delivery-sent">Sent<') == 4
    for address in ("alice@example.test", "+15550000001", "/hook/slack", "/hook/webhook"):
        assert address not in body  # who and how, never where
    timeline = section(response, "timeline")
    assert "Paged" in re.findall(r"<strong>([^<]+)</strong>", timeline)
    entries = list(paged.timeline.order_by("-at", "-id").values_list("message", flat=True))
    positions = [timeline.index(m.replace("'", "&#x27;")) for m in entries[:3]]
    assert positions == sorted(positions)  # newest first


def test_timeline_entries_are_newest_first_and_capped(browser: Client, make_incident) -> None:
    incident = make_incident()
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, at=T0 + timedelta(minutes=i), kind=TimelineKind.NOTE, message=f"note {i:03}")
        for i in range(INCIDENT_TIMELINE + 5)
    )
    timeline = section(browser.get(page_path(incident)), "timeline")
    shown = re.findall(r"note (\d{3})", timeline)
    assert len(shown) == INCIDENT_TIMELINE
    assert shown[0] == f"{INCIDENT_TIMELINE + 4:03}"
    assert shown == sorted(shown, reverse=True)
    assert f"The {INCIDENT_TIMELINE} most recent entries" in timeline


def test_a_script_in_a_runbook_or_a_title_is_inert(browser: Client, make_incident) -> None:
    runbook = Runbook.objects.create(
        slug="evil",
        title="Evil <b>runbook</b>",
        body=(
            "# Steps\n\n<script>alert('runbook')</script>\n\n[click](javascript:alert('link'))\n\n"
            '<img src="x" onerror="alert(\'img\')">\n\n<a href="https://ok.example" onclick="alert(1)">ok</a>\n'
        ),
    )
    incident = make_incident(title="<script>alert('title')</script>", runbook=runbook)
    response = browser.get(page_path(incident))
    html = response.content.decode()
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html
    runbook_html = section(response, "runbook")
    assert "<h1>Steps</h1>" in runbook_html
    for dangerous in ("javascript:", "onerror", "onclick", "<img", "<b>runbook"):
        assert dangerous not in runbook_html, dangerous
    assert 'href="https://ok.example"' in runbook_html


def test_an_incident_without_runbook_or_escalation_still_has_the_anchors(browser: Client, make_incident) -> None:
    incident = make_incident()
    response = browser.get(page_path(incident))
    assert "No runbook matched this incident." in section(response, "runbook")
    assert "Nobody has been paged for this incident." in section(response, "escalation")
    assert "No page sent or planned." in section(response, "pages")


# --- acting -----------------------------------------------------------------------------------------------------
def test_acknowledge_escalate_and_resolve_from_the_incident_page(browser: Client, alice: User, make_incident) -> None:
    incident = make_incident()
    page = browser.get(page_path(incident))
    for action in ("acknowledge", "resolve", "escalate"):
        assert f'action="{action_path(incident, action)}"' in text(page)
    done = browser.post(action_path(incident, "acknowledge"))
    assert (done.status_code, done["Location"]) == (302, page_path(incident))
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (IncidentStatus.ACKNOWLEDGED, alice)
    again = browser.post(action_path(incident, "acknowledge"), follow=True)
    assert f"Incident #{incident.pk}: nothing changed. Incident #{incident.pk} is already acknowledged." in text(again)
    escalated = browser.post(action_path(incident, "escalate"), follow=True)
    assert f"Incident #{incident.pk} escalated" in text(escalated)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.timeline.filter(kind=TimelineKind.ESCALATED, actor=alice).exists()
    resolved = browser.post(action_path(incident, "resolve"), {"resolution": "Gateway failed over"}, follow=True)
    assert f"Incident #{incident.pk} resolved." in text(resolved)
    incident.refresh_from_db()
    assert (incident.status, incident.resolution, incident.resolved_by) == (
        IncidentStatus.RESOLVED,
        "Gateway failed over",
        alice,
    )
    assert "Gateway failed over" in text(resolved)
    assert 'action="' + action_path(incident, "resolve") not in text(resolved)  # no buttons on a resolved incident
    late = browser.post(action_path(incident, "escalate"), follow=True)
    assert f"Incident #{incident.pk}: nothing changed. Incident #{incident.pk} is resolved." in text(late)


def test_actions_need_post_and_csrf_and_a_known_action(alice: User, make_incident) -> None:
    incident = make_incident()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(action_path(incident, "acknowledge")).status_code == 403
    assert strict.get(action_path(incident, "acknowledge")).status_code == 405
    assert strict.get(page_path(incident)).status_code == 200
    client = Client()
    client.force_login(alice)
    assert client.post(action_path(incident, "merge")).status_code == 404
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED


def test_a_viewer_without_the_change_permission_sees_no_buttons_and_gets_403(
    make_user: Callable[..., User], make_incident
) -> None:
    incident = make_incident()
    auditor = Client()
    auditor.force_login(make_user(role="auditor"))
    page = auditor.get(page_path(incident))
    assert page.status_code == 200
    assert incident.title in text(page)
    for action in ("acknowledge", "resolve", "escalate"):
        assert action_path(incident, action) not in text(page)
        assert auditor.post(action_path(incident, action)).status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED
    assert not incident.timeline.exists()


def test_reading_needs_the_view_incident_permission(make_user: Callable[..., User], make_incident) -> None:
    incident = make_incident()
    nobody = Client()
    nobody.force_login(make_user())
    refused = nobody.get(page_path(incident))
    assert refused.status_code == 403
    assert "permission to view incidents" in text(refused)
    assert incident.title not in text(refused)
    assert nobody.post(action_path(incident, "acknowledge")).status_code == 403


def test_an_unknown_incident_is_404(browser: Client, make_incident) -> None:
    make_incident()
    missing = "00000000-0000-4000-8000-000000000000"
    assert browser.get(f"/oncall/incidents/{missing}/").status_code == 404
    assert browser.post(f"/oncall/incidents/{missing}/acknowledge/").status_code == 404
    assert browser.get("/oncall/incidents/42/").status_code == 404  # not addressed by sequential id


def test_the_page_needs_login(make_incident) -> None:
    incident = make_incident()
    anonymous = Client()
    response = anonymous.get(page_path(incident))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert anonymous.post(action_path(incident, "acknowledge")).status_code == 302
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED


def test_the_query_count_does_not_grow_with_alerts_timeline_or_pages(
    browser: Client, make_user: Callable[..., User], paged: Incident
) -> None:
    def grow(n: int) -> None:
        for _ in range(n):
            add_alert(paged, "Extra")
            TimelineEntry.objects.create(incident=paged, at=T0, kind=TimelineKind.NOTE, message="note")
            someone = make_user()
            method = ContactMethod.objects.create(user=someone, kind=ContactKind.EMAIL, address="x@example.test")
            Delivery.objects.create(
                incident=paged,
                user=someone,
                contact_method=method,
                kind=ContactKind.EMAIL,
                dedup_key=f"extra:{someone.pk}",
                due_at=T0,
                status=DeliveryStatus.FAILED,
                tries=3,
            )

    assert_queries_constant(lambda: browser.get(page_path(paged)), grow)


# --- pages link here --------------------------------------------------------------------------------------------
def test_every_channel_links_the_incident_page_and_its_runbook(
    paged: Incident, sink, browser: Client, alice: User
) -> None:
    incident_url = f"{BASE}/oncall/incidents/{paged.public_id}/"
    runbook_url = f"{incident_url}#runbook"
    [email] = mail.outbox
    assert isinstance(email, EmailMultiAlternatives)
    assert f"Incident:  {incident_url}\n" in email.body
    assert f"Runbook:   {runbook_url}\n" in email.body
    html, _ = email.alternatives[0]
    assert f'href="{incident_url}"' in str(html)
    assert f'href="{runbook_url}"' in str(html)
    received = {r.path: r for r in sink.requests("POST")}
    slack = received["/hook/slack"].json
    buttons = {e["text"]["text"]: e["url"] for e in slack["blocks"][1]["elements"]}
    assert (buttons["Incident"], buttons["Runbook"]) == (incident_url, runbook_url)
    assert incident_url in slack["text"]
    webhook = received["/hook/webhook"].json
    assert (webhook["incident"]["url"], webhook["incident"]["runbook_url"]) == (incident_url, runbook_url)
    # An SMS has room for the acknowledge link only; its confirmation page links to the incident.
    sms = received["/hook/sms"].json["message"]
    ack_path = sms.split("ACK ")[1].removeprefix(BASE)
    confirm = Client().get(ack_path)
    assert confirm.status_code == 200
    assert f'href="/oncall/incidents/{paged.public_id}/"' in confirm.content.decode()
    for payload in (email.body, str(html), str(slack), str(webhook), sms):
        assert "/api/v1/" not in payload
    # The link works for the paged engineer, and its anchor is on the page.
    response = browser.get(incident_url.removeprefix(BASE))
    assert response.status_code == 200
    assert 'id="runbook"' in response.content.decode()


def test_my_open_incidents_link_to_the_incident_page(browser: Client, alice: User, make_incident) -> None:
    incident = make_incident(assignee=alice)
    listing = browser.get("/oncall/me/incidents/")
    assert f'href="{page_path(incident)}"' in text(listing)
