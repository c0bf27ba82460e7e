"""Annual request metrics per type: received, complied with, denied, open, late, median days to respond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.privacy.choices import RequestStatus
from apps.privacy.models import DataSubjectRequest
from apps.privacy.reports import annual_metrics
from apps.privacy.requests import request_create, request_reject

pytestmark = pytest.mark.django_db


def closed(request_type: str, received: datetime, days: int, status: str = RequestStatus.COMPLETED) -> None:
    request = request_create(
        kind="email", value=f"{request_type}-{days}@example.com", request_type=request_type, channel="web",
        received_at=received,
    )  # fmt: skip
    DataSubjectRequest.objects.filter(pk=request.pk).update(status=status, closed_at=received + timedelta(days=days))


def test_metrics_count_by_type_and_give_the_median_days() -> None:
    start = datetime(2025, 3, 1, 9, tzinfo=UTC)
    closed("ccpa.delete", start, 10)
    closed("ccpa.delete", start, 20)
    closed("ccpa.delete", start, 50)  # past the 45 days
    closed("ccpa.know", start, 5, RequestStatus.REJECTED)
    request_create(kind="email", value="open@example.com", request_type="ccpa.delete", channel="web", received_at=start)
    closed("ccpa.delete", datetime(2024, 12, 1, tzinfo=UTC), 3)  # another year
    rows = {m.request_type: m for m in annual_metrics(regime="ccpa", year=2025)}
    delete = rows["ccpa.delete"]
    assert (delete.received, delete.complied, delete.open, delete.late) == (4, 3, 1, 1)
    assert delete.median_days == 20
    assert (rows["ccpa.know"].denied, rows["ccpa.know"].median_days) == (1, 5)
    assert rows["ccpa.correct"].received == 0
    assert all(r.startswith("ccpa.") for r in rows)
    assert {m.request_type for m in annual_metrics(regime="gdpr", year=2025)} >= {"gdpr.erasure", "gdpr.access"}


def test_a_rejected_request_counts_as_denied() -> None:
    request = request_create(kind="email", value="x@example.com", request_type="gdpr.erasure", channel="web")
    request_reject(request=request, reason="Manifestly unfounded (Art. 12(5))", actor=None)
    year = request.received_at.year
    erasure = next(m for m in annual_metrics(regime="gdpr", year=year) if m.request_type == "gdpr.erasure")
    assert (erasure.received, erasure.denied, erasure.median_days) == (1, 1, 0)
