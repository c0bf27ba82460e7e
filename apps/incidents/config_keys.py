"""Configuration keys of the incidents app (remediation keys are declared beside the remediation code)."""

from __future__ import annotations

from apps.configuration.registry import declare
from apps.incidents.remediation import config_keys as _remediation_keys  # noqa: F401 - declares its keys

declare(
    "incidents.public_base_url",
    "str",
    "http://127.0.0.1:8000",
    "Base URL of the portal as people reach it (links in pages and approval links).",
)
