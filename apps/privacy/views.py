"""Pages of privacy under ``/privacy/``.

The public one is the identity-verification link a data subject opens (no login; the signed link is the credential):
GET shows a confirmation page, the POST of that page verifies. The others are the compliance staff's: the request
queue, the request page with its actions, staff intake, and the subject lookup and page.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.audit.services import audit_record_read
from apps.common.errors import DomainError
from apps.common.models import User
from apps.privacy import forms
from apps.privacy.certificates import certificate_export, certificate_verify, public_key_b64
from apps.privacy.choices import RequestStatus, RetentionMode, RunStatus
from apps.privacy.execution import request_run_start
from apps.privacy.forms import IntakeForm, LookupForm, QueueFilterForm, add_domain_errors
from apps.privacy.models import (
    DataSubject,
    DataSubjectRequest,
    ErasureCertificate,
    ExportPackage,
    RetentionRule,
    RetentionRun,
)
from apps.privacy.packages import (
    PackageLinkInvalid,
    PackageUnavailable,
    package_download,
    package_from_link,
    package_link_send,
)
from apps.privacy.page_selectors import (
    jurisdictions,
    privacy_time_zone,
    queue_rows,
    request_by_public_id,
    request_page,
    request_queue,
    subject_page,
)
from apps.privacy.planning import plan_approve, plan_build, plan_item_exclude
from apps.privacy.reports import annual_metrics
from apps.privacy.requests import (
    request_acknowledge,
    request_cancel,
    request_create,
    request_extend,
    request_reject,
    request_transition,
)
from apps.privacy.retention import retention_run_start
from apps.privacy.services import subject_find, subject_restrict
from apps.privacy.verification import (
    VerificationLinkExpired,
    VerificationLinkInvalid,
    request_verify_manually,
    verification_confirm,
    verification_link_send,
    verification_read,
)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) and verify (POST) the request a signed link names."""
    try:
        dsr = verification_read(token)
    except VerificationLinkExpired:
        return render(request, "privacy/verify.html", {"state": "expired"}, status=410)
    except VerificationLinkInvalid:
        return render(request, "privacy/verify.html", {"state": "invalid"}, status=400)
    if request.method == "POST":
        dsr = verification_confirm(token=token)
        return render(request, "privacy/verify.html", {"state": "done", "reference": dsr.reference})
    state = "confirm" if dsr.status == "identity_pending" else "already"
    return render(request, "privacy/verify.html", {"state": state, "reference": dsr.reference})


# --- staff pages ------------------------------------------------------------------------------------------------
# Every page below needs login (the project's middleware) and ``privacy.view_datasubjectrequest``; actions need the
# change permission and intake the add permission. Identity values are shown on the subject page only.

VIEW_PERMISSION = "privacy.view_datasubjectrequest"
CHANGE_PERMISSION = "privacy.change_datasubjectrequest"
ADD_PERMISSION = "privacy.add_datasubjectrequest"
SUBJECT_VIEW_PERMISSION = "privacy.view_datasubject"
PAGE_SIZE = 50
READ_PURPOSE = "privacy: request handling"


