"""App configuration of configuration."""

from __future__ import annotations

from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    """Layered runtime configuration with provenance, secrets from Vault, and the Fernet keyring."""

    name = "apps.configuration"
    label = "configuration"
    verbose_name = "Configuration"
