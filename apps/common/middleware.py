"""Request id: honours a well-formed incoming ``X-Request-ID``, otherwise makes one, and returns it in the response.

Runs before django-structlog's middleware, which binds the (now validated) id to every log line of the request and
to every Celery task the request enqueues.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# Ids from proxies and clients vary (UUIDs, hex, ULIDs); anything else could inject into logs, so it is replaced.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


class RequestIdMiddleware:
    """Make sure every request has a safe request id and echo it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(META_KEY, "")
        request_id = incoming if VALID_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        request.META[META_KEY] = request_id
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[HEADER] = request_id
        return response
