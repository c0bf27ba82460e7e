"""Celery entry points of the lineage app (queue ``default``): processing stored events and the sweeper."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from apps.lineage.services import events_process, events_sweep, graph_changes_purge


@shared_task(
    name="lineage.process_events",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=4,
)
def process_events(event_ids: list[int]) -> int:
    """Apply stored events in event-time order (each a no-op if it was already processed)."""
    return events_process(event_ids=event_ids)


@shared_task(name="lineage.sweep_events", acks_late=True, ignore_result=True)
def sweep_events(older_than_seconds: int = 30) -> int:
    """Process events left pending (broker down at intake, worker lost) for more than ``older_than_seconds``."""
    return events_sweep(older_than=timedelta(seconds=older_than_seconds))


@shared_task(name="lineage.purge_graph_changes", acks_late=True, ignore_result=True)
def purge_graph_changes() -> int:
    """Delete graph change-log rows past their retention."""
    return graph_changes_purge()
