"""The compliance staff's privacy pages: the request queue (filters, countdowns, pagination, query counts), the request
page (deadlines, timeline, the subject's words as an audited read, the actions its status allows), staff intake, the
subject lookup and page; who may see and do what, and CSRF on every action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.common.models import User
from apps.common.testing import assert_queries_constant
from apps.privacy.choices import RequestStatus
from apps.privacy.deadlines import end_of_local_day
from apps.privacy.models import DataSubjectRequest, RequestEvent
from apps.privacy.requests import request_create, request_transition
from apps.privacy.services import ConsentIn, consent_record, subject_find

pytestmark = pytest.mark.django_db

MARKETING = "marketing.advertising.first_party.targeted"


def intake(value: str = "ana@example.com", request_type: str = "gdpr.erasure", **kwargs: Any) -> DataSubjectRequest:
    kwargs.setdefault("channel", "web")
    return request_create(kind="email", value=value, request_type=request_type, **kwargs)


def due_in(request: DataSubjectRequest, days: int) -> DataSubjectRequest:
    """Move the request's deadline to ``days`` days from today (UTC, the default controller zone)."""
    day = timezone.now().date() + timedelta(days=days)
    DataSubjectRequest.objects.filter(pk=request.pk).update(respond_by=day, respond_by_at=end_of_local_day(day, "UTC"))
    request.refresh_from_db()
    return request


def signed_in(user: User, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def officer(make_user: Callable[..., User]) -> Client:
    return signed_in(make_user(role="compliance_officer"))


@pytest.fixture
def auditor(make_user: Callable[..., User]) -> Client:
    return signed_in(make_user(role="auditor"))


def page_url(request: DataSubjectRequest) -> str:
    return reverse("privacy:request-detail", kwargs={"public_id": request.public_id})


def action_url(request: DataSubjectRequest, action: str) -> str:
    return reverse("privacy:request-action", kwargs={"public_id": request.public_id, "action": action})


def status_of(request: DataSubjectRequest) -> str:
    request.refresh_from_db()
    return request.status


def reads(target_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="read", target_type=target_type).order_by("pk"))


# --- access -----------------------------------------------------------------------------------------------------


