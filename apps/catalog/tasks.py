"""Celery entry points of the catalog (queue ``default``): discovery, consumption of finished runs, propagation."""

from __future__ import annotations

from celery import shared_task

from apps.catalog.discovery import daily_discovery_key, discovery_request, run_consume, runs_consume_pending
from apps.catalog.propagation import propagation_recompute_all
from apps.common.models import User
from apps.sparkruns.models import SparkRun


@shared_task(name="catalog.run_discovery", acks_late=True, ignore_result=True)
def run_discovery(idempotency_key: str | None = None, requested_by_id: int | None = None) -> list[str]:
    """Queue a profile run and a PII scan after it; without a key, one discovery per day (the beat schedule)."""
    user = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    profile, scan = discovery_request(requested_by=user, idempotency_key=idempotency_key or daily_discovery_key())
    return [str(profile.public_id), str(scan.public_id)]


@shared_task(
    name="catalog.consume_run",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def consume_run(run_pk: int) -> None:
    """Consume one finished profile or PII-scan run (a no-op when it was consumed already)."""
    run = SparkRun.objects.filter(pk=run_pk).first()
    if run is not None:
        run_consume(run=run)


@shared_task(name="catalog.consume_pending_runs", acks_late=True, ignore_result=True)
def consume_pending_runs() -> int:
    """Consume finished runs whose consumption task was lost (broker down, worker died)."""
    return runs_consume_pending()


@shared_task(name="catalog.recompute_propagation", acks_late=True, ignore_result=True)
def recompute_propagation() -> int:
    """Recompute every inherited category from the current column lineage."""
    return propagation_recompute_all()
