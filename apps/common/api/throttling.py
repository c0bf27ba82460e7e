"""Throttles that read their rates from settings on every request, so rate changes apply without re-import."""

from __future__ import annotations

from typing import Any

from rest_framework import throttling
from rest_framework.settings import api_settings


class _SettingsRateMixin:
    scope: str | None

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope) if self.scope else None


class AnonRateThrottle(_SettingsRateMixin, throttling.AnonRateThrottle):
    """Limits unauthenticated callers per client address."""


class UserRateThrottle(_SettingsRateMixin, throttling.UserRateThrottle):
    """Limits authenticated callers per user."""
