"""App configuration of the shared kernel."""

from __future__ import annotations

import os
from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate

from apps.audit.capture import Governed
from apps.audit.choices import AuditAction
from apps.common.periodic import PeriodicTaskSpec

PERSONAL_USER_FIELDS = ("email", "first_name", "last_name", "display_name")


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

    # Identity and access are governed: every change is captured, whatever writes it.
    audited_models = [
        Governed("common.User", sensitivity=20, masked=("password", *PERSONAL_USER_FIELDS), ignored=("last_login",)),
        Governed(
            "common.User",
            field="groups",
            sensitivity=25,
            insert_action=AuditAction.PERMISSION_CHANGE,
            delete_action=AuditAction.PERMISSION_CHANGE,
        ),
        Governed(
            "common.User",
            field="user_permissions",
            sensitivity=25,
            insert_action=AuditAction.PERMISSION_CHANGE,
            delete_action=AuditAction.PERMISSION_CHANGE,
        ),
        Governed("auth.Group", sensitivity=20),
        Governed(
            "auth.Group",
            field="permissions",
            sensitivity=25,
            insert_action=AuditAction.PERMISSION_CHANGE,
            delete_action=AuditAction.PERMISSION_CHANGE,
        ),
        Governed(
            "common.ApiToken",
            sensitivity=15,
            masked=("digest",),
            ignored=("last_used_at", "last_used_ip"),
            insert_action=AuditAction.TOKEN_CREATE,
            update_action=AuditAction.TOKEN_REVOKE,
        ),
        Governed(
            "django_celery_beat.PeriodicTask", sensitivity=5, ignored=("last_run_at", "total_run_count", "date_changed")
        ),
    ]

    def ready(self) -> None:
        from apps.audit.risk import register_sensitivity
        from apps.common import checks  # noqa: F401  (registers system checks)
        from apps.common.metrics import register_collector

        register_collector()
        from ecap_site.celery import local_broker_folders

        for folder in local_broker_folders():  # embedded mode: publishing works before the worker has started
            os.makedirs(folder, exist_ok=True)

        register_sensitivity("common.user", 20, {"administration", "support", "security", "audit", "self-service"})
        register_sensitivity("common.apitoken", 15)
        from apps.common.api import schema  # noqa: F401  (registers OpenAPI extensions)

        post_migrate.connect(_sync_roles_after_last_app, dispatch_uid="common.roles_sync")
        _connect_permission_generation()
        from django_structlog import signals as structlog_signals

        from apps.common.logging import mask_request_line

        for signal in (
            structlog_signals.bind_extra_request_metadata,
            structlog_signals.bind_extra_request_finished_metadata,
        ):
            signal.connect(mask_request_line, dispatch_uid=f"common.mask_request_line.{id(signal)}")


def _sync_roles_after_last_app(sender: AppConfig, using: str = "default", **_: Any) -> None:
    # post_migrate fires once per app that has models; permissions of every app exist only after the last one.
    if sender is not [c for c in apps.get_app_configs() if c.models_module is not None][-1]:
        return
    from django.contrib.auth.models import Group, Permission

    from apps.common.roles import roles_sync

    roles_sync(group_model=Group, permission_model=Permission, using=using)


def _connect_permission_generation() -> None:
    """Every change that can alter a user's permission set moves the cached sets' generation on."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from apps.common.auth_backends import permissions_generation_advance as advance
    from apps.common.models import User

    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(advance, sender=through, dispatch_uid=f"common.permissions.{through.__name__}")
    for model in (Group, Permission):
        post_delete.connect(advance, sender=model, dispatch_uid=f"common.permissions.delete.{model.__name__}")
    post_save.connect(advance, sender=Permission, dispatch_uid="common.permissions.save.Permission")
    post_migrate.connect(advance, dispatch_uid="common.permissions.migrate")
