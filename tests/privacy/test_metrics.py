"""Data-subject requests on ``/metrics``: open and overdue by type and regime, days to complete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.privacy.models import DataSubjectRequest
from apps.privacy.requests import request_create
from tests.common.test_metrics import value

pytestmark = pytest.mark.django_db


def received(request_type: str, days_ago: int, who: str) -> DataSubjectRequest:
    return request_create(
        kind="email",
        value=f"{who}@example.test",
        request_type=request_type,
        channel="web",
        received_at=timezone.now() - timedelta(days=days_ago),
    )


def test_overdue_and_open_requests_by_type_and_regime(client: Client) -> None:
    received("gdpr.access", 60, "ana")  # GDPR: one month; two months late
    received("gdpr.access", 45, "bruno")
    received("gdpr.access", 3, "carla")  # open, within its month
    received("ccpa.delete", 10, "dan")  # CCPA: 45 days
    closed = received("gdpr.access", 90, "eve")
    DataSubjectRequest.objects.filter(pk=closed.pk).update(status="completed", closed_at=timezone.now())

    assert value(client, "ecap_privacy_requests_overdue", type="access", regime="gdpr") == 2.0
    assert value(client, "ecap_privacy_requests_open", type="access", regime="gdpr") == 3.0
    assert value(client, "ecap_privacy_requests_open", type="delete", regime="ccpa") == 1.0
    assert value(client, "ecap_privacy_requests_overdue", type="delete", regime="ccpa") == 0.0
    assert value(client, "ecap_privacy_requests_overdue", type="erasure", regime="gdpr") == 0.0


def test_days_to_complete_counts_requests_completed_in_the_last_year(client: Client) -> None:
    now = timezone.now()
    for who, took, closed_days_ago in (("f", 10, 1), ("g", 40, 30), ("h", 5, 400)):
        request = received("gdpr.erasure", took + closed_days_ago, who)
        DataSubjectRequest.objects.filter(pk=request.pk).update(
            status="completed", closed_at=now - timedelta(days=closed_days_ago)
        )
    rejected = received("ccpa.know", 20, "i")
    DataSubjectRequest.objects.filter(pk=rejected.pk).update(status="rejected", closed_at=now)

    name = "ecap_privacy_request_days_to_complete"
    assert value(client, f"{name}_count", regime="gdpr") == 2.0  # the one closed 400 days ago is out of the window
    assert value(client, f"{name}_bucket", regime="gdpr", le="7.0") == 0.0
    assert value(client, f"{name}_bucket", regime="gdpr", le="14.0") == 1.0
    assert value(client, f"{name}_bucket", regime="gdpr", le="45.0") == 2.0
    assert value(client, f"{name}_sum", regime="gdpr") == pytest.approx(50.0, abs=0.01)
    assert value(client, f"{name}_count", regime="ccpa") is None  # rejected requests are not completions
