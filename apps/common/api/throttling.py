"""Throttles whose rates come from live configuration (``api.throttle_user_rate`` / ``api.throttle_anon_rate``),
so an administrator's change applies within seconds, without a restart.

The request history lives in the cache (Redis): when the cache cannot be reached the request is let through, since
a Redis outage must not turn away intake that is stored in PostgreSQL (store first, process after)."""

from __future__ import annotations

import structlog
from rest_framework import throttling

from apps.configuration.services import config_get

logger = structlog.get_logger(__name__)

RATE_KEYS = {"user": "api.throttle_user_rate", "anon": "api.throttle_anon_rate"}


class _ConfiguredRateMixin:
    scope: str | None

    def get_rate(self) -> str | None:
        return config_get(RATE_KEYS[self.scope]) if self.scope in RATE_KEYS else None

    def allow_request(self, request: object, view: object) -> bool:
        # The rate may have changed since the last request: parse it again every time (cheap).
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)  # type: ignore[attr-defined]
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception as exc:  # the cache is down: fail open
            logger.warning("throttle_cache_unavailable", scope=self.scope, error=type(exc).__name__)
            return True


class AnonRateThrottle(_ConfiguredRateMixin, throttling.AnonRateThrottle):
    """Limits unauthenticated callers per client address."""


class UserRateThrottle(_ConfiguredRateMixin, throttling.UserRateThrottle):
    """Limits authenticated callers per user."""
