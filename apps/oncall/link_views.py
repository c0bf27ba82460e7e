"""The signed acknowledge and resolve links of a page: GET shows what would happen and changes nothing (mail and chat
clients prefetch links), POST acknowledges or resolves, as the responder the link names. The signature is the
credential, so these views need no login; the responder must still be active and allowed to change incidents."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.audit.context import acting_as, context_for_user
from apps.common.errors import Conflict
from apps.common.link_pages import link_error, link_page
from apps.common.models import User
from apps.incidents.lifecycle import incident_acknowledge, incident_resolve
from apps.incidents.models import Incident
from apps.oncall.links import ACK, LinkExpired, LinkInvalid, link_read

TEMPLATE = "oncall/link_confirm.html"
PERMISSION = "incidents.change_incident"
VERBS = {ACK: ("Acknowledge", "acknowledged"), "resolve": ("Resolve", "resolved")}


def _page(request: HttpRequest, status: int, **context: Any) -> HttpResponse:
    return link_page(request, TEMPLATE, status, **context)


def _error(request: HttpRequest, status: int, heading: str, message: str) -> HttpResponse:
    return link_error(request, TEMPLATE, status, heading, message)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def incident_link(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) and take (POST) the action a signed page link carries."""
    try:
        claim = link_read(token)
    except LinkExpired:
        return _error(
            request, 410, "This link has expired", "Acknowledge or resolve the incident in the portal instead."
        )
    except LinkInvalid:
        return _error(request, 400, "This link is not valid", "It may have been cut short or altered.")
    incident = (
        Incident.objects.select_related("acknowledged_by", "resolved_by").filter(public_id=claim.incident).first()
    )
    responder = User.objects.filter(public_id=claim.user, is_active=True).first()
    if incident is None or responder is None:
        return _error(request, 404, "Nothing to do", "The incident or the responder no longer exists.")
    if not responder.has_perm(PERMISSION):
        return _error(request, 403, "Not allowed", "The responder of this link may no longer change incidents.")
    verb, done = VERBS[claim.action]
    context = {"incident": incident, "action": claim.action, "verb": verb, "done": done, "responder": responder}
    if request.method == "GET":
        return _page(request, 200, state="confirm", **context)
    with acting_as(context_for_user(responder, purpose="on-call page link")):
        try:
            if claim.action == ACK:
                incident = incident_acknowledge(incident=incident, actor=responder)
            else:
                incident = incident_resolve(incident=incident, actor=responder, resolution="Resolved from a page link.")
        except Conflict:
            incident.refresh_from_db()
            return _page(request, 200, state="already", **{**context, "incident": incident})
    return _page(request, 200, state="done", **{**context, "incident": incident})
