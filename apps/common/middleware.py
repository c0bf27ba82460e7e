"""The portal's own middleware.

- ``RequestIdMiddleware``: honours a well-formed incoming ``X-Request-ID``, otherwise makes one, and returns it in
  the response. Runs before django-structlog's middleware, which binds the (now validated) id to every log line of
  the request and to every Celery task the request enqueues.
- ``RequestGuardMiddleware``: refuses oversized bodies (413) and NUL or non-UTF-8 parameters (400) before anything
  reads them.
- ``SecurityHeadersMiddleware``: Content-Security-Policy on pages, no caching of API answers.
- ``DenialAuditMiddleware``: one audit event per 401, 403 and 429.
- ``LoginRateLimitMiddleware``: sign-in failure limits on the portal's and the admin's login.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from apps.common import security
from apps.common.api.parsers import text_problem

logger = structlog.get_logger(__name__)

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


# --- security headers, sign-in limits and denial records ----------------------------------------------------------
# Scripts and styles come only from the portal's own static files. Inline style *attributes* stay allowed: the
# schedule view and the admin position elements with them, and an attribute cannot run script.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DENIAL_STATUSES = frozenset({401, 403, 429})


class SecurityHeadersMiddleware:
    """Content-Security-Policy on every page; API answers (which may carry personal data) are never cached."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.path.startswith("/api/"):
            add_never_cache_headers(response)
        return response


class DenialAuditMiddleware:
    """Writes one audit event for every 401, 403 and 429 answer (API, admin and portal pages alike)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code in DENIAL_STATUSES:
            data = getattr(response, "data", None)
            reason = data.get("code") if isinstance(data, dict) else None
            reason = reason or getattr(request, "denial_reason", None) or DEFAULT_DENIAL_REASONS[response.status_code]
            try:
                security.denial_record(request, status=response.status_code, reason=str(reason))
            except Exception:
                # The refusal stands even when its record cannot be written; the failure is logged for operators.
                logger.exception("denial_audit_failed", status=response.status_code)
        return response


DEFAULT_DENIAL_REASONS = {401: "not_authenticated", 403: "permission_denied", 429: "rate_limited"}


class LoginRateLimitMiddleware:
    """Refuses sign-in attempts (portal and admin) from a locked address or for a locked username with 429, and
    counts the failed ones. Runs before the login views, so the right password does not get in while locked."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path not in (reverse("login"), reverse("admin:login")):
            return self.get_response(request)
        ip = security.client_ip(request)
        username = request.POST.get("username", "")[:150]
        wait = security.login_locked_for(ip=ip, username=username)
        if wait:
            request.denial_reason = "login_rate_limited"  # type: ignore[attr-defined]
            response = render(request, "portal/rate_limited.html", {"retry_after": wait}, status=429)
            response["Retry-After"] = str(wait)
            return response
        response = self.get_response(request)
        if response.status_code == 200:
            # The login form answered again: the credentials were refused.
            security.login_failure_add(ip=ip, username=username)
        elif response.status_code == 302:
            security.login_failures_clear(username=username)
        return response


# --- request guard ----------------------------------------------------------------------------------------------
JSON_ERROR_PREFIXES = ("/api/", "/integrations/")
FORM_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_limit(path: str) -> int:
    """The largest body accepted at ``path``: the longest matching prefix of ``REQUEST_BODY_MAX_BYTES_BY_PATH``, else
    ``REQUEST_BODY_MAX_BYTES``."""
    matches = [prefix for prefix in settings.REQUEST_BODY_MAX_BYTES_BY_PATH if path.startswith(prefix)]
    if matches:
        return int(settings.REQUEST_BODY_MAX_BYTES_BY_PATH[max(matches, key=len)])
    return int(settings.REQUEST_BODY_MAX_BYTES)


