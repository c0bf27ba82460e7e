"""Celery entry points of Spark runs (queue ``spark``)."""

from __future__ import annotations

import uuid

import structlog
from celery import shared_task

from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_resubmit, spark_run_submit, spark_runs_poll

logger = structlog.get_logger(__name__)


@shared_task(
    name="spark.submit_run",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def submit_run(run_pk: int) -> None:
    """Submit one queued run (a no-op if it was already submitted)."""
    spark_run_submit(run_pk=run_pk)


@shared_task(name="spark.poll_runs", acks_late=True, ignore_result=True)
def poll_runs() -> int:
    """Poll submitted runs; submit queued ones whose task was lost."""
    return spark_runs_poll()


@shared_task(name="spark.resubmit_run", acks_late=True, ignore_result=True)
def resubmit_run(run_id: str) -> None:
    """Re-submit a finished run (by its public id), e.g. from an approved remediation."""
    try:
        public_id = uuid.UUID(str(run_id))
    except ValueError:
        logger.warning("spark_resubmit_unknown_run", run_id=str(run_id)[:64])
        return
    run = SparkRun.objects.filter(public_id=public_id).first()
    if run is None:
        logger.warning("spark_resubmit_unknown_run", run_id=str(public_id))
        return
    spark_run_resubmit(run=run)
