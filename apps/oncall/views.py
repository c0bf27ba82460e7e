"""The on-call pages under ``/oncall/``: who is on call now and next, my shifts (with my iCal feed), my open incidents
with acknowledge and resolve, an incident as a paged responder needs it (the page every page links to), a schedule's
week with its overrides, and my contact methods and notification rules.

Every page needs login (the project's middleware) and ``oncall.view_schedule`` (the incident page:
``incidents.view_incident``); acting needs the permission of the change (on-call engineers and administrators have
them). Times are shown in the zone they are decided in: a
schedule's week in the schedule's zone, my shifts in mine. Contact addresses are personal data: lists show them
masked, and showing one in full is an audited read.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.audit.services import audit_record_read
from apps.common.errors import DomainError
from apps.common.models import User
from apps.incidents.lifecycle import incident_acknowledge, incident_escalate, incident_resolve
from apps.incidents.markdown import render_markdown
from apps.incidents.models import Incident
from apps.oncall import services
from apps.oncall.calendar import user_feed_token
from apps.oncall.forms import ContactMethodForm, OverrideForm, RuleForm, add_domain_errors
from apps.oncall.models import ContactMethod, Delivery, NotificationRule, Override, Schedule
from apps.oncall.selectors import (
    contact_method_list,
    incident_page,
    my_open_incidents,
    my_shifts,
    notification_rule_list,
    oncall_now_all,
    week_view,
)

VIEW_PERMISSION = "oncall.view_schedule"
ADD_OVERRIDE = "oncall.add_override"
DELETE_OVERRIDE = "oncall.delete_override"
MANAGE_CONTACT = ("oncall.add_contactmethod", "oncall.delete_contactmethod", "oncall.add_notificationrule")
VIEW_INCIDENT = "incidents.view_incident"
CHANGE_INCIDENT = "incidents.change_incident"
DONE = {"acknowledge": "acknowledged", "resolve": "resolved", "escalate": "escalated: the next step runs now"}
MY_SHIFTS_DAYS = 14
READ_PURPOSE = "oncall: own contact method"
RECENT = 10


def _forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "oncall/forbidden.html", {"reason": reason}, status=403)


def _me(request: HttpRequest) -> User:
    return cast(User, request.user)  # every page needs login


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, tz: str, status: int = 200
) -> HttpResponse:
    """Render with dates and times shown in ``tz``."""
    with timezone.override(ZoneInfo(tz)):
        return render(request, template, {**context, "shown_tz": tz}, status=status)


def _user_tz(user: User) -> str:
    return user.time_zone or "UTC"


def _schedule(public_id: uuid.UUID) -> Schedule:
    schedule = Schedule.objects.select_related("team").filter(public_id=public_id).first()
    if schedule is None:
        raise Http404("No such schedule.")
    return schedule


def _feed_url(request: HttpRequest, name: str, token: str) -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"token": token}))


# --- overview, my shifts ----------------------------------------------------------------------------------------
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Every schedule: who is on call now, who is next, and the first gap ahead."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    me = _me(request)
    return _render(request, "oncall/overview.html", {"rows": oncall_now_all()}, tz=_user_tz(me))


@require_GET
def shifts_mine(request: HttpRequest) -> HttpResponse:
    """My shifts over the next two weeks on every schedule, in my time zone, with my iCal feed."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    me = _me(request)
    now = timezone.now()
    rows = my_shifts(user=me, start=now, end=now + timedelta(days=MY_SHIFTS_DAYS))
    feed_url = _feed_url(request, "oncall:feed-user", user_feed_token(me))
    context = {"rows": rows, "days": MY_SHIFTS_DAYS, "feed_url": feed_url}
    return _render(request, "oncall/my_shifts.html", context, tz=_user_tz(me))


# --- my incidents -----------------------------------------------------------------------------------------------
@require_GET
def incidents_mine(request: HttpRequest) -> HttpResponse:
    """Open incidents assigned to me or that paged me, with acknowledge and resolve."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    me = _me(request)
    context = {"incidents": list(my_open_incidents(user=me)), "may_act": me.has_perm(CHANGE_INCIDENT)}
    return _render(request, "oncall/my_incidents.html", context, tz=_user_tz(me))


@require_POST
def incident_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    """Acknowledge or resolve one of my open incidents; the outcome is the next page's message."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    me = _me(request)
    if action not in ("acknowledge", "resolve"):
        raise Http404("No such action.")
    incident = my_open_incidents(user=me).filter(public_id=public_id).first()
    if incident is None:
        raise Http404("No such open incident of yours.")
    if not me.has_perm(CHANGE_INCIDENT):
        return _forbidden(request, reason="incident")
    _act(request, incident, action, me)
    return redirect("oncall:my-incidents")


