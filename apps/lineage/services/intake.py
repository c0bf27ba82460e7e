"""Storing events first, processing each exactly once, sweeping what was left pending, re-processing failed ones."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from django.db import connection, transaction
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
    rows = [
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
        for event in unique
    ]
    ids = _insert_new(rows) if connection.vendor == "postgresql" else _insert_new_portable(rows)
    if ids:
        transaction.on_commit(partial(dispatch, ids))
    return StoreResult(stored_ids=ids, duplicates=len(events) - len(ids))


# Every column, so the statement does not depend on defaults the database does not know (Django applies them).
_INSERT_COLUMNS = (
    "public_id", "kind", "event_type", "event_time", "run_id", "job_namespace", "job_name", "producer", "dedup_key",
    "payload", "status", "attempts", "error", "received_at", "processed_at", "submitted_by_id",
)  # fmt: skip


def _insert_new(rows: list[LineageEvent]) -> list[int]:
    """One statement: insert the rows whose dedup key is new and return their ids (a concurrent request that stored
    the same event first makes it a duplicate here)."""
    table = LineageEvent._meta.db_table
    now = timezone.now()
    placeholders = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"
    params: list[Any] = []
    for row in rows:
        params += [
            row.public_id, row.kind, row.event_type, row.event_time, row.run_id, row.job_namespace, row.job_name,
            row.producer, row.dedup_key, json.dumps(row.payload), EventStatus.PENDING, 0, "", now, None,
            row.submitted_by_id,
        ]  # fmt: skip
    # Only fixed identifiers and placeholders are interpolated; every value is a parameter.
    values = ", ".join([placeholders] * len(rows))
    sql = f"INSERT INTO {table} ({', '.join(_INSERT_COLUMNS)}) VALUES {values} ON CONFLICT (dedup_key) DO NOTHING"  # noqa: S608
    sql += " RETURNING id"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row_id for (row_id,) in cursor.fetchall()]


def _insert_new_portable(rows: list[LineageEvent]) -> list[int]:
    """The same for other databases (the embedded SQLite mode): skip known keys, insert, read the new ids back."""
    keys = [row.dedup_key for row in rows]
    known = set(LineageEvent.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True))
    fresh = [row for row in rows if row.dedup_key not in known]
    if not fresh:
        return []
    LineageEvent.objects.bulk_create(fresh, ignore_conflicts=True)
    return list(
        LineageEvent.objects.filter(
            dedup_key__in=[row.dedup_key for row in fresh], status=EventStatus.PENDING
        ).values_list("pk", flat=True)
    )


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
    """Let the catalog carry data categories along the new or changed column lineage."""
    from apps.catalog.propagation import propagate_from_fields

    propagate_from_fields(field_ids=field_ids)


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
