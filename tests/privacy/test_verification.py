"""Identity verification: a signed, expiring link e-mailed to the subject (GET confirms, POST verifies, no login),
or staff verifying by hand with evidence; only a genuine, unexpired link verifies."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.privacy.choices import RequestStatus
from apps.privacy.models import DataSubjectRequest, RequestEvent
from apps.privacy.requests import RequestInvalid, request_create
from apps.privacy.verification import request_verify_manually, verification_link_send

pytestmark = pytest.mark.django_db(transaction=True)


def intake(kind: str = "email", value: str = "ana@example.com") -> DataSubjectRequest:
    return request_create(kind=kind, value=value, request_type="gdpr.erasure", channel="web")


def link_from_mail() -> str:
    match = re.search(r"http://portal\.test(\S+)", mail.outbox[-1].body)
    assert match is not None
    return match.group(1)


def test_the_subject_confirms_by_the_link_without_logging_in(client: Client) -> None:
    request = intake()
    verification_link_send(request=request, actor=None, base_url="http://portal.test")
    assert mail.outbox[-1].to == ["ana@example.com"]
    request.refresh_from_db()
    assert request.status == RequestStatus.IDENTITY_PENDING
    path = link_from_mail()
    page = client.get(path)
    assert page.status_code == 200
    assert b"Confirm" in page.content
    request.refresh_from_db()
    assert request.status == RequestStatus.IDENTITY_PENDING  # opening the link verifies nothing
    assert client.post(path).status_code == 200
    request.refresh_from_db()
    assert request.status == RequestStatus.VERIFIED
    assert client.post(path).status_code == 200  # a second use changes nothing
    assert RequestEvent.objects.filter(request=request, kind="status", data__status="verified").count() == 1
    assert path.split("/")[-2] not in str(list(RequestEvent.objects.values_list("message", "data")))


def test_an_altered_or_expired_link_verifies_nothing(client: Client) -> None:
    request = intake()
    verification_link_send(request=request, actor=None, base_url="http://portal.test")
    path = link_from_mail()
    assert client.post(path[:-3] + "xx/").status_code == 400
    later = (timezone.now() + timedelta(hours=73)).timestamp()
    with mock.patch("django.core.signing.time.time", return_value=later):  # the link's 72 hours are over
        assert client.post(path).status_code == 410
    request.refresh_from_db()
    assert request.status == RequestStatus.IDENTITY_PENDING


def test_staff_verify_by_hand_with_evidence_and_a_subject_without_email_cannot_get_a_link(
    make_user: Callable[..., Any],
) -> None:
    staff = make_user(role="compliance_officer")
    by_phone = intake(kind="phone", value="+351 912 345 678")
    with pytest.raises(RequestInvalid):
        verification_link_send(request=by_phone, actor=staff, base_url="http://portal.test")
    with pytest.raises(RequestInvalid):
        request_verify_manually(request=by_phone, actor=staff, evidence="  ")
    verified = request_verify_manually(request=by_phone, actor=staff, evidence="Order number and postcode by phone")
    assert verified.status == RequestStatus.VERIFIED
    note = RequestEvent.objects.filter(request=verified, kind="status").last()
    assert note is not None
    assert "postcode" in note.message
    assert note.actor == staff