def _act(request: HttpRequest, incident: Incident, action: str, me: User) -> None:
    """Take ``action`` through the incidents' lifecycle; the outcome (done, or why not) is the next page's message."""
    try:
        if action == "acknowledge":
            incident_acknowledge(incident=incident, actor=me)
        elif action == "resolve":
            incident_resolve(incident=incident, actor=me, resolution=request.POST.get("resolution", "").strip())
        else:
            incident_escalate(incident=incident, actor=me)
    except DomainError as exc:  # Conflict (already acknowledged, resolved) is one
        messages.error(request, f"Incident #{incident.pk}: nothing changed. {exc.detail}")
    else:
        messages.success(request, f"Incident #{incident.pk} {DONE[action]}.")


# --- one incident -----------------------------------------------------------------------------------------------
@require_GET
def incident_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """An incident as a paged responder needs it: the summary, alerts, timeline, runbook (``#runbook``), escalation
    and pages, with acknowledge, resolve and escalate now; times in my zone."""
    if not request.user.has_perm(VIEW_INCIDENT):
        return _forbidden(request, reason="incident-view")
    page = incident_page(public_id=public_id)
    if page is None:
        raise Http404("No such incident.")
    me = _me(request)
    incident = page.incident
    labels = incident.labels if isinstance(incident.labels, dict) else {}
    # render_markdown sanitises with an allow-list (no scripts, handlers or javascript: links), so it may be marked.
    runbook_html = mark_safe(render_markdown(incident.runbook.body)) if incident.runbook else ""  # noqa: S308
    context = {
        "page": page,
        "incident": incident,
        "labels": sorted((str(k), str(v)) for k, v in labels.items()),
        "runbook_html": runbook_html,
        "may_act": me.has_perm(CHANGE_INCIDENT),
    }
    return _render(request, "oncall/incident.html", context, tz=_user_tz(me))


@require_POST
def incident_detail_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    """Acknowledge, resolve or escalate now from the incident page, then back to it."""
    if not request.user.has_perm(VIEW_INCIDENT):
        return _forbidden(request, reason="incident-view")
    if action not in DONE:
        raise Http404("No such action.")
    incident = Incident.objects.filter(public_id=public_id).first()
    if incident is None:
        raise Http404("No such incident.")
    me = _me(request)
    if not me.has_perm(CHANGE_INCIDENT):
        return _forbidden(request, reason="incident")
    _act(request, incident, action, me)
    return redirect("oncall:incident", public_id=incident.public_id)


