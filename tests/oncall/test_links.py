"""Signed acknowledge/resolve links: GET changes nothing, POST acts as the responder (with CSRF), already done is a
clear message, expired, forged and wrong-action links are refused with a page saying why."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.test import Client

from apps.incidents.lifecycle import incident_acknowledge
from apps.oncall import engine
from apps.oncall.choices import EscalationStatus, StopReason
from apps.oncall.links import ACK, RESOLVE, LinkInvalid, link_path, link_read, link_token
from apps.oncall.models import Escalation


@pytest.fixture
def alice(make_user):
    return make_user(role="oncall_engineer", username="alice")


@pytest.fixture
def incident(make_incident):
    return make_incident(title="PaymentProcessingFailure: card payments failing")


def path_for(incident, user, action: str) -> str:
    return link_path(incident_public_id=incident.public_id, action=action, user_public_id=user.public_id)


def csrf_post(client: Client, path: str):
    """GET the confirmation page (which sets the CSRF cookie), then POST its form with the token."""
    page = client.get(path)
    assert page.status_code == 200
    return client.post(path, {"csrfmiddlewaretoken": page.context["csrf_token"]})


def test_get_shows_what_would_happen_and_changes_nothing(alice, incident) -> None:
    response = Client().get(path_for(incident, alice, ACK))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Acknowledge this incident?" in text
    assert "PaymentProcessingFailure: card payments failing" in text
    assert "alice" in text
    assert response["Referrer-Policy"] == "no-referrer"
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_post_acknowledges_as_the_responder_and_stops_paging(alice, incident, make_policy, make_contact, pager) -> None:
    make_contact(alice, "email", "alice@example.test", delay=0)
    make_contact(alice, "email", "alice+late@example.test", delay=10)
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [alice])])
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk)
    pager.drain()
    client = Client(enforce_csrf_checks=True)
    with pager.commit():
        response = csrf_post(client, path_for(incident, alice, ACK))
    assert response.status_code == 200
    assert "Incident acknowledged" in response.content.decode()
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", alice)
    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.status, escalation.stop_reason) == (EscalationStatus.STOPPED, StopReason.ACKNOWLEDGED)
    assert incident.deliveries.filter(status="cancelled").count() == 1  # the 10-minute e-mail

    again = csrf_post(client, path_for(incident, alice, ACK))
    assert again.status_code == 200
    assert "Already acknowledged" in again.content.decode()
    assert "is acknowledged (by alice): nothing was changed" in again.content.decode()


def test_post_resolves_and_a_second_use_says_it_is_already_resolved(alice, incident) -> None:
    client = Client()
    response = client.post(path_for(incident, alice, RESOLVE))
    assert response.status_code == 200
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by, incident.resolution) == (
        "resolved",
        alice,
        "Resolved from a page link.",
    )
    for action in (RESOLVE, ACK):
        again = client.post(path_for(incident, alice, action))
        assert again.status_code == 200
        assert "Already resolved" in again.content.decode()


def test_post_without_the_csrf_token_is_refused(alice, incident) -> None:
    response = Client(enforce_csrf_checks=True).post(path_for(incident, alice, ACK))
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_an_expired_link_is_refused_with_410(alice, incident, configure, monkeypatch) -> None:
    configure(**{"oncall.link_ttl_minutes": 5})
    monkeypatch.setattr(
        signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(int(time.time()) - 6 * 60)
    )
    path = path_for(incident, alice, ACK)
    monkeypatch.undo()
    configure(**{"oncall.link_ttl_minutes": 5})
    for method in ("get", "post"):
        response = getattr(Client(), method)(path)
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_forged_and_wrong_action_links_are_refused_with_400(alice, incident) -> None:
    token = link_token(incident_public_id=incident.public_id, action=ACK, user_public_id=alice.public_id)
    value, stamp, mac = token.split(":")
    forged = [
        f"{value}:{stamp}:{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",  # altered signature
        f"r{value[1:]}:{stamp}:{mac}",  # the ack link turned into a resolve link
        f"{value[:5]}{'A' if value[5] != 'A' else 'B'}{value[6:]}:{stamp}:{mac}",  # another incident
        "a" + "x" * 40,
    ]
    for bad in forged:
        with pytest.raises(LinkInvalid):
            link_read(bad)
        response = Client().post(f"/oncall/l/{bad}/")
        assert response.status_code == 400, bad
        assert "This link is not valid" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_a_responder_without_the_right_to_change_incidents_is_refused(make_user, incident) -> None:
    viewer = make_user(role="auditor", username="viewer")
    response = Client().post(path_for(incident, viewer, ACK))
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_the_link_needs_no_login_and_acknowledges_an_incident_acknowledged_meanwhile_clearly(
    alice, make_user, incident
) -> None:
    bob = make_user(role="oncall_engineer", username="bob")
    incident_acknowledge(incident=incident, actor=bob)
    response = Client().get(path_for(incident, alice, ACK))
    assert response.status_code == 200
    assert "already acknowledged by bob" in response.content.decode()
    assert b"<form" not in response.content
