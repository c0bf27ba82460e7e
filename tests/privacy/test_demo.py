"""The privacy demo: consent decisions and open requests, seeded once."""

from __future__ import annotations

import pytest

from apps.privacy import demo
from apps.privacy.choices import ConsentAnswer
from apps.privacy.models import ConsentEvent, DataSubjectRequest
from apps.privacy.services import consent_check

pytestmark = pytest.mark.django_db


def test_seeding_records_decisions_and_requests_once() -> None:
    demo.seed()
    assert ConsentEvent.objects.count() == len(demo.CONSENTS)
    check = consent_check(kind="email", value="jonas.weber@example.com", purpose=demo.MARKETING)
    assert check.answer == ConsentAnswer.DENIED  # the later opt-out wins
    statuses = dict(DataSubjectRequest.objects.values_list("request_type", "status"))
    assert statuses == {"gdpr.erasure": "verified", "ccpa.know": "received", "gdpr.access": "identity_pending"}
    demo.seed()
    assert ConsentEvent.objects.count() == len(demo.CONSENTS)
    assert DataSubjectRequest.objects.count() == len(demo.REQUESTS)
