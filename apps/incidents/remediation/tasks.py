"""Celery entry points of remediation: run one attempt, and the sweep of expired approvals and lost workers."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.db import DatabaseError

from apps.incidents.remediation.services import remediation_execute, remediation_sweep

logger = structlog.get_logger(__name__)


@shared_task(
    name="incidents.remediation_execute",
    acks_late=True,
    # Before the claim nothing has happened, and after it a redelivery is refused by the fencing token: retrying a
    # database error is safe either way.
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=150,
)
def remediation_execute_task(attempt_id: int, fencing_token: int) -> str:
    """Run one remediation attempt (exactly once, under its safety controls); returns its final status."""
    attempt = remediation_execute(attempt_id=attempt_id, fencing_token=fencing_token)
    status = attempt.status if attempt is not None else "missing"
    logger.info("remediation_executed", attempt_id=attempt_id, status=status)
    return status


@shared_task(name="incidents.remediation_sweep", acks_late=True, autoretry_for=(DatabaseError,), retry_backoff=True)
def remediation_sweep_task() -> dict[str, int]:
    """Expire approvals past their window, fail attempts whose worker was lost, re-enqueue lost approvals."""
    counts = remediation_sweep()
    if any(counts.values()):
        logger.info("remediation_swept", **counts)
    return counts
