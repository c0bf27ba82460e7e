"""The one way to write audit events, and the chain's upkeep: sealing, purging, anchoring.

Public surface: ``audit_record`` (every app), ``audit_record_read`` (views showing personal data),
``audit_seal_pending``, ``audit_purge``.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit.anchors import anchors_read
from apps.audit.canonical import CANONICAL_FIELDS, CANONICAL_SQL, JSON_FIELDS, canonical_text, chain_hash, clean
from apps.audit.choices import AuditAction, Outcome
from apps.audit.context import AuditContext, current_context
from apps.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from apps.audit.risk import score
from apps.audit.verify import VerifyReport, verify_chain
from apps.common.logging import SENSITIVE_KEY

logger = structlog.get_logger(__name__)
MASK = "********"
SEAL_BATCH = 2000


def mask_changes(changes: dict[str, Any], personal: tuple[str, ...] = ()) -> dict[str, Any]:
    """Field-level changes with secrets and personal values masked (the fact of the change is kept)."""
    out: dict[str, Any] = {}
    for name, change in changes.items():
        if name in personal or SENSITIVE_KEY.search(name):
            if isinstance(change, dict):
                out[name] = {side: MASK for side in change if side in ("old", "new")}
            else:
                out[name] = MASK
        else:
            out[name] = clean(change)
    return out


def _target_fields(
    target: models.Model | None, target_type: str, target_id: str, target_label: str
) -> tuple[str, str, str]:
    if target is None:
        return target_type, target_id, target_label
    meta = target._meta
    identifier = getattr(target, "public_id", None) or target.pk
    return target_type or meta.label_lower, target_id or str(identifier), target_label or str(target)[:200]


def audit_record(
    *,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    changes: dict[str, Any] | None = None,
    personal: tuple[str, ...] = (),
    purpose: str | None = None,
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    risk_factors: dict[str, int] | None = None,
    rows: int = 0,
    context: AuditContext | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event (pending; sealed into the chain right after commit). Never raises for odd input."""
    ctx = context or current_context()
    if purpose is not None:
        ctx = replace(ctx, purpose=purpose[:200])
    moment = occurred_at or timezone.now()
    target_type, target_id, target_label = _target_fields(target, target_type, target_id, target_label)
    risk_score, factors = score(
        context=ctx,
        action=action,
        outcome=outcome,
        target_type=target_type,
        moment=moment,
        rows=rows,
        extra=risk_factors,
    )
    fields: dict[str, Any] = {
        "occurred_at": moment,
        "actor_type": ctx.actor_type,
        "actor_id": clean(ctx.actor_id)[:64],
        "actor_label": clean(ctx.actor_label)[:150],
        "actor_token": clean(ctx.actor_token)[:16],
        "ip": clean(ctx.ip)[:45],
        "user_agent": clean(ctx.user_agent)[:300],
        "request_id": clean(ctx.request_id)[:128],
        "action": action,
        "target_type": clean(target_type)[:100],
        "target_id": clean(str(target_id))[:64],
        "target_label": clean(str(target_label))[:200],
        "changes": mask_changes(changes or {}, personal),
        "purpose": clean(ctx.purpose)[:200],
        "outcome": outcome,
        "risk_score": risk_score,
        "risk_factors": clean(factors),
        "details": clean({**(details or {}), **({"rows": rows} if rows else {})}),
    }
    event = _insert(fields)
    transaction.on_commit(audit_seal_soon)
    return event


def _insert(fields: dict[str, Any]) -> AuditEvent:
    """One INSERT … RETURNING, without the ORM's per-save work: this is the hot path of every audited action.

    On PostgreSQL the statement goes straight to the driver's cursor, in the connection's current transaction: the
    audit table needs none of the execute wrappers (its own rows carry their context as columns).
    """
    names = tuple(fields)
    postgres = connection.vendor == "postgresql"
    sql = _insert_sql(names, postgres)
    values = [json.dumps(fields[n]) if n in JSON_FIELDS else fields[n] for n in names]
    if postgres:
        connection.ensure_connection()
        with connection.wrap_database_errors, connection.connection.cursor() as cursor:
            cursor.execute(sql, values)
            event_id = cursor.fetchone()[0]
    else:
        values[names.index("occurred_at")] = _db_time(fields["occurred_at"])
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            event_id = cursor.fetchone()[0]
    event = AuditEvent(id=event_id, **fields)
    event._state.adding = False
    event._state.db = connection.alias
    return event