def _forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "privacy/forbidden.html", {"reason": reason}, status=403)


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, tz: str, status: int = 200
) -> HttpResponse:
    """Render with dates and times shown in the controller's zone, the zone deadlines are counted in."""
    with timezone.override(ZoneInfo(tz)):
        return render(request, template, {**context, "privacy_tz": tz}, status=status)


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The request queue: filtered, soonest deadline first, each with its countdown."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    tz = privacy_time_zone()
    now = timezone.now()
    form = QueueFilterForm(request.GET)
    filters = form.filters()
    page = Paginator(request_queue(filters=filters, now=now, tz=tz), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {
        "form": form,
        "filters": filters,
        "page": page,
        "rows": queue_rows(list(page.object_list), now=now, tz=tz),
        "page_query": query.urlencode(),
        "jurisdictions": jurisdictions(),
        "status_choices": forms.STATUS_CHOICES,
        "type_choices": forms.TYPE_CHOICES,
        "regime_choices": forms.REGIME_CHOICES,
        "due_choices": forms.DUE_CHOICES,
    }
    return _render(request, "privacy/queue.html", context, tz=tz)


@require_GET
def request_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """One request: facts, deadlines, the subject's words (an audited read), timeline and the actions allowed."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    tz = privacy_time_zone()
    content = request_page(public_id=public_id, now=timezone.now(), tz=tz)
    if content is None:
        raise Http404("No such request.")
    dsr = content.request
    if dsr.details:
        audit_record_read(target=dsr, fields_shown=["details"], purpose=READ_PURPOSE)
    context: dict[str, Any] = {
        "content": content,
        "dsr": dsr,
        "may_change": request.user.has_perm(CHANGE_PERMISSION),
        "may_view_subject": request.user.has_perm(SUBJECT_VIEW_PERMISSION),
    }
    return _render(request, "privacy/request_detail.html", context, tz=tz)


def _send_link(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    verification_link_send(request=dsr, actor=_actor(request), base_url=request.build_absolute_uri("/"))
    return "Verification link e-mailed to the subject."


def _verify(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    actor = cast(User, request.user)  # the staff pages need login
    request_verify_manually(request=dsr, actor=actor, evidence=request.POST.get("evidence", ""))
    return "Identity verified by hand."


def _acknowledge(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    request_acknowledge(request=dsr, actor=_actor(request))
    return "Receipt acknowledged."


def _start(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    request_transition(request=dsr, status=RequestStatus.IN_PROGRESS, actor=_actor(request))
    return "Work on the request started."


def _complete(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    request_transition(request=dsr, status=RequestStatus.COMPLETED, actor=_actor(request))
    return "Request completed."


def _extend(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    done = request_extend(request=dsr, reason=request.POST.get("reason", ""), actor=_actor(request))
    return f"Deadline extended to {done.respond_by.isoformat()}."


def _reject(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    request_reject(request=dsr, reason=request.POST.get("reason", ""), actor=_actor(request))
    return "Request rejected."


def _cancel(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    request_cancel(request=dsr, actor=_actor(request), note=request.POST.get("note", ""))
    return "Request cancelled."


def _plan(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    plan = plan_build(request=dsr, actor=_actor(request))
    return f"Plan built: {len(plan.items)} dataset(s) to review."


def _exclude(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    dataset = request.POST.get("dataset", "")
    plan_item_exclude(
        request=dsr, dataset=dataset, reason=request.POST.get("reason", ""), actor=cast(User, request.user)
    )
    return f"{dataset} excluded from the run; approve the plan again."


def _approve_plan(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    plan_approve(request=dsr, actor=cast(User, request.user))
    return "Plan approved."


def _run(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    """Run the approved plan; a rectification's new values come as ``update:<dataset>:<field>`` inputs."""
    updates: dict[str, dict[str, str]] = {}
    for name in request.POST:
        value = request.POST.get(name, "")
        if name.startswith("update:") and name.count(":") >= 2 and value.strip():
            _, dataset, column = name.split(":", 2)
            updates.setdefault(dataset, {})[column] = value
    run = request_run_start(request=dsr, actor=_actor(request), updates=updates or None)
    return f"{run.get_kind_display()} started; this page follows its progress."


def _send_package_link(request: HttpRequest, dsr: DataSubjectRequest) -> str:
    package = ExportPackage.objects.filter(request=dsr, purged_at__isnull=True).order_by("-created_at").first()
    if package is None:
        raise PackageUnavailable("No package to send.")
    package_link_send(package=package, base_url=request.build_absolute_uri("/"))
    return "Download link e-mailed to the subject."


ACTIONS: dict[str, Callable[[HttpRequest, DataSubjectRequest], str]] = {
    "run": _run,
    "send-package-link": _send_package_link,
    "plan": _plan,
    "approve-plan": _approve_plan,
    "exclude": _exclude,
    "send-link": _send_link,
    "verify": _verify,
    "acknowledge": _acknowledge,
    "start": _start,
    "complete": _complete,
    "extend": _extend,
    "reject": _reject,
    "cancel": _cancel,
}


@require_POST
def request_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    """One step on a request (``ACTIONS``); the outcome, or why it was refused, is the next page's message."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    handler = ACTIONS.get(action)
    dsr = request_by_public_id(public_id=public_id)
    if handler is None or dsr is None:
        raise Http404("No such request or action.")
    if not request.user.has_perm(CHANGE_PERMISSION):
        return _forbidden(request, reason="change")
    try:
        done = handler(request, dsr)
    except DomainError as exc:
        messages.error(request, f"{dsr.reference}: nothing changed. {exc.detail}")
    else:
        messages.success(request, f"{dsr.reference}: {done}")
    return redirect("privacy:request-detail", public_id=dsr.public_id)


@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    """Staff intake of a request received by phone, post, e-mail or in person."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    if not request.user.has_perm(ADD_PERMISSION):
        return _forbidden(request, reason="add")
    tz = privacy_time_zone()
    with timezone.override(ZoneInfo(tz)):  # the receipt time is typed in the controller's zone
        if request.method == "POST":
            form = IntakeForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    dsr = request_create(
                        kind=data["kind"],
                        value=data["value"],
                        request_type=data["request_type"],
                        channel=data["channel"],
                        jurisdiction=data["jurisdiction"].strip().upper(),
                        received_at=data["received_at"],
                        details=data["details"],
                        created_by=_actor(request),
                    )
                except DomainError as exc:
                    add_domain_errors(form, exc)
                else:
                    messages.success(request, f"{dsr.reference} taken in; respond by {dsr.respond_by.isoformat()}.")
                    return redirect("privacy:request-detail", public_id=dsr.public_id)
        else:
            form = IntakeForm(
                initial={"received_at": timezone.localtime(timezone.now()).replace(second=0, microsecond=0)}
            )
        status = 400 if form.errors else 200
        return render(request, "privacy/request_new.html", {"form": form, "privacy_tz": tz}, status=status)


@require_http_methods(["GET", "POST"])
def subject_lookup(request: HttpRequest) -> HttpResponse:
    """Find a subject by an identity sent in the POST body, then go to its page (the identity never in a URL)."""
    if not (request.user.has_perm(VIEW_PERMISSION) and request.user.has_perm(SUBJECT_VIEW_PERMISSION)):
        return _forbidden(request, reason="subject")
    form = LookupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            subject = subject_find(kind=form.cleaned_data["kind"], value=form.cleaned_data["value"])
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if subject is not None:
                return redirect("privacy:subject-detail", public_id=subject.public_id)
            form.add_error(None, "No data subject is known by this identity.")
    status = 400 if form.errors else 200
    return render(request, "privacy/subject_lookup.html", {"form": form}, status=status)


@require_GET
def subject_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A subject: identities (decrypted, an audited read), restriction, consent history and past requests."""
    if not (request.user.has_perm(VIEW_PERMISSION) and request.user.has_perm(SUBJECT_VIEW_PERMISSION)):
        return _forbidden(request, reason="subject")
    content = subject_page(public_id=public_id)
    if content is None:
        raise Http404("No such data subject.")
    if content.identities:
        audit_record_read(target=content.subject, fields_shown=["identities"], purpose=READ_PURPOSE)
    tz = privacy_time_zone()
    return _render(request, "privacy/subject_detail.html", {"content": content, "subject": content.subject}, tz=tz)


SUBJECT_CHANGE_PERMISSION = "privacy.change_datasubject"


@require_POST
def subject_restrict_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Restrict a subject's processing (GDPR Art. 18), with the reason, or lift the restriction."""
    if not (request.user.has_perm(SUBJECT_VIEW_PERMISSION) and request.user.has_perm(SUBJECT_CHANGE_PERMISSION)):
        return _forbidden(request, reason="change")
    subject = DataSubject.objects.filter(public_id=public_id).first()
    if subject is None:
        raise Http404("No such data subject.")
    restrict = request.POST.get("restricted") == "1"
    reason = request.POST.get("reason", "").strip()
    if restrict and not reason:
        messages.error(
            request, "Nothing changed: a restriction needs its reason (e.g. accuracy contested, Art. 18(1)(a))."
        )
    else:
        subject_restrict(subject=subject, restricted=restrict, reason=reason)
        messages.success(request, "Processing restricted." if restrict else "Restriction lifted.")
    return redirect("privacy:subject-detail", public_id=subject.public_id)


@require_GET
def metrics_report(request: HttpRequest) -> HttpResponse:
    """Annual request metrics per type for a regime (``?regime=ccpa&year=2026``)."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    regime = request.GET.get("regime", "ccpa")
    if regime not in ("ccpa", "gdpr"):
        regime = "ccpa"
    this_year = timezone.now().year
    try:
        year = int(request.GET.get("year", this_year))
    except ValueError:
        year = this_year
    year = min(max(year, 2018), this_year)
    rows = annual_metrics(regime=regime, year=year)
    context = {"rows": rows, "regime": regime, "year": year, "years": list(range(this_year, 2017, -1))}
    return _render(request, "privacy/metrics.html", context, tz=privacy_time_zone())


@require_GET
def certificate_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """An erasure certificate: what it states, its signature and whether it verifies under the current key."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    certificate = ErasureCertificate.objects.select_related("request").filter(public_id=public_id).first()
    if certificate is None:
        raise Http404("No such certificate.")
    context = {
        "certificate": certificate,
        "dsr": certificate.request,
        "document": json.loads(certificate.document),
        "valid": certificate_verify(certificate),
        "public_key": public_key_b64(),
    }
    return _render(request, "privacy/certificate.html", context, tz=privacy_time_zone())


@require_GET
def certificate_json(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The certificate as a self-contained signed JSON file, for the subject or an auditor to check."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    certificate = ErasureCertificate.objects.filter(public_id=public_id).first()
    if certificate is None:
        raise Http404("No such certificate.")
    response = JsonResponse(certificate_export(certificate), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="{certificate.number}.json"'
    return response


def _zip_response(data: bytes, package: ExportPackage) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{package.request.reference}-data.zip"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def package_staff_download(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Staff download of a request's package (an audited export of the subject's data)."""
    if not request.user.has_perm(CHANGE_PERMISSION):
        return _forbidden(request, reason="change")
    package = ExportPackage.objects.select_related("request").filter(public_id=public_id).first()
    if package is None:
        raise Http404("No such package.")
    try:
        data = package_download(package=package, by=request.user.get_username())
    except PackageUnavailable as exc:
        messages.error(request, f"{package.request.reference}: {exc.detail}")
        return redirect("privacy:request-detail", public_id=package.request.public_id)
    return _zip_response(data, package)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def package_link(request: HttpRequest, token: str) -> HttpResponse:
    """The subject's download link: GET shows the page, its POST downloads (link scanners download nothing)."""
    try:
        package = package_from_link(token)
        if request.method == "POST":
            return _zip_response(package_download(package=package, by="the subject (e-mailed link)"), package)
        context: dict[str, Any] = {"package": package, "reference": package.request.reference, "error": None}
        status = 200 if package.purged_at is None and package.expires_at > timezone.now() else 410
        if status == 410:
            context["error"] = "This download has expired."
    except (PackageLinkInvalid, PackageUnavailable) as exc:
        context, status = {"package": None, "error": exc.detail}, exc.status
    return render(request, "privacy/package_link.html", context, status=status)


RETENTION_VIEW = "privacy.view_retentionrun"
RETENTION_RUN = "privacy.add_retentionrun"


@require_http_methods(["GET", "POST"])
def retention(request: HttpRequest) -> HttpResponse:
    """Retention rules and runs: each dry run's report, and its application (by the cycle or by hand)."""
    if not request.user.has_perm(RETENTION_VIEW):
        return _forbidden(request)
    if request.method == "POST":
        if not request.user.has_perm(RETENTION_RUN):
            return _forbidden(request, reason="change")
        chosen = _uuid(request.POST.get("apply", ""))
        dry_run = RetentionRun.objects.filter(public_id=chosen).first() if chosen else None
        try:
            mode = RetentionMode.APPLY if request.POST.get("apply") else RetentionMode.DRY_RUN
            done = retention_run_start(mode=mode, actor=_actor(request), dry_run=dry_run)
        except DomainError as exc:
            messages.error(request, f"Nothing started. {exc.detail}")
        else:
            messages.success(request, f"Retention {done.get_mode_display().lower()} started.")
        return redirect("privacy:retention")
    runs = list(
        RetentionRun.objects.select_related("spark_run", "requested_by", "dry_run").order_by("-created_at")[:20]
    )
    applied = set(RetentionRun.objects.filter(dry_run__in=runs).values_list("dry_run_id", flat=True))
    context = {
        "rules": RetentionRule.objects.select_related("dataset", "category").order_by("name"),
        "runs": runs,
        "applied": applied,
        "active": any(r.status in (RunStatus.QUEUED, RunStatus.RUNNING) for r in runs),
        "may_run": request.user.has_perm(RETENTION_RUN),
    }
    return _render(request, "privacy/retention.html", context, tz=privacy_time_zone())


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
