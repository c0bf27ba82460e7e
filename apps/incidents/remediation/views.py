"""The signed approval link: GET shows what would be decided and changes nothing (chat and mail clients prefetch
links), POST takes the decision once. The signature identifies the approver, so these views need no login; the
approver must still be active and allowed to change incidents when the link is used."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.audit.context import acting_as, context_for_user
from apps.common.errors import Conflict, DomainError
from apps.common.link_pages import link_error, link_page
from apps.common.models import User
from apps.incidents.models import RemediationAttempt
from apps.incidents.remediation.links import ApprovalLinkExpired, ApprovalLinkInvalid, approval_link_read
from apps.incidents.remediation.registry import action_get, params_shown
from apps.incidents.remediation.services import DECIDE_PERMISSION, remediation_approve, remediation_deny

TEMPLATE = "incidents/remediation_confirm.html"


def _page(request: HttpRequest, status: int, **context: Any) -> HttpResponse:
    return link_page(request, TEMPLATE, status, **context)


def _error(request: HttpRequest, status: int, heading: str, message: str) -> HttpResponse:
    return link_error(request, TEMPLATE, status, heading, message)


def _action_label(key: str) -> str:
    try:
        return action_get(key).label
    except DomainError:
        return key


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def approval_link(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) and take (POST) the decision a signed approval link carries."""
    try:
        claim = approval_link_read(token)
    except ApprovalLinkExpired:
        return _error(request, 410, "This link has expired", "Ask for a new link, or decide in the portal.")
    except ApprovalLinkInvalid:
        return _error(request, 400, "This link is not valid", "It may have been cut short or altered.")
    attempt = RemediationAttempt.objects.select_related("incident").filter(public_id=claim.attempt).first()
    approver = User.objects.filter(public_id=claim.user, is_active=True).first()
    if attempt is None or approver is None:
        return _error(request, 404, "Nothing to decide", "The remediation or the approver no longer exists.")
    if not approver.has_perm(DECIDE_PERMISSION):
        return _error(request, 403, "Not allowed", "The approver of this link may no longer decide on remediation.")
    if request.method == "GET":
        return _page(
            request,
            200,
            state="confirm",
            attempt=attempt,
            decision=claim.decision,
            approver=approver,
            action_label=_action_label(attempt.action),
            params_text=json.dumps(params_shown(attempt.params), sort_keys=True),
        )
    with acting_as(context_for_user(approver, purpose="approval link")):
        try:
            if claim.decision == "approve":
                attempt = remediation_approve(attempt=attempt, actor=approver, via="link")
            else:
                reason = str(request.POST.get("reason", ""))
                attempt = remediation_deny(attempt=attempt, actor=approver, reason=reason, via="link")
        except Conflict as exc:
            return _error(request, 409, "Already decided", exc.detail)
    return _page(request, 200, state="done", attempt=attempt, decision=claim.decision)
