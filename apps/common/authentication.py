"""API authentication with personal tokens, sent as ``Authorization: Bearer <t>`` or ``Authorization: Token <t>``."""

from __future__ import annotations

from dataclasses import replace

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apps.audit.choices import ActorType
from apps.audit.context import context_for_user, set_context
from apps.common import security
from apps.common.models import ApiToken, User
from apps.common.selectors import api_token_for_raw
from apps.common.services import api_token_touch

KEYWORDS = (b"bearer", b"token")


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request by a personal API token; records its last use."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header: expected '<scheme> <token>'."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("The token contains invalid characters.")) from exc
        ip = security.client_ip(request)
        wait = security.login_locked_for(ip=ip)
        if wait:
            raise exceptions.Throttled(
                wait=wait, detail=str(_("Too many failed authentication attempts from this address."))
            )
        token = api_token_for_raw(raw=raw)
        if token is None:
            security.login_failure_add(ip=ip)
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token's user is inactive."))
        api_token_touch(token=token, ip=request.META.get("REMOTE_ADDR"))
        actor = ActorType.SERVICE if token.user.is_service_account else ActorType.TOKEN
        set_context(replace(context_for_user(token.user), actor_type=actor, actor_token=token.prefix))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
