"""Celery entry points of the incidents app (queue ``critical``): payload processing and its sweepers."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from apps.incidents.remediation import tasks as _remediation_tasks  # noqa: F401 - registers the remediation task
from apps.incidents.services import heartbeats_check, payload_process, payloads_sweep, silences_expire


@shared_task(
    name="incidents.process_payload",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=4,
)
def process_payload(payload_id: int) -> int:
    """Apply one stored alert payload (a no-op if it was already processed)."""
    return payload_process(payload_id=payload_id)


@shared_task(name="incidents.sweep_payloads", acks_late=True, ignore_result=True)
def sweep_payloads(older_than_seconds: int = 30) -> int:
    """Process payloads left pending (broker down at intake, worker lost) for more than ``older_than_seconds``."""
    return payloads_sweep(older_than=timedelta(seconds=older_than_seconds))


@shared_task(name="incidents.check_heartbeats", acks_late=True, ignore_result=True)
def check_heartbeats() -> int:
    """Open an incident for each integration whose heartbeat is overdue."""
    return heartbeats_check()


@shared_task(name="incidents.expire_silences", acks_late=True, ignore_result=True)
def expire_silences() -> int:
    """End silences whose time has come."""
    return silences_expire()
