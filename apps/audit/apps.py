"""App configuration of audit."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only, hash-chained audit log: every change and every read of personal data."""

    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit"