def test_privacy_pages_redirect_anonymous_visitors_to_login(client: Client) -> None:
    request = intake()
    subject = request.subject
    urls = [
        reverse("privacy:queue"),
        page_url(request),
        reverse("privacy:request-new"),
        reverse("privacy:subject-lookup"),
        reverse("privacy:subject-detail", kwargs={"public_id": subject.public_id}),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")
    assert client.post(action_url(request, "cancel")).status_code == 302
    assert status_of(request) == RequestStatus.RECEIVED


def test_privacy_pages_refuse_users_without_view_permission(make_user: Callable[..., User]) -> None:
    request = intake()
    client = signed_in(make_user(role="oncall_engineer"))  # no privacy permission at all
    for url in (reverse("privacy:queue"), page_url(request), reverse("privacy:request-new")):
        response = client.get(url)
        assert response.status_code == 403
        assert "Not allowed" in response.content.decode()
    assert client.post(action_url(request, "cancel")).status_code == 403
    assert status_of(request) == RequestStatus.RECEIVED
    assert 'href="/privacy/"' not in client.get("/").content.decode()


def test_the_portal_links_the_privacy_pages_for_roles_that_may_view_them(officer: Client, auditor: Client) -> None:
    for client in (officer, auditor):
        html = client.get("/").content.decode()
        assert html.count('href="/privacy/"') == 2  # the nav link and the tile


def test_auditors_see_requests_but_get_no_actions_and_cannot_act(auditor: Client) -> None:
    request = intake(details="Please delete everything.")
    html = auditor.get(page_url(request)).content.decode()
    assert request.reference in html
    assert action_url(request, "cancel") not in html
    response = auditor.post(action_url(request, "cancel"))
    assert response.status_code == 403
    assert status_of(request) == RequestStatus.RECEIVED
    assert auditor.get(reverse("privacy:request-new")).status_code == 403
    assert auditor.post(reverse("privacy:request-new"), {"kind": "email", "value": "x@example.com"}).status_code == 403
    assert DataSubjectRequest.objects.count() == 1


def test_actions_without_a_csrf_token_are_refused(make_user: Callable[..., User]) -> None:
    request = intake()
    client = signed_in(make_user(role="compliance_officer"), enforce_csrf_checks=True)
    response = client.post(action_url(request, "verify"), {"evidence": "matched the order number"})
    assert response.status_code == 403
    assert status_of(request) == RequestStatus.RECEIVED


def test_an_unknown_action_or_request_is_not_found(officer: Client) -> None:
    request = intake()
    assert officer.post(action_url(request, "explode")).status_code == 404
    missing = reverse("privacy:request-detail", kwargs={"public_id": "00000000-0000-0000-0000-000000000000"})
    assert officer.get(missing).status_code == 404


# --- queue ------------------------------------------------------------------------------------------------------


def test_queue_lists_open_requests_by_deadline_with_coloured_countdowns(officer: Client) -> None:
    later = due_in(intake("a@example.com"), 20)
    soon = due_in(intake("b@example.com"), 5)
    urgent = due_in(intake("c@example.com"), 1)
    today = due_in(intake("d@example.com"), 0)
    late = due_in(intake("e@example.com"), -3)
    closed = intake("f@example.com")
    request_transition(request=closed, status=RequestStatus.VERIFIED, actor=None)
    DataSubjectRequest.objects.filter(pk=closed.pk).update(status=RequestStatus.COMPLETED)

    response = officer.get(reverse("privacy:queue"))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row.request.reference for row in rows] == [
        late.reference, today.reference, urgent.reference, soon.reference, later.reference,
    ]  # fmt: skip
    assert [row.countdown.css for row in rows] == ["overdue", "urgent", "urgent", "soon", "ok"]
    assert [row.countdown.days for row in rows] == [-3, 0, 1, 5, 20]
    html = response.content.decode()
    assert "Overdue by 3 days" in html
    assert "Due today" in html
    assert 'class="countdown cd-soon" data-days="5">5 days left' in html
    assert closed.reference not in html
    assert "a@example.com" not in html  # identities only on the subject page


def test_queue_filters_overdue_due_soon_status_type_regime_and_jurisdiction(officer: Client) -> None:
    later = due_in(intake("a@example.com", jurisdiction="PT"), 20)
    soon = due_in(intake("b@example.com", jurisdiction="DE"), 6)
    late = due_in(intake("c@example.com", "ccpa.know", jurisdiction="US-CA"), -1)
    verified = request_transition(request=later, status=RequestStatus.VERIFIED, actor=None)

    def listed(**params: str) -> list[str]:
        response = officer.get(reverse("privacy:queue"), params)
        assert response.status_code == 200
        return [row.request.reference for row in response.context["rows"]]

    assert listed(due="overdue") == [late.reference]
    assert listed(due="soon") == [soon.reference]
    assert listed(status="verified") == [verified.reference]
    assert listed(status="received") == [late.reference, soon.reference]
    assert listed(type="ccpa.know") == [late.reference]
    assert listed(regime="gdpr") == [soon.reference, later.reference]
    assert listed(jurisdiction="de") == [soon.reference]
    assert listed(status="completed") == []
    request_transition(request=verified, status=RequestStatus.IN_PROGRESS, actor=None)
    request_transition(request=verified, status=RequestStatus.COMPLETED, actor=None)
    assert listed() == [late.reference, soon.reference]
    assert listed(status="all") == [late.reference, soon.reference, later.reference]
    assert listed(status="nonsense", due="whenever") == [late.reference, soon.reference]  # ignored, not an error


