"""System checks of configuration: values for keys nobody declared are reported, not silently ignored."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register()
def unknown_config_keys_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """A value in a file, Vault, a secret file or an ECAP_* variable for an undeclared key is a likely typo."""
    from apps.configuration.services import get_store

    return [
        checks.Warning(
            f"unknown configuration key: {origin}", hint="See manage.py config_explain --list.", id="configuration.W001"
        )
        for origin in get_store().unknown_keys()
    ]