@functools.cache
def _insert_sql(names: tuple[str, ...], postgres: bool) -> str:
    markers = ", ".join("CAST(%s AS jsonb)" if postgres and name in JSON_FIELDS else "%s" for name in names)
    # Only column names from the model and parameter markers are formatted into the statement.
    return f"INSERT INTO audit_auditevent ({', '.join(names)}) VALUES ({markers}) RETURNING id"  # noqa: S608


def _db_time(moment: datetime) -> Any:
    return AuditEvent._meta.get_field("occurred_at").get_db_prep_value(moment, connection)


def audit_record_read(
    *,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    fields_shown: list[str],
    purpose: str,
    rows: int = 1,
    action: str = AuditAction.READ,
) -> AuditEvent:
    """Record that personal data was shown (or exported): which fields, how many records, and why."""
    return audit_record(
        action=action,
        target=target,
        target_type=target_type,
        target_id=target_id,
        purpose=purpose,
        rows=rows,
        details={"fields": sorted(fields_shown)},
    )


# --- sealing ----------------------------------------------------------------------------------------------------
def _write_seals(updates: list[tuple[int, int, str, str]]) -> None:
    values = ", ".join(["(CAST(%s AS BIGINT), CAST(%s AS BIGINT), %s, %s)"] * len(updates))
    params = [v for row in updates for v in row]
    with connection.cursor() as cursor:
        # Only parameter markers are formatted into the statement; every value is a parameter (PostgreSQL, SQLite).
        cursor.execute(
            f"WITH v(id, seq, prev_hash, hash) AS (VALUES {values}) "  # noqa: S608
            "UPDATE audit_auditevent SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash, sealed_at = %s "
            "FROM v WHERE audit_auditevent.id = v.id",
            [*params, timezone.now()],
        )


