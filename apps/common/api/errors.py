"""One error format for the whole API: ``{"code": str, "detail": str, "fields": {field: [messages]}}``.

``api_exception_handler`` is DRF's exception handler; ``json_not_found`` / ``json_server_error`` answer Django-level
404s and 500s the same way under ``/api/`` (and as the normal HTML pages elsewhere). The database being unreachable
is not a server error: API and intake requests then answer 503 ``database_unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

import sys
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found, server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import DatabaseUnavailable, DomainError, is_database_outage

logger = structlog.get_logger(__name__)

NON_FIELD_KEY = "non_field_errors"


def error_body(code: str, detail: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The one error payload shape."""
    return {"code": code, "detail": detail, "fields": fields or {}}


def flatten_field_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into ``{"items.0.name": ["..."]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = NON_FIELD_KEY if key in ("non_field_errors", "__all__") and not prefix else str(key)
            out.update(flatten_field_errors(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(errors, list) and errors and all(not isinstance(e, dict | list) for e in errors):
        out[prefix or NON_FIELD_KEY] = [str(e) for e in errors]
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                out.update(flatten_field_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    elif errors:
        out[prefix or NON_FIELD_KEY] = [str(errors)]
    return out


def _error_code(exc: exceptions.APIException) -> str:
    """The code the exception was raised with (``code="..."``), else its class default."""
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else str(exc.default_code)


def _database_unavailable() -> DatabaseUnavailable:
    return DatabaseUnavailable("The database is unavailable; retry shortly.")


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Answer every exception raised in an API view with the error format and the right status."""
    if is_database_outage(exc):
        logger.warning("database_unavailable", exc_type=type(exc).__name__)
        unavailable = _database_unavailable()
        return Response(
            error_body(unavailable.code, unavailable.detail),
            status=unavailable.status,
            headers={"Retry-After": str(unavailable.retry_after_seconds)},
        )
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.detail, exc.fields), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = flatten_field_errors(exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_KEY: exc.messages})
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is larger than the server accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    elif isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", "The request was malformed."), status=status.HTTP_400_BAD_REQUEST)

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("api_unhandled_exception", exc_type=type(exc).__name__)
        return Response(
            error_body("server_error", "An unexpected error occurred; it has been logged with the request id."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_error", "The input is not valid.", flatten_field_errors(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, dict | list):
            fields = flatten_field_errors(detail)
            message = next(iter(fields.values()))[0] if fields else str(exc.default_detail)
        else:
            fields, message = {}, str(detail)
        response.data = error_body(_error_code(exc), message, fields)
    elif isinstance(exc, Http404):
        response.data = error_body("not_found", "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        response.data = error_body("permission_denied", "You do not have permission to perform this action.")
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _answers_json(request: HttpRequest) -> bool:
    """API and alert-intake paths: machines read the answer, so errors are JSON."""
    return request.path.startswith(("/api/", "/integrations/"))


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 handler: JSON under /api/, the normal page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)
    return page_not_found(request, exception or Http404())


def json_server_error(request: HttpRequest) -> HttpResponse:
    """500 handler: JSON under /api/, the normal page elsewhere; 503 JSON when the database is unreachable under /api/
    and /integrations/ (raised outside a DRF view: a plain view, a middleware)."""
    if _answers_json(request) and is_database_outage(sys.exc_info()[1]):
        unavailable = _database_unavailable()
        response = JsonResponse(error_body(unavailable.code, unavailable.detail), status=unavailable.status)
        response["Retry-After"] = str(unavailable.retry_after_seconds)
        return response
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "An unexpected error occurred; it has been logged with the request id."),
            status=500,
        )
    return server_error(request)
