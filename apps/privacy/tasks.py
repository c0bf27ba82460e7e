"""Celery entry points of privacy (queue ``default``): deadline reminders."""

from __future__ import annotations

from celery import shared_task

from apps.privacy.requests import deadlines_sweep


@shared_task(name="privacy.sweep_deadlines", acks_late=True, ignore_result=True)
def sweep_deadlines() -> int:
    """Raise the reminders (7, 3, 1 days before) and breaches of open data-subject requests, each once."""
    return deadlines_sweep()


@shared_task(
    name="privacy.consume_run",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def consume_run(run_pk: int) -> None:
    """Record one finished Spark run of a request (a no-op when it is recorded already)."""
    from apps.privacy.execution import request_run_consume
    from apps.sparkruns.models import SparkRun

    run = SparkRun.objects.filter(pk=run_pk).first()
    if run is not None:
        request_run_consume(spark_run=run)


@shared_task(name="privacy.sweep_runs", acks_late=True, ignore_result=True)
def sweep_runs() -> int:
    """Record runs whose consumption was lost, remove stale plan files and purge expired packages."""
    from apps.privacy.execution import runs_sweep
    from apps.privacy.packages import packages_purge

    return runs_sweep() + packages_purge()
