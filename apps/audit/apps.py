"""App configuration of audit."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate

from apps.common.periodic import PeriodicTaskSpec


class AuditConfig(AppConfig):
    """The append-only, hash-chained audit log: every change and every read of personal data."""

    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit"
    periodic_tasks = [
        PeriodicTaskSpec(
            name="audit.seal_sweep",
            task="audit.seal_sweep",
            every_seconds=2,
            description="Seal audit events still pending (row triggers, skipped sealing).",
        ),
        PeriodicTaskSpec(
            name="audit.anchor_write",
            task="audit.anchor_write",
            crontab="5 0 * * *",
            description="Write the audit chain head to the external anchor sink.",
        ),
        PeriodicTaskSpec(
            name="audit.verify_chain",
            task="audit.verify_chain",
            crontab="20 1 * * *",
            description="Verify the whole audit chain against the external anchors and record the result.",
        ),
        PeriodicTaskSpec(
            name="audit.retention_purge",
            task="audit.retention_purge",
            crontab="35 2 * * *",
            description="Purge audit events past retention behind a verified checkpoint.",
        ),
    ]

    def ready(self) -> None:
        from django.db import connection

        from apps.audit import signals
        from apps.audit.context import install_on_connection
        from apps.audit.metrics import register_collector
        from apps.audit.risk import register_sensitivity

        register_collector()
        register_sensitivity("audit.auditevent", 10, {"audit", "security", "compliance"})
        signals.connect()
        connection_created.connect(install_on_connection, dispatch_uid="audit.context_wrapper")
        if connection.connection is not None:
            install_on_connection(sender=None, connection=connection)
        post_migrate.connect(_after_migrate, dispatch_uid="audit.triggers_sync")
        if connection.vendor != "postgresql":
            from apps.audit.capture import signals_connect

            signals_connect()


def _after_migrate(sender: AppConfig, **_: Any) -> None:
    from django.apps import apps

    # Tables of every app exist only after the last app with models has migrated.
    if sender is not [c for c in apps.get_app_configs() if c.models_module is not None][-1]:
        return
    from apps.audit.capture import triggers_sync

    triggers_sync()
