"""Reads of the shared kernel: token lookup for authentication and token listings."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.common.models import ApiToken, User
from apps.common.services import TOKEN_PREFIX, token_digest


def api_token_for_raw(*, raw: str) -> ApiToken | None:
    """The active token matching ``raw`` (with its user), or None when unknown, revoked or expired."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 128:
        return None
    try:
        token = ApiToken.objects.select_related("user").get(digest=token_digest(raw))
    except ApiToken.DoesNotExist:
        return None
    if token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    return token


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """Tokens a user may see: their own; administrators see everyone's."""
    qs = ApiToken.objects.select_related("user", "revoked_by")
    if user.is_superuser or user.has_perm("common.view_apitoken"):
        return qs
    return qs.filter(user=user)
