"""Celery entry points of data quality (queue ``default``): scans on schedule, consumption of finished scans."""

from __future__ import annotations

from celery import shared_task

from apps.quality.schedules import partitions_check, scheduled_scan
from apps.quality.services import scan_consume, scans_consume_pending
from apps.sparkruns.models import SparkRun


@shared_task(name="quality.scan_dataset", acks_late=True, ignore_result=True)
def scan_dataset(dataset_id: int) -> str | None:
    """A dataset's cron schedule: scan all its enabled rules (one scan per minute however often it is delivered)."""
    scan = scheduled_scan(dataset_id=dataset_id)
    return None if scan is None else str(scan.public_id)


@shared_task(name="quality.check_partitions", acks_late=True, ignore_result=True)
def check_partitions() -> int:
    """Scan the new partitions of every dataset scheduled on new partitions."""
    return partitions_check()


@shared_task(
    name="quality.consume_run",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def consume_run(run_pk: int) -> None:
    """Record the results of one finished quality_scan run (a no-op when they are recorded already)."""
    run = SparkRun.objects.filter(pk=run_pk).first()
    if run is not None:
        scan_consume(run=run)


@shared_task(name="quality.consume_pending_scans", acks_late=True, ignore_result=True)
def consume_pending_scans() -> int:
    """Record finished scans whose consumption task was lost (broker down, worker died)."""
    return scans_consume_pending()
