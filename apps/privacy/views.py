"""Public pages of privacy: the identity-verification link a data subject opens (no login; the signed link is the
credential). GET shows a confirmation page, the POST of that page verifies."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.privacy.verification import (
    VerificationLinkExpired,
    VerificationLinkInvalid,
    verification_confirm,
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
