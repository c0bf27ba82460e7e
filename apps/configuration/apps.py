"""App configuration of configuration: validates every layer at start-up and registers the Vault readiness check."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate

from apps.audit.capture import Governed
from apps.audit.choices import AuditAction
from apps.common.periodic import PeriodicTaskSpec


class ConfigurationConfig(AppConfig):
    """Layered runtime configuration with provenance, secrets from Vault, and the Fernet keyring."""

    name = "apps.configuration"
    label = "configuration"
    verbose_name = "Configuration"
    periodic_tasks = [
        PeriodicTaskSpec(
            name="configuration.vault_poll",
            task="configuration.vault_poll",
            every_seconds=5,
            description="Detect changed Vault secrets, record them, and make every process reload.",
        ),
    ]

    audited_models = [
        Governed(
            "configuration.ConfigEntry",
            sensitivity=10,
            insert_action=AuditAction.CONFIG_CHANGE,
            update_action=AuditAction.CONFIG_CHANGE,
            delete_action=AuditAction.CONFIG_CHANGE,
        ),
        Governed("configuration.Credential", sensitivity=30, masked=("secret", "secret_extra")),
    ]

    def ready(self) -> None:
        from apps.audit.risk import register_sensitivity
        from apps.common.health import register_readiness_check

        register_sensitivity("configuration.credential", 30, {"administration", "operations"})
        from apps.configuration import checks  # noqa: F401  (registers system checks)
        from apps.configuration.health import check_vault
        from apps.configuration.services import get_store
        from apps.configuration.store import ConfigurationError

        try:
            get_store().validate_static()
        except ConfigurationError as exc:
            raise ImproperlyConfigured(str(exc)) from exc
        register_readiness_check("vault", check_vault)
        post_migrate.connect(_sync_entries, sender=self, dispatch_uid="configuration.entries_sync")


def _sync_entries(sender: AppConfig, **_: Any) -> None:
    from apps.configuration.services import config_entries_sync

    config_entries_sync()
