"""Pages answered at a signed or secret URL (approval, acknowledge and resolve links): the URL is the credential, so
such a page never passes it on through the Referer header and asks not to be indexed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def credential_url_headers(response: HttpResponse) -> HttpResponse:
    """Keep the URL (the credential) from leaking to another site or into a search index."""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def link_page(request: HttpRequest, template: str, status: int, **context: Any) -> HttpResponse:
    """``template`` rendered with ``context`` as the answer to a signed link."""
    return credential_url_headers(render(request, template, context, status=status))


def link_error(request: HttpRequest, template: str, status: int, heading: str, message: str) -> HttpResponse:
    """The signed link's page in its error state (expired, forged, no longer allowed)."""
    return link_page(request, template, status, state="error", heading=heading, message=message)
