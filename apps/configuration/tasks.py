"""Celery entry points of configuration."""

from __future__ import annotations

from celery import shared_task

from apps.configuration.services import vault_changes_poll
from apps.configuration.vault import VaultUnavailable


@shared_task(name="configuration.vault_poll", acks_late=True, ignore_result=True)
def vault_poll() -> list[str]:
    """Record Vault changes and bump the configuration version (every few seconds, from beat)."""
    try:
        return vault_changes_poll()
    except VaultUnavailable:
        return []  # readiness reports it; the next poll tries again
