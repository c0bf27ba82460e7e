"""Data-subject requests: deadlines computed at intake in the controller's zone over its holidays, the lifecycle,
one extension with its reason, rejection with a legal reason, duplicates, and reminders raised once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.common.errors import Conflict
from apps.configuration.services import get_store
from apps.incidents.models import AlertPayload
from apps.privacy.choices import RequestStatus
from apps.privacy.models import DataSubjectRequest, RequestEvent
from apps.privacy.requests import (
    RequestInvalid,
    deadlines_sweep,
    request_cancel,
    request_create,
    request_extend,
    request_reject,
    request_transition,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def lisbon_holidays(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ECAP_PRIVACY__TIME_ZONE", "Europe/Lisbon")
    monkeypatch.setenv("ECAP_PRIVACY__HOLIDAYS", '["2026-12-08", "2026-12-25"]')
    get_store().invalidate()
    yield
    get_store().invalidate()


def intake(request_type: str = "gdpr.erasure", **kwargs: object) -> DataSubjectRequest:
    kwargs.setdefault("received_at", timezone.now())
    return request_create(kind="email", value="ana@example.com", request_type=request_type, channel="web", **kwargs)


def test_gdpr_deadline_is_one_month_moved_off_a_holiday_and_the_reference_is_readable() -> None:
    # Received 8 Nov 2026 (Lisbon): one month is 8 Dec, a holiday there, so the deadline is 9 Dec.
    request = intake(received_at=datetime(2026, 11, 8, 10, 0, tzinfo=UTC))
    assert request.respond_by.isoformat() == "2026-12-09"
    assert request.respond_by_at.astimezone(UTC).isoformat().startswith("2026-12-09T23:59:59")
    assert request.reference == f"DSR-2026-{request.pk:06d}"
    assert request.acknowledge_by is None
    assert RequestEvent.objects.get(request=request, kind="received").data["respond_by"] == "2026-12-09"


def test_ccpa_deadlines_have_an_acknowledgement_and_opt_outs_are_shorter() -> None:
    know = intake("ccpa.know", received_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert know.acknowledge_by is not None
    assert know.acknowledge_by.isoformat() == "2026-12-16"  # 10 business days, 8 Dec a holiday
    assert know.respond_by.isoformat() == "2027-01-15"  # 45 calendar days
    opt_out = intake("ccpa.opt_out_sale", received_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert opt_out.extension_notice_by is None
    with pytest.raises(Conflict):
        request_extend(request=opt_out, reason="complex", actor=None)


def test_bad_intake_is_refused_naming_the_field() -> None:
    with pytest.raises(RequestInvalid) as error:
        intake("gdpr.forget_me")
    assert "request_type" in error.value.fields
    with pytest.raises(RequestInvalid) as error:
        intake(received_at=timezone.now() + timedelta(days=1))
    assert "received_at" in error.value.fields


def test_a_repeat_while_the_first_is_open_is_flagged_as_a_duplicate() -> None:
    first = intake()
    second = intake()
    assert second.duplicate_of == first
    assert intake("gdpr.access").duplicate_of is None


def test_the_lifecycle_goes_forward_only_and_closing_is_final() -> None:
    request = intake()
    with pytest.raises(Conflict):
        request_transition(request=request, status=RequestStatus.COMPLETED, actor=None)
    for status in (RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS):
        request = request_transition(request=request, status=status, actor=None)
    request = request_transition(request=request, status=RequestStatus.COMPLETED, actor=None)
    assert request.closed_at is not None
    with pytest.raises(Conflict):
        request_cancel(request=request, actor=None)
    kinds = list(RequestEvent.objects.filter(request=request).values_list("kind", flat=True))
    assert kinds == ["received", "status", "status", "status", "status"]


def test_an_extension_needs_a_reason_happens_once_and_moves_the_deadline() -> None:
    request = intake(received_at=timezone.now() - timedelta(days=2))
    with pytest.raises(RequestInvalid):
        request_extend(request=request, reason=" ", actor=None)
    first_due = request.respond_by
    extended = request_extend(request=request, reason="Data held in many systems (Art. 12(3))", actor=None)
    assert extended.respond_by > first_due
    assert (extended.respond_by - first_due).days >= 58
    with pytest.raises(Conflict):
        request_extend(request=extended, reason="again", actor=None)
    late = intake("gdpr.access", received_at=timezone.now() - timedelta(days=40))
    with pytest.raises(Conflict) as error:
        request_extend(request=late, reason="too late now", actor=None)
    assert error.value.code == "too_late"


def test_a_rejection_needs_its_legal_reason() -> None:
    request = intake()
    with pytest.raises(RequestInvalid):
        request_reject(request=request, reason="", actor=None)
    rejected = request_reject(request=request, reason="Identity could not be verified (Art. 12(6))", actor=None)
    assert rejected.status == RequestStatus.REJECTED
    assert rejected.rejection_reason.startswith("Identity")


def test_reminders_are_raised_once_each_then_the_breach_and_closing_resolves() -> None:
    request = intake(received_at=timezone.now() - timedelta(days=1))
    due = request.respond_by_at
    assert deadlines_sweep(now=due - timedelta(days=20)) == 0
    assert deadlines_sweep(now=due - timedelta(days=6, hours=12)) == 1
    assert deadlines_sweep(now=due - timedelta(days=6)) == 0  # once per reminder
    assert deadlines_sweep(now=due - timedelta(days=2, hours=12)) == 1
    assert deadlines_sweep(now=due - timedelta(hours=2)) == 1
    assert deadlines_sweep(now=due + timedelta(hours=1)) == 1
    assert deadlines_sweep(now=due + timedelta(days=3)) == 0
    request.refresh_from_db()
    assert request.reminders_sent == ["7d", "3d", "1d", "breach"]
    alerts = AlertPayload.objects.filter(body__labels__source="privacy").order_by("pk")
    assert {a.body["dedup_key"] for a in alerts} == {f"privacy:dsr:{request.public_id}"}  # one incident
    assert alerts.last().body["labels"]["alertname"] == "DsrDeadlineBreached"
    request_cancel(request=request, actor=None, note="withdrawn by the subject")
    assert (
        AlertPayload.objects.filter(body__labels__source="privacy").order_by("-pk").first().body["status"] == "resolved"
    )
