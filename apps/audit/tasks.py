"""Celery entry points of the audit log: the sealing sweeper, the daily anchor, the daily verification, the retention
purge."""

from __future__ import annotations

from celery import shared_task

from apps.audit.anchors import anchor_write
from apps.audit.services import audit_purge, audit_seal_pending, audit_verify_run
from apps.configuration.services import config_get


@shared_task(name="audit.seal_sweep", acks_late=True, ignore_result=True)
def seal_sweep() -> int:
    """Seal events still pending (written by database triggers, or whose writer's sealing was skipped)."""
    return audit_seal_pending()


@shared_task(name="audit.anchor_write", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def anchor() -> int | None:
    """Write the chain head to the external sink (daily)."""
    written = anchor_write()
    return written.seq if written else None


@shared_task(name="audit.verify_chain", acks_late=True)
def verify_chain() -> bool:
    """Verify the whole chain against the anchors (daily): the run is recorded, and its result is what
    ``ecap_audit_chain_verified`` reports, so a broken chain alerts without anyone opening the admin."""
    return audit_verify_run().ok


@shared_task(name="audit.retention_purge", acks_late=True)
def retention_purge() -> dict[str, object]:
    """Purge events older than ``audit.retention_days`` behind a verified checkpoint (daily)."""
    return audit_purge(older_than_days=config_get("audit.retention_days"))