def _pending_canonical(limit: int) -> list[tuple[int, str]]:
    """The oldest pending events with their canonical text, rendered by PostgreSQL where possible."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {CANONICAL_SQL} FROM audit_auditevent WHERE hash IS NULL ORDER BY id LIMIT %s",  # noqa: S608
                [limit],
            )
            return [(row[0], row[1]) for row in cursor.fetchall()]
    rows = AuditEvent.objects.filter(hash__isnull=True).order_by("id").values("id", *CANONICAL_FIELDS)[:limit]
    return [(row["id"], canonical_text(row)) for row in rows]


def audit_seal_pending(*, wait: bool = True, limit: int = SEAL_BATCH) -> int:
    """Seal pending events into the chain, in batches, in the order they were written; returns how many.

    With ``wait=False`` it returns at once when another process holds the chain head (it will seal them).
    """
    from apps.audit.rules import evaluate_rules

    total = 0
    while True:
        with transaction.atomic():
            heads = AuditChainHead.objects.select_for_update(skip_locked=not wait).filter(pk=1)
            head = heads.first()
            if head is None:
                if not AuditChainHead.objects.filter(pk=1).exists():
                    AuditChainHead.objects.get_or_create(pk=1)
                    continue
                return total  # someone else is sealing
            pending = _pending_canonical(limit)
            if not pending:
                return total
            seq, prev = head.seq, head.hash
            updates = []
            for event_id, canonical in pending:
                seq += 1
                digest = chain_hash(seq, prev, canonical)
                updates.append((event_id, seq, prev, digest))
                prev = digest
            _write_seals(updates)
            head.seq, head.hash, head.updated_at = seq, prev, timezone.now()
            head.save(update_fields=["seq", "hash", "updated_at"])
        total += len(updates)
        evaluate_rules(first_seq=updates[0][1], last_seq=updates[-1][1])
        if len(pending) < limit:
            return total


SEAL_MIN_INTERVAL = 0.2  # seconds between one process's sealing attempts: under load, batches grow instead
_last_seal_attempt = 0.0


def audit_seal_soon() -> None:
    """After a commit that wrote events: seal what is pending, at most every SEAL_MIN_INTERVAL per process and never
    waiting for another sealer (whoever holds the head seals ours too; the beat sweeper catches the rest)."""
    global _last_seal_attempt
    now = time.monotonic()
    if now - _last_seal_attempt < SEAL_MIN_INTERVAL:
        return
    _last_seal_attempt = now
    try:
        audit_seal_pending(wait=False)
    except Exception:  # sealing must never break the request that wrote the event; the sweeper retries
        logger.exception("audit_seal_failed")


# --- verification runs ------------------------------------------------------------------------------------------
PROBLEMS_KEPT = 10
CHAIN_BROKEN_RISK = 80


def audit_verify_run(*, context: AuditContext | None = None) -> VerifyReport:
    """Seal what is pending, verify the whole chain against the external anchors, and record the run."""
    audit_seal_pending()
    report = verify_chain(anchors=anchors_read())
    details = report.as_dict()
    problems = details.pop("problems")
    details["problems_total"] = len(problems)
    details["problems"] = problems[:PROBLEMS_KEPT]
    audit_record(
        action=AuditAction.VERIFY,
        target_type="audit.auditevent",
        details=details,
        risk_factors=None if report.ok else {"chain_broken": CHAIN_BROKEN_RISK},
        context=context,
    )
    return report


# --- retention --------------------------------------------------------------------------------------------------


def audit_purge(*, older_than_days: int, actor_context: AuditContext | None = None) -> dict[str, Any]:
    """Delete sealed events older than the retention, after verifying them and recording a checkpoint.

    Verification then starts from the checkpoint, so the remaining chain is still proved intact.
    """
    audit_seal_pending()
    cutoff = timezone.now() - timedelta(days=older_than_days)
    sealed = AuditEvent.objects.filter(seq__isnull=False)
    # Purge a prefix of the chain: up to just before the first event still inside the retention.
    first_kept = sealed.filter(occurred_at__gte=cutoff).order_by("seq").values_list("seq", flat=True).first()
    prefix = sealed.filter(occurred_at__lt=cutoff)
    if first_kept is not None:
        prefix = prefix.filter(seq__lt=first_kept)
    last = prefix.order_by("-seq").values_list("seq", "hash").first()
    if last is None or last[0] is None or last[1] is None:
        return {"deleted": 0, "checkpoint": None}
    last_seq, last_hash = int(last[0]), str(last[1])
    report = verify_chain(to_seq=last_seq)
    if not report.ok:
        raise ChainBroken(report.summary())
    with transaction.atomic():
        checkpoint = AuditCheckpoint.objects.create(
            seq=last_seq, hash=last_hash, reason=f"retention purge of events before {cutoff:%Y-%m-%d}"
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('ecap.audit_purge', 'on', true)")
        deleted, _ = AuditEvent.objects.filter(seq__isnull=False, seq__lte=checkpoint.seq).delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # purge mode ends with the delete, not with an outer transaction
                cursor.execute("SELECT set_config('ecap.audit_purge', 'off', true)")
    audit_record(
        action=AuditAction.PURGE,
        target_type="audit.auditevent",
        context=actor_context,
        details={"deleted": deleted, "checkpoint_seq": checkpoint.seq, "cutoff": cutoff.isoformat()},
    )
    logger.info("audit_purged", deleted=deleted, checkpoint_seq=checkpoint.seq)
    return {"deleted": deleted, "checkpoint": checkpoint.seq}


class ChainBroken(Exception):
    """The chain failed verification; nothing was purged."""
