"""App configuration of the shared kernel."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate

from apps.common.periodic import PeriodicTaskSpec


class CommonConfig(AppConfig):
    """Registers the role-permission sync that runs after every migrate."""

    name = "apps.common"
    label = "common"
    verbose_name = "Identity and access"
    periodic_tasks = [
        PeriodicTaskSpec(
            name="common.api_tokens_purge",
            task="common.api_tokens_purge",
            crontab="17 3 * * *",
            description="Delete API tokens that expired or were revoked more than 90 days ago.",
        ),
    ]

    def ready(self) -> None:
        from apps.common import checks  # noqa: F401  (registers system checks)
        from apps.common.api import schema  # noqa: F401  (registers OpenAPI extensions)

        post_migrate.connect(_sync_roles_after_last_app, dispatch_uid="common.roles_sync")


def _sync_roles_after_last_app(sender: AppConfig, using: str = "default", **_: Any) -> None:
    # post_migrate fires once per app that has models; permissions of every app exist only after the last one.
    if sender is not [c for c in apps.get_app_configs() if c.models_module is not None][-1]:
        return
    from django.contrib.auth.models import Group, Permission

    from apps.common.roles import roles_sync

    roles_sync(group_model=Group, permission_model=Permission, using=using)
