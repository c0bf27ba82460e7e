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
    from apps.privacy.retention import retention_run_consume
    from apps.sparkruns.choices import Job
    from apps.sparkruns.models import SparkRun

    run = SparkRun.objects.filter(pk=run_pk).first()
    if run is None:
        return
    if run.job == Job.RETENTION:
        retention_run_consume(spark_run=run)
    else:
        request_run_consume(spark_run=run)


@shared_task(name="privacy.sweep_runs", acks_late=True, ignore_result=True)
def sweep_runs() -> int:
    """Record request and retention runs whose consumption was lost, remove stale plan files, purge expired
    packages."""
    from apps.privacy.execution import runs_sweep
    from apps.privacy.packages import packages_purge
    from apps.privacy.retention import retention_runs_sweep

    return runs_sweep() + retention_runs_sweep() + packages_purge()


@shared_task(name="privacy.retention_cycle", acks_late=True, ignore_result=True)
def retention_cycle() -> str | None:
    """Today's retention dry run (once a day); its success applies it when automatic application is on."""
    from apps.privacy.retention import retention_cycle as cycle

    run = cycle()
    return None if run is None else str(run.public_id)
