"""Signed approval links: GET only shows, POST decides once, as the signed approver; altered, expired or foreign
links are refused with a page, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from apps.audit.choices import AuditAction, Outcome
from apps.incidents.choices import RemediationStatus, TimelineKind
from apps.incidents.remediation.links import SALT, approval_link_make
from tests.incidents.remediation.conftest import audit_for, timeline_for

PREFIX = "/incidents/remediation/approve/"


@pytest.fixture
def oncall(make_user):
    return make_user(role="oncall_engineer")


@pytest.fixture
def awaiting(make_attempt):
    return make_attempt(
        "k8s_scale_deployment",
        "shop/payments",
        {"replicas": 5},
        status=RemediationStatus.AWAITING_APPROVAL,
        requires_approval=True,
        approval_expires_at=timezone.now() + timedelta(hours=1),
    )


def test_opening_a_link_shows_the_decision_and_changes_nothing(client: Client, oncall, awaiting, enqueued) -> None:
    link = approval_link_make(attempt=awaiting, user=oncall)
    assert link.startswith(PREFIX)

    response = client.get(link)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Approve this remediation?" in page
    assert "shop/payments" in page
    assert oncall.username in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"]
    awaiting.refresh_from_db()
    assert awaiting.status == RemediationStatus.AWAITING_APPROVAL
    assert enqueued.calls == []
    assert audit_for(awaiting) == []


def test_posting_the_link_approves_once_as_the_signed_approver(
    client: Client, oncall, awaiting, enqueued, django_capture_on_commit_callbacks
) -> None:
    link = approval_link_make(attempt=awaiting, user=oncall)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(link)

    assert response.status_code == 200
    assert "Approved" in response.content.decode()
    awaiting.refresh_from_db()
    assert (awaiting.status, awaiting.decided_by) == (RemediationStatus.APPROVED, oncall)
    assert enqueued.calls == [{"attempt_id": awaiting.pk, "fencing_token": 0}]
    (event,) = audit_for(awaiting, AuditAction.APPROVE)
    assert (event.actor_id, event.details["via"]) == (str(oncall.public_id), "link")
    assert timeline_for(awaiting)[0].kind == TimelineKind.REMEDIATION_APPROVED

    again = client.post(link)
    assert again.status_code == 409
    assert "Already decided" in again.content.decode()
    assert len(enqueued.calls) == 1


def test_a_link_works_from_a_browser_with_csrf_checks(oncall, awaiting, enqueued) -> None:
    browser = Client(enforce_csrf_checks=True)
    link = approval_link_make(attempt=awaiting, user=oncall)
    assert browser.get(link).status_code == 200

    response = browser.post(link, {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})

    assert response.status_code == 200
    awaiting.refresh_from_db()
    assert awaiting.status == RemediationStatus.APPROVED


def test_a_deny_link_takes_the_reason_from_the_form(client: Client, oncall, awaiting, enqueued) -> None:
    link = approval_link_make(attempt=awaiting, user=oncall, decision="deny")
    assert "Deny this remediation?" in client.get(link).content.decode()

    response = client.post(link, {"reason": "traffic is already recovering"})

    assert response.status_code == 200
    awaiting.refresh_from_db()
    assert awaiting.status == RemediationStatus.DENIED
    assert awaiting.blocked_reason == "denied: traffic is already recovering"
    assert audit_for(awaiting, AuditAction.DENY)[0].details["via"] == "link"
    assert enqueued.calls == []


def test_an_expired_link_is_refused_with_410(client: Client, oncall, awaiting, monkeypatch) -> None:
    signer = signing.TimestampSigner(salt=SALT)
    monkeypatch.setattr(signer, "timestamp", lambda: signing.b62_encode(int(timezone.now().timestamp()) - 31 * 60))
    token = signer.sign_object({"a": str(awaiting.public_id), "u": str(oncall.public_id), "d": "approve"})

    assert client.get(f"{PREFIX}{token}/").status_code == 410
    response = client.post(f"{PREFIX}{token}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    awaiting.refresh_from_db()
    assert awaiting.status == RemediationStatus.AWAITING_APPROVAL


def test_the_link_lifetime_follows_the_configuration(client: Client, oncall, awaiting, configure, monkeypatch) -> None:
    signer = signing.TimestampSigner(salt=SALT)
    monkeypatch.setattr(signer, "timestamp", lambda: signing.b62_encode(int(timezone.now().timestamp()) - 31 * 60))
    token = signer.sign_object({"a": str(awaiting.public_id), "u": str(oncall.public_id), "d": "approve"})
    configure(**{"remediation.approval_link_ttl_minutes": 45})

    assert client.get(f"{PREFIX}{token}/").status_code == 200


def _tamper(link: str) -> str:
    token = link[len(PREFIX) : -1]
    payload, timestamp, signature = token.split(":")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{PREFIX}{payload}:{timestamp}:{flipped}/"


def test_altered_or_foreign_links_are_refused_with_400(client: Client, oncall, awaiting, enqueued) -> None:
    genuine = approval_link_make(attempt=awaiting, user=oncall)
    foreign = signing.TimestampSigner(salt="another-purpose").sign_object(
        {"a": str(awaiting.public_id), "u": str(oncall.public_id), "d": "approve"}
    )
    for link in (_tamper(genuine), f"{PREFIX}{foreign}/", f"{PREFIX}not-a-link/", f"{PREFIX}1/"):
        assert client.get(link).status_code == 400, link
        response = client.post(link)
        assert response.status_code == 400, link
        assert "not valid" in response.content.decode()
    awaiting.refresh_from_db()
    assert awaiting.status == RemediationStatus.AWAITING_APPROVAL
    assert enqueued.calls == []


def test_a_link_of_someone_who_may_no_longer_decide_is_refused(client: Client, make_user, awaiting) -> None:
    former = make_user(role="auditor")
    link = approval_link_make(attempt=awaiting, user=former)

    assert client.get(link).status_code == 403
    assert client.post(link).status_code == 403
    former.is_active = False
    former.save()
    assert client.post(approval_link_make(attempt=awaiting, user=former)).status_code == 404


def test_a_link_used_after_the_approval_window_expires_the_attempt(client: Client, oncall, awaiting, enqueued) -> None:
    link = approval_link_make(attempt=awaiting, user=oncall)
    awaiting.approval_expires_at = timezone.now() - timedelta(seconds=1)
    awaiting.save()

    response = client.post(link)

    assert response.status_code == 409
    awaiting.refresh_from_db()
    assert awaiting.status == RemediationStatus.EXPIRED
    assert audit_for(awaiting, AuditAction.DENY)[0].outcome == Outcome.FAILED
    assert enqueued.calls == []
