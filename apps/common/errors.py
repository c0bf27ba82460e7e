"""Domain errors: exceptions with a stable ``code`` that the API turns into ``{code, detail, fields}``.

Services raise these; views never build error responses by hand.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that the domain refuses. ``status`` is the HTTP status the API answers with."""

    code = "domain_error"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.fields = fields or {}


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it does."""

    code = "not_found"
    status = 404


class Conflict(DomainError):
    """The object's current state does not allow the change (already revoked, already acknowledged, …)."""

    code = "conflict"
    status = 409


class PermissionDenied(DomainError):
    """The caller is authenticated but may not do this to this object."""

    code = "permission_denied"
    status = 403


class DatabaseUnavailable(DomainError):
    """The database cannot serve the request right now (down, restarting, connection lost): retry shortly."""

    code = "database_unavailable"
    status = 503
    retry_after_seconds = 5


def is_database_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the database failing to serve (Django's ``OperationalError``/``InterfaceError``: connection
    refused or lost, server shutting down), as opposed to a query the database refused."""
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)
