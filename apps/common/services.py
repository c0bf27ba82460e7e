"""Writes of the shared kernel: personal API tokens and demo users.

Public surface: ``api_token_create``, ``api_token_revoke``, ``api_token_purge``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.common.errors import Conflict, DomainError, PermissionDenied
from apps.common.models import ApiToken, User

TOKEN_PREFIX = "ecap_"  # noqa: S105 - a public marker, not a secret
PURGE_AFTER = timedelta(days=90)


def token_digest(raw: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so an unsalted fast hash is safe and indexable."""
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str, expires_days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the plaintext token, which is never stored."""
    name = name.strip()
    if not name:
        raise DomainError(
            "A token needs a name saying what it is for.", code="validation_error", fields={"name": ["Required."]}
        )
    if expires_days is None:
        expires_days = settings.API_TOKEN_DEFAULT_EXPIRY_DAYS
    limit = settings.API_TOKEN_MAX_EXPIRY_DAYS
    if not 1 <= expires_days <= limit:
        raise DomainError(
            f"Token lifetime must be between 1 and {limit} days.",
            code="validation_error",
            fields={"expires_days": [f"Must be between 1 and {limit}."]},
        )
    if not user.is_active:
        raise Conflict("Tokens cannot be issued to an inactive user.", code="user_inactive")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(raw),
        created_at=now,
        expires_at=now + timedelta(days=expires_days),
    )
    return token, raw


def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a token at once; later requests with it are rejected. Owners and token administrators may."""
    if token.user_id != actor.pk and not actor.has_perm("common.change_apitoken"):
        raise PermissionDenied("You may revoke only your own tokens.")
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is not None:
            raise Conflict("This token is already revoked.", code="already_revoked")
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
    return locked


def api_token_touch(*, token: ApiToken, ip: str | None) -> None:
    """Record a use of the token, writing at most once per resolution window to keep requests cheap."""
    now = timezone.now()
    window = timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is not None and now - token.last_used_at < window and token.last_used_ip == ip:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip


def api_token_purge(*, now: datetime | None = None) -> int:
    """Delete tokens that expired or were revoked more than ``PURGE_AFTER`` ago; returns how many."""
    cutoff = (now or timezone.now()) - PURGE_AFTER
    deleted, _ = ApiToken.objects.filter(expires_at__lt=cutoff).delete()
    deleted_revoked, _ = ApiToken.objects.filter(revoked_at__lt=cutoff).delete()
    return deleted + deleted_revoked