def test_queue_flags_duplicates_and_paginates(officer: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.privacy import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    first = intake()
    repeat = intake()
    intake("other@example.com")
    assert repeat.duplicate_of == first
    page1 = officer.get(reverse("privacy:queue"))
    html = page1.content.decode()
    assert f"Duplicate of {first.reference}" in html
    assert page1.context["page"].paginator.num_pages == 2
    assert "page=2" in html
    page2 = officer.get(reverse("privacy:queue"), {"page": "2"})
    assert len(page2.context["rows"]) == 1


def test_queue_query_count_does_not_grow_with_requests(officer: Client) -> None:
    counter = iter(range(1000))

    def grow(n: int) -> None:
        for _ in range(n):
            i = next(counter)
            intake(f"person{i}@example.com", jurisdiction="PT" if i % 2 else "DE")
            if i % 3 == 0:
                intake(f"person{i}@example.com")  # a duplicate, whose flag names the first request

    assert_queries_constant(lambda: officer.get(reverse("privacy:queue")), grow, small=2, large=12)


# --- request page -----------------------------------------------------------------------------------------------


def test_request_page_shows_deadlines_and_timeline_and_audits_the_read_of_the_subjects_words(officer: Client) -> None:
    request = intake("ccpa-person@example.com", "ccpa.know", details="Tell me what you hold about me.")
    request_transition(request=request, status=RequestStatus.VERIFIED, actor=None, note="Checked.")
    response = officer.get(page_url(request))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tell me what you hold about me." in html
    assert request.respond_by.isoformat() in html
    assert request.acknowledge_by is not None
    assert request.acknowledge_by.isoformat() in html
    assert request.extension_notice_by is not None
    assert request.extension_notice_by.isoformat() in html
    assert html.index("Received by web") < html.index("Checked.")  # oldest first
    assert "ccpa-person@example.com" not in html  # identities only on the subject page
    [read] = reads("privacy.datasubjectrequest")
    assert read.target_id == str(request.public_id)
    assert read.details["fields"] == ["details"]
    assert read.purpose == "privacy: request handling"


def test_request_page_without_details_records_no_read(officer: Client) -> None:
    request = intake()
    assert officer.get(page_url(request)).status_code == 200
    assert reads("privacy.datasubjectrequest") == []


def test_request_page_offers_only_the_actions_of_its_status(officer: Client) -> None:
    request = intake()
    assert officer.get(page_url(request)).context["content"].actions == [
        "send-link", "verify", "acknowledge", "extend", "reject", "cancel",
    ]  # fmt: skip
    request_transition(request=request, status=RequestStatus.VERIFIED, actor=None)
    actions = officer.get(page_url(request)).context["content"].actions
    assert actions[:2] == ["plan", "start"]  # the plan is reviewed before the work starts
    assert "verify" not in actions
    assert "complete" not in actions
    DataSubjectRequest.objects.filter(pk=request.pk).update(status=RequestStatus.CANCELLED)
    response = officer.get(page_url(request))
    assert response.context["content"].actions == []
    assert 'class="action' not in response.content.decode()


# --- actions ----------------------------------------------------------------------------------------------------


def test_verify_manually_then_start_then_complete(officer: Client) -> None:
    request = intake()
    response = officer.post(
        action_url(request, "verify"), {"evidence": "matched order number and postcode"}, follow=True
    )
    assert status_of(request) == RequestStatus.VERIFIED
    assert "Identity verified by hand." in response.content.decode()
    event = RequestEvent.objects.filter(request=request, kind="status").order_by("-pk").first()
    assert event is not None
    assert "matched order number" in event.message
    assert event.actor is not None
    officer.post(action_url(request, "start"))
    assert status_of(request) == RequestStatus.IN_PROGRESS
    officer.post(action_url(request, "complete"))
    assert status_of(request) == RequestStatus.COMPLETED
    assert request.closed_at is not None


def test_verify_manually_without_evidence_changes_nothing_and_says_why(officer: Client) -> None:
    request = intake()
    response = officer.post(action_url(request, "verify"), {"evidence": "  "}, follow=True)
    assert status_of(request) == RequestStatus.RECEIVED
    assert "nothing changed" in response.content.decode()
    assert "evidence" in response.content.decode()


def test_an_action_the_status_does_not_allow_is_refused_with_a_message(officer: Client) -> None:
    request = intake()
    response = officer.post(action_url(request, "complete"), follow=True)
    assert status_of(request) == RequestStatus.RECEIVED
    assert 'class="message error"' in response.content.decode()


def test_send_verification_link_mails_the_subject(
    officer: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    request = intake()
    with django_capture_on_commit_callbacks(execute=True):
        response = officer.post(action_url(request, "send-link"))
    assert response.status_code == 302
    assert status_of(request) == RequestStatus.IDENTITY_PENDING
    assert mail.outbox[-1].to == ["ana@example.com"]
    assert "http://testserver/privacy/verify/" in mail.outbox[-1].body


def test_acknowledge_records_when(officer: Client) -> None:
    request = intake()
    officer.post(action_url(request, "acknowledge"))
    request.refresh_from_db()
    assert request.acknowledged_at is not None
    assert "acknowledge" not in officer.get(page_url(request)).context["content"].actions


def test_extend_moves_the_deadline_with_the_reason(officer: Client) -> None:
    request = intake()
    before = request.respond_by
    officer.post(action_url(request, "extend"), {"reason": "Data spread over many systems."})
    request.refresh_from_db()
    assert request.extended
    assert request.respond_by > before
    assert request.extension_reason == "Data spread over many systems."
    assert "extend" not in officer.get(page_url(request)).context["content"].actions


def test_reject_needs_and_keeps_the_legal_reason(officer: Client) -> None:
    request = intake()
    officer.post(action_url(request, "reject"), {"reason": ""})
    assert status_of(request) == RequestStatus.RECEIVED
    officer.post(action_url(request, "reject"), {"reason": "Manifestly unfounded (Art. 12(5))."})
    assert status_of(request) == RequestStatus.REJECTED
    assert request.rejection_reason == "Manifestly unfounded (Art. 12(5))."
    assert "Manifestly unfounded" in officer.get(page_url(request)).content.decode()


def test_cancel_closes_the_request(officer: Client) -> None:
    request = intake()
    officer.post(action_url(request, "cancel"), {"note": "Withdrawn by the subject."})
    assert status_of(request) == RequestStatus.CANCELLED
    assert RequestEvent.objects.filter(request=request, kind="cancelled", message="Withdrawn by the subject.").exists()


# --- intake -----------------------------------------------------------------------------------------------------


def test_intake_creates_a_request_and_goes_to_its_page(officer: Client) -> None:
    form = officer.get(reverse("privacy:request-new"))
    assert form.status_code == 200
    assert 'type="datetime-local"' in form.content.decode()
    received = timezone.now() - timedelta(days=2)
    response = officer.post(
        reverse("privacy:request-new"),
        {
            "kind": "email",
            "value": "Rui@Example.com",
            "request_type": "gdpr.access",
            "channel": "phone",
            "jurisdiction": "pt",
            "received_at": received.strftime("%Y-%m-%dT%H:%M"),
            "details": "What do you hold?",
        },
    )
    request = DataSubjectRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page_url(request)
    assert request.subject == subject_find(kind="email", value="rui@example.com")
    assert (request.request_type, request.channel, request.jurisdiction) == ("gdpr.access", "phone", "PT")
    assert abs(request.received_at - received) < timedelta(minutes=1)
    assert request.details == "What do you hold?"
    assert request.created_by is not None


def test_intake_shows_the_services_errors_on_their_fields(officer: Client) -> None:
    data = {"kind": "email", "value": "not-an-address", "request_type": "gdpr.access", "channel": "email"}
    response = officer.post(reverse("privacy:request-new"), data)
    assert response.status_code == 400
    assert response.context["form"].errors["value"] == ["Not an e-mail address."]
    future = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = officer.post(reverse("privacy:request-new"), {**data, "value": "ok@example.com", "received_at": future})
    assert "received_at" in response.context["form"].errors
    assert not DataSubjectRequest.objects.exists()


# --- subjects ---------------------------------------------------------------------------------------------------


def test_subject_lookup_by_post_shows_identities_and_consent_history_and_audits_the_read(officer: Client) -> None:
    consent_record(item=ConsentIn(kind="email", value="ana@example.com", purpose=MARKETING, decision="opt_in"))
    consent_record(item=ConsentIn(kind="email", value="ana@example.com", purpose=MARKETING, decision="opt_out"))
    request = intake()
    subject = request.subject

    assert officer.get(reverse("privacy:subject-lookup")).status_code == 200
    response = officer.post(reverse("privacy:subject-lookup"), {"kind": "email", "value": " ANA@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("privacy:subject-detail", kwargs={"public_id": subject.public_id})
    assert "ana" not in response["Location"]
    assert reads("privacy.datasubject") == []

    page = officer.get(response["Location"])
    html = page.content.decode()
    assert "ana@example.com" in html
    assert html.count(MARKETING) == 2
    assert html.index("Opt-in") < html.index("Opt-out")
    assert request.reference in html
    [read] = reads("privacy.datasubject")
    assert read.target_id == str(subject.public_id)
    assert read.details["fields"] == ["identities"]


def test_subject_lookup_of_an_unknown_identity_says_so(officer: Client) -> None:
    response = officer.post(reverse("privacy:subject-lookup"), {"kind": "email", "value": "nobody@example.com"})
    assert response.status_code == 400
    assert "No data subject is known by this identity." in response.content.decode()
    response = officer.post(reverse("privacy:subject-lookup"), {"kind": "email", "value": "nope"})
    assert response.context["form"].errors["value"] == ["Not an e-mail address."]
    assert reads("privacy.datasubject") == []


def test_staff_build_review_and_approve_the_plan_from_the_request_page(
    client: Client, make_user: Callable[..., Any]
) -> None:
    from apps.privacy.models import RequestPlan
    from apps.privacy.requests import request_create
    from apps.privacy.verification import request_verify_manually
    from tests.catalog.factories import DatasetFactory, FieldFactory

    staff = make_user(role="compliance_officer")
    client.force_login(staff)
    customers = DatasetFactory(name="raw/customers")
    FieldFactory(dataset=customers, name="email", identity_kind="email")
    dsr = request_create(kind="email", value="ana@example.com", request_type="gdpr.erasure", channel="web")
    dsr = request_verify_manually(request=dsr, actor=staff, evidence="called back on the number on file")
    page = client.get(f"/privacy/requests/{dsr.public_id}/")
    assert b"Build the plan" in page.content
    client.post(f"/privacy/requests/{dsr.public_id}/plan/")
    page = client.get(f"/privacy/requests/{dsr.public_id}/")
    assert b"raw/customers" in page.content
    assert b"Approve the plan" in page.content
    client.post(f"/privacy/requests/{dsr.public_id}/approve-plan/")
    plan = RequestPlan.objects.get(request=dsr)
    assert plan.approved_by == staff
    assert plan.items[0]["action"] == "delete"


def test_staff_restrict_a_subject_with_a_reason_and_lift_it(client: Client, make_user: Callable[..., Any]) -> None:
    from apps.privacy.choices import ConsentAnswer
    from apps.privacy.services import consent_check

    consent_record(item=ConsentIn(kind="email", value="ana@example.com", purpose="marketing", decision="opt_in"))
    subject = subject_find(kind="email", value="ana@example.com")
    assert subject is not None
    url = f"/privacy/subjects/{subject.public_id}/restrict/"
    client.force_login(make_user(role="auditor"))
    assert client.post(url, {"restricted": "1", "reason": "x"}).status_code == 403
    client.force_login(make_user(role="compliance_officer"))
    client.post(url, {"restricted": "1", "reason": ""})
    subject.refresh_from_db()
    assert not subject.restricted  # a restriction needs its reason
    page = client.post(url, {"restricted": "1", "reason": "Accuracy contested (Art. 18(1)(a))"}, follow=True)
    assert b"Processing restricted." in page.content
    assert consent_check(kind="email", value="ana@example.com", purpose="marketing").answer == ConsentAnswer.RESTRICTED
    client.post(url, {"restricted": "0"})
    subject.refresh_from_db()
    assert not subject.restricted


def test_the_annual_metrics_page_counts_requests_per_type(client: Client, make_user: Callable[..., Any]) -> None:
    request_create(kind="email", value="ana@example.com", request_type="ccpa.delete", channel="web")
    client.force_login(make_user(role="compliance_officer"))
    page = client.get("/privacy/reports/metrics/", {"regime": "ccpa", "year": timezone.now().year})
    assert page.status_code == 200
    rows = {row.request_type: row for row in page.context["rows"]}
    assert rows["ccpa.delete"].received == 1
    assert rows["ccpa.delete"].open == 1
    assert client.get("/privacy/reports/metrics/", {"regime": "nope", "year": "abc"}).status_code == 200