def encoded_pairs_problem(raw: bytes | str) -> tuple[str, str] | None:
    """``(name, message)`` for the first ``name=value`` pair of a query string or an urlencoded form that holds a NUL
    character or bytes that are not UTF-8; None when every pair is clean."""
    data = raw.encode("latin-1", "replace") if isinstance(raw, str) else raw
    for pair in data.split(b"&"):
        if not pair:
            continue
        name_part, _, value_part = pair.partition(b"=")
        name = unquote_to_bytes(name_part.replace(b"+", b" "))
        value = unquote_to_bytes(value_part.replace(b"+", b" "))
        try:
            field = name.decode("utf-8")
        except UnicodeDecodeError:
            field = ""
        if "\x00" in field:
            field = ""
        for part in (name, value):
            if b"\x00" in part:
                return field or "query", "Null characters are not allowed."
            try:
                part.decode("utf-8")
            except UnicodeDecodeError:
                return field or "query", "Not valid UTF-8."
    return None


def _form_problem(request: HttpRequest) -> tuple[str, str] | None:
    """The first field of a parsed multipart form whose name or value holds a NUL character, or None (the multipart
    parser has already replaced bytes that are not UTF-8)."""
    for name, values in request.POST.lists():
        for text in (name, *values):
            message = text_problem(text)
            if message:
                return (name if text_problem(name) is None else "form"), message
    return None


class _CappedStream:
    """A request body stream that refuses to yield more than ``limit`` bytes (for bodies sent without a
    Content-Length, whose size is only known by reading them)."""

    def __init__(self, stream: object, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.seen = 0

    def _count(self, data: bytes) -> bytes:
        self.seen += len(data)
        if self.seen > self.limit:
            raise RequestDataTooBig(f"The request body is larger than {self.limit} bytes.")
        return data

    def _room(self, size: int | None) -> int:
        room = self.limit + 1 - self.seen  # one byte past the limit is enough to know it is over
        return max(1, room if size is None or size < 0 else min(size, room))

    def read(self, size: int | None = -1) -> bytes:
        return self._count(self.stream.read(self._room(size)))  # type: ignore[attr-defined]

    def readline(self, size: int | None = -1) -> bytes:
        return self._count(self.stream.readline(self._room(size)))  # type: ignore[attr-defined]

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


class RequestGuardMiddleware:
    """Refuse a hostile request before authentication, a view or the database sees it: a body over its path's limit
    (413, by Content-Length, or by the bytes read when it has none), a query string or an urlencoded form with a NUL
    character or bytes that are not UTF-8 (400, naming the parameter). The API's error format under ``/api/`` and
    ``/integrations/``, plain text elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit(request.path)
        length = request.META.get("CONTENT_LENGTH") or ""
        if length:
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size < 0:
                return self._refuse(request, 400, "bad_request", "The Content-Length header is not a number.")
            if size > limit:
                return self._too_large(request, limit)
        elif hasattr(request, "_stream"):
            request._stream = _CappedStream(request._stream, limit)  # type: ignore[assignment]
        problem = encoded_pairs_problem(request.META.get("QUERY_STRING", ""))
        if (
            problem is None
            and request.method in FORM_METHODS
            and request.content_type == "application/x-www-form-urlencoded"
        ):
            try:
                problem = encoded_pairs_problem(request.body)
            except RequestDataTooBig:
                return self._too_large(request, limit)
        elif (
            problem is None
            and request.method in FORM_METHODS
            and request.content_type == "multipart/form-data"
            and not request.path.startswith(JSON_ERROR_PREFIXES)
        ):
            try:
                problem = _form_problem(request)
            except RequestDataTooBig:
                return self._too_large(request, limit)
            except MultiPartParserError:
                return self._refuse(request, 400, "bad_request", "The multipart form cannot be read.")
        if problem is not None:
            name, message = problem
            return self._refuse(request, 400, "validation_error", f"{name}: {message}", {name: [message]})
        return self.get_response(request)

    def _too_large(self, request: HttpRequest, limit: int) -> HttpResponse:
        return self._refuse(request, 413, "payload_too_large", f"The request body is larger than {limit} bytes.")

    def _refuse(
        self, request: HttpRequest, status: int, code: str, detail: str, fields: dict[str, list[str]] | None = None
    ) -> HttpResponse:
        if request.path.startswith(JSON_ERROR_PREFIXES):
            return JsonResponse({"code": code, "detail": detail, "fields": fields or {}}, status=status)
        return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
