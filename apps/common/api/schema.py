"""drf-spectacular extensions: documents the token authentication scheme."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Personal API tokens as HTTP bearer tokens (``Token <t>`` is accepted too)."""

    target_class = "apps.common.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Personal API token: `Authorization: Bearer <token>` or `Authorization: Token <token>`.",
        }
