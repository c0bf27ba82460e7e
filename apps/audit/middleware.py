"""Sets the audit context of every request: client address, user agent, request id, purpose and the user."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.audit.context import AuditContext, context_for_user, reset_context, set_context
from apps.audit.signals import _client


class AuditContextMiddleware:
    """Runs after authentication; API token authentication refines the actor later in the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        purpose = (request.headers.get("X-Purpose") or request.GET.get("purpose") or "")[:200]
        base = AuditContext(purpose=purpose, **_client(request))
        user = getattr(request, "user", None)
        token = set_context(base)
        try:
            if user is not None and user.is_authenticated:
                set_context(context_for_user(user))
            return self.get_response(request)
        finally:
            reset_context(token)
