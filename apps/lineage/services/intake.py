"""Storing events first, processing each exactly once, sweeping what was left pending, re-processing failed ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from apps.audit.choices import AuditAction
from apps.audit.services import audit_record
from apps.common.models import User
from apps.lineage.choices import EventStatus
from apps.lineage.dispatch import dispatch
from apps.lineage.ingest import EventsInvalid, ParsedEvent, parse_event
from apps.lineage.models import LineageEvent
from apps.lineage.services.processing import event_apply

logger = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
SWEEP_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class StoreResult:
    """What storing a batch did: ids of the rows it inserted, and how many events were already stored."""

    stored_ids: list[int]
    duplicates: int


def events_store(*, events: Sequence[ParsedEvent], submitted_by: User | None = None) -> StoreResult:
    """Store validated events in one bulk insert that skips those already stored (same dedup key); the new rows are
    published for processing once committed."""
    unique = list({event.dedup_key: event for event in events}.values())
    keys = [event.dedup_key for event in unique]
    known = set(LineageEvent.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True))
    fresh = [event for event in unique if event.dedup_key not in known]
    if fresh:
        LineageEvent.objects.bulk_create(
            [
                LineageEvent(
                    kind=event.kind,
                    event_type=event.event_type,
                    event_time=event.event_time,
                    run_id=event.run_id,
                    job_namespace=event.job_namespace,
                    job_name=event.job_name,
                    producer=event.producer,
                    dedup_key=event.dedup_key,
                    payload=event.payload,
                    submitted_by=submitted_by,
                )
                for event in fresh
            ],
            ignore_conflicts=True,  # a concurrent request stored the same event first: it is a duplicate
        )
    ids = (
        list(
            LineageEvent.objects.filter(
                dedup_key__in=[event.dedup_key for event in fresh], status=EventStatus.PENDING
            ).values_list("pk", flat=True)
        )
        if fresh
        else []
    )
    if ids:
        transaction.on_commit(partial(dispatch, ids))
    return StoreResult(stored_ids=ids, duplicates=len(events) - len(ids))


def lineage_ingest_events(*, events: list[dict[str, Any]], submitted_by: User | None = None) -> int:
    """Store and process OpenLineage events given in-process (a local Spark run's event file): the API's validation
    and idempotency, processed at once in this process. Invalid events are logged and skipped, so one bad line does
    not lose the others. Returns how many events were new."""
    parsed: list[ParsedEvent] = []
    for index, raw in enumerate(events):
        try:
            parsed.append(parse_event(raw))
        except EventsInvalid as exc:
            logger.warning("lineage_event_refused", index=index, fields=exc.fields)
    if not parsed:
        return 0
    with transaction.atomic():
        result = events_store(events=parsed, submitted_by=submitted_by)
    events_process(event_ids=result.stored_ids)
    return len(result.stored_ids)


def events_process(*, event_ids: Iterable[int]) -> int:
    """Process stored events in event-time order; a failing one is recorded and does not stop the others."""
    ordered = list(
        LineageEvent.objects.filter(pk__in=list(event_ids), status=EventStatus.PENDING)
        .order_by("event_time", "pk")
        .values_list("pk", flat=True)
    )
    done = 0
    for event_id in ordered:
        try:
            done += event_process(event_id=event_id)
        except Exception:  # recorded on the row and logged by event_process; the sweeper retries it
            logger.info("lineage_event_left_for_retry", event_id=event_id)
    return done


def event_process(*, event_id: int) -> int:
    """Apply one stored event exactly once: the row is locked and marked processed in the same transaction as its
    effects. Returns 1 if this call processed it, 0 if it was already done or being done elsewhere."""
    try:
        with transaction.atomic():
            event = (
                LineageEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, status=EventStatus.PENDING)
                .first()
            )
            if event is None:
                return 0
            changed_fields = event_apply(event=event)
            event.status, event.processed_at, event.error = EventStatus.PROCESSED, timezone.now(), ""
            event.attempts += 1
            event.save(update_fields=["status", "processed_at", "error", "attempts"])
            if changed_fields:
                transaction.on_commit(partial(_propagate, sorted(changed_fields)), robust=True)
            return 1
    except Exception as exc:
        _record_failure(event_id, exc)
        raise


def _record_failure(event_id: int, exc: Exception) -> None:
    with transaction.atomic():
        event = LineageEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status != EventStatus.PENDING:
            return
        event.attempts += 1
        event.error = f"{type(exc).__name__}: {str(exc)[:1000]}"
        if event.attempts >= MAX_ATTEMPTS:
            event.status = EventStatus.FAILED
        event.save(update_fields=["attempts", "error", "status"])
    logger.exception("lineage_event_failed", event_id=event_id, attempts=event.attempts)


def _propagate(field_ids: list[int]) -> None:
    """Let the catalog carry data categories along the new or changed column lineage (when it offers to)."""
    try:
        from apps.catalog import propagation
    except ImportError:
        return
    propagate = getattr(propagation, "propagate_from_fields", None)
    if propagate is not None:
        propagate(field_ids=field_ids)


def events_sweep(*, older_than: timedelta = SWEEP_AFTER, limit: int = 1000) -> int:
    """Process events still pending (broker down at intake, worker lost): in this process, oldest event first."""
    cutoff = timezone.now() - older_than
    ids = list(
        LineageEvent.objects.filter(status=EventStatus.PENDING, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    return events_process(event_ids=ids)


def event_reprocess(*, event: LineageEvent, actor: User | None = None) -> LineageEvent:
    """Return a failed event to pending with fresh attempts and publish it again (after its cause was fixed)."""
    with transaction.atomic():
        locked = LineageEvent.objects.select_for_update().get(pk=event.pk)
        if locked.status != EventStatus.FAILED:
            return locked
        previous = locked.error
        locked.status, locked.attempts, locked.error = EventStatus.PENDING, 0, ""
        locked.save(update_fields=["status", "attempts", "error"])
        audit_record(
            action=AuditAction.EXECUTE,
            target=locked,
            details={"operation": "lineage_event_reprocess", "previous_error": previous[:500]},
        )
        transaction.on_commit(partial(dispatch, [locked.pk]))
    return locked