# --- a schedule's week and its overrides ------------------------------------------------------------------------
def _week_start(request: HttpRequest, schedule: Schedule) -> date:
    raw = request.GET.get("week", "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return timezone.localtime(timezone.now(), ZoneInfo(schedule.time_zone)).date()


@require_GET
def schedule_week(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Seven days of a schedule in its own zone: a row per layer, the overrides, and the final shifts."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    schedule = _schedule(public_id)
    view = week_view(schedule=schedule, monday=_week_start(request, schedule))
    context = {
        "schedule": schedule,
        "week": view,
        "feed_url": _feed_url(request, "oncall:feed-schedule", schedule.feed_token),
        "may_add": request.user.has_perm(ADD_OVERRIDE),
        "may_delete": request.user.has_perm(DELETE_OVERRIDE),
    }
    return _render(request, "oncall/schedule_week.html", context, tz=schedule.time_zone)


@require_http_methods(["GET", "POST"])
def override_new(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Put someone on call on the schedule for a while; times are typed in the schedule's zone."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    schedule = _schedule(public_id)
    if not request.user.has_perm(ADD_OVERRIDE):
        return _forbidden(request, reason="override")
    tz = schedule.time_zone
    with timezone.override(ZoneInfo(tz)):  # naive form times are read in the schedule's zone
        if request.method == "POST":
            form = OverrideForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    done = services.override_create(
                        schedule=schedule,
                        user=data["user"],
                        start=data["start"],
                        end=data["end"],
                        mode=data["mode"],
                        reason=data["reason"],
                        created_by=_me(request),
                    )
                except DomainError as exc:
                    add_domain_errors(form, exc)
                else:
                    messages.success(request, f"Override added: {done.user} from {_local(done.start, tz)}.")
                    week = timezone.localtime(done.start, ZoneInfo(tz)).date().isoformat()
                    return redirect(f"{reverse('oncall:schedule-week', args=[schedule.public_id])}?week={week}")
        else:
            start = timezone.localtime(timezone.now()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            form = OverrideForm(initial={"start": start, "end": start + timedelta(hours=8), "user": _me(request).pk})
        status = 400 if form.errors else 200
        context = {"form": form, "schedule": schedule, "shown_tz": tz}
        return render(request, "oncall/override_new.html", context, status=status)


def _local(moment: datetime, tz: str) -> str:
    return timezone.localtime(moment, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


@require_POST
def override_delete(request: HttpRequest, public_id: uuid.UUID, override_id: uuid.UUID) -> HttpResponse:
    """Remove an override: the layers decide again for its time."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    schedule = _schedule(public_id)
    override = Override.objects.select_related("user").filter(schedule=schedule, public_id=override_id).first()
    if override is None:
        raise Http404("No such override.")
    if not request.user.has_perm(DELETE_OVERRIDE):
        return _forbidden(request, reason="override")
    week = timezone.localtime(override.start, ZoneInfo(schedule.time_zone)).date().isoformat()
    services.override_delete(override=override)
    messages.success(request, f"Override of {override.user} removed.")
    return redirect(f"{reverse('oncall:schedule-week', args=[schedule.public_id])}?week={week}")


# --- my contact methods and notification rules ------------------------------------------------------------------
def _contact_page(
    request: HttpRequest,
    *,
    method_form: ContactMethodForm | None = None,
    rule_form: RuleForm | None = None,
    revealed: ContactMethod | None = None,
    status: int = 200,
) -> HttpResponse:
    me = _me(request)
    methods = list(contact_method_list(user=me).filter(user=me))
    rows = [
        {
            "method": m,
            "masked": services.address_mask(kind=m.kind, address=m.address),
            "full": m.address if revealed is not None and revealed.pk == m.pk else None,
        }
        for m in methods
    ]
    own = contact_method_list(user=me).filter(user=me)
    context = {
        "rows": rows,
        "rules": list(notification_rule_list(user=me).filter(user=me)),
        "deliveries": list(
            Delivery.objects.filter(user=me).select_related("contact_method").order_by("-created_at")[:RECENT]
        ),
        "method_form": method_form or ContactMethodForm(),
        "rule_form": rule_form or RuleForm(methods=own),
        "may_manage": me.has_perms(MANAGE_CONTACT),
    }
    return _render(request, "oncall/contact.html", context, tz=_user_tz(me), status=status)


@require_GET
def contact(request: HttpRequest) -> HttpResponse:
    """My contact methods (addresses masked) and notification rules, with forms to add and buttons to remove."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    return _contact_page(request)


@require_POST
def contact_add(request: HttpRequest) -> HttpResponse:
    """Add a contact method of mine."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    if not request.user.has_perms(MANAGE_CONTACT):
        return _forbidden(request, reason="contact")
    form = ContactMethodForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            method = services.contact_method_create(
                user=_me(request),
                kind=data["kind"],
                address=data["address"],
                label=data["label"],
                secret=data["secret"],
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            masked = services.address_mask(kind=method.kind, address=method.address)
            messages.success(request, f"{method.get_kind_display()} {masked} added.")
            return redirect("oncall:contact")
    return _contact_page(request, method_form=form, status=400)


def _my_method(request: HttpRequest, public_id: uuid.UUID) -> ContactMethod:
    method = ContactMethod.objects.filter(public_id=public_id, user=_me(request)).first()
    if method is None:
        raise Http404("No such contact method of yours.")
    return method


@require_POST
def contact_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    """On one of my contact methods: ``reveal`` the full address (an audited read) or ``delete`` it."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    if action not in ("reveal", "delete"):
        raise Http404("No such action.")
    method = _my_method(request, public_id)
    if action == "reveal":
        audit_record_read(target=method, fields_shown=["address"], purpose=READ_PURPOSE)
        return _contact_page(request, revealed=method)
    if not request.user.has_perms(MANAGE_CONTACT):
        return _forbidden(request, reason="contact")
    masked = services.address_mask(kind=method.kind, address=method.address)
    services.contact_method_delete(contact_method=method)
    messages.success(request, f"{method.get_kind_display()} {masked} removed, with its rules.")
    return redirect("oncall:contact")


@require_POST
def contact_test(request: HttpRequest) -> HttpResponse:
    """Send me a test message through my contact methods (as a hand-off notice would reach me)."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    if not request.user.has_perms(MANAGE_CONTACT):
        return _forbidden(request, reason="contact")
    me = _me(request)
    try:
        deliveries = services.contact_test_send(user=me, actor=me)
    except DomainError as exc:
        messages.error(request, f"No test sent. {exc.detail}")
    else:
        kinds = ", ".join(sorted({d.get_kind_display() for d in deliveries}))
        messages.success(request, f"Test message queued ({kinds}); the list below shows each delivery's status.")
    return redirect("oncall:contact")


@require_POST
def rule_add(request: HttpRequest) -> HttpResponse:
    """Add a notification rule for one of my contact methods."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    if not request.user.has_perms(MANAGE_CONTACT):
        return _forbidden(request, reason="contact")
    me = _me(request)
    form = RuleForm(request.POST, methods=ContactMethod.objects.filter(user=me))
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.notification_rule_create(
                user=me,
                contact_method=data["contact_method"],
                delay_minutes=data["delay_minutes"],
                urgency=data["urgency"],
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(request, "Notification rule added.")
            return redirect("oncall:contact")
    return _contact_page(request, rule_form=form, status=400)


@require_POST
def rule_delete(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Remove a notification rule of mine."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    rule = NotificationRule.objects.filter(public_id=public_id, user=_me(request)).first()
    if rule is None:
        raise Http404("No such notification rule of yours.")
    if not request.user.has_perms(MANAGE_CONTACT):
        return _forbidden(request, reason="contact")
    rule.delete()
    messages.success(request, "Notification rule removed.")
    return redirect("oncall:contact")
