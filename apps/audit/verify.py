"""Verification of the chain: every event's hash re-derived from its stored columns, every link, contiguous sequence
numbers, and the anchors written outside the database (so a cut-off tail is caught too).

On PostgreSQL the work runs in the database (sha256 and jsonb there), split across connections; elsewhere in Python.
Both report the first bad sequence number and why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections
from django.db.models import Max, Min

from apps.audit.canonical import CANONICAL_FIELDS, CANONICAL_SQL, SEPARATOR, canonical_text, chain_hash
from apps.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent

HASH_MISMATCH = "hash mismatch: the stored event differs from what was sealed (modified, reordered or rehashed)"
PG_FIRST_BAD = """
WITH chain AS (
  SELECT seq, prev_hash, hash, lag(seq) OVER w AS before_seq, lag(hash) OVER w AS before_hash,
         encode(sha256(convert_to(seq::text || '|' || prev_hash || '|' || CANONICAL, 'UTF8')), 'hex') AS derived
  FROM audit_auditevent
  WHERE seq BETWEEN %(low)s - 1 AND %(high)s
  WINDOW w AS (ORDER BY seq)
)
SELECT seq,
  CASE
    WHEN before_seq IS NOT NULL AND seq <> before_seq + 1
      THEN 'sequence gap after ' || before_seq || ' (deleted event)'
    WHEN before_hash IS NOT NULL AND prev_hash <> before_hash
      THEN 'broken link: prev_hash differs from event ' || before_seq
    ELSE 'HASH_MISMATCH'
  END AS reason
FROM chain
WHERE seq >= %(low)s AND (
  (before_seq IS NOT NULL AND seq <> before_seq + 1)
  OR (before_hash IS NOT NULL AND prev_hash <> before_hash)
  OR hash <> derived)
ORDER BY seq
LIMIT 1
""".replace("CANONICAL", CANONICAL_SQL).replace("HASH_MISMATCH", HASH_MISMATCH)


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    ok: bool = True
    first_seq: int | None = None
    last_seq: int | None = None
    checked: int = 0
    first_bad_seq: int | None = None
    reason: str = ""
    pending: int = 0
    anchors_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, seq: int | None, reason: str) -> None:
        if self.ok or (seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq)):
            self.first_bad_seq, self.reason = seq, reason
        self.ok = False
        self.problems.append(f"#{seq}: {reason}" if seq is not None else reason)

    def summary(self) -> str:
        if self.ok:
            return (
                f"chain intact: events #{self.first_seq}..#{self.last_seq} ({self.checked} checked), "
                f"{self.anchors_checked} anchor(s) match, {self.pending} pending"
            )
        return f"chain BROKEN at #{self.first_bad_seq}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "pending": self.pending,
            "anchors_checked": self.anchors_checked,
            "problems": self.problems,
            "summary": self.summary(),
        }


def _start() -> tuple[int, str]:
    """Where the chain starts: after the latest checkpoint, or at #1 with the genesis hash."""
    checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
    return (checkpoint.seq + 1, checkpoint.hash) if checkpoint else (1, GENESIS_HASH)


def _check_checkpoint(report: VerifyReport, lowest: int, highest: int) -> tuple[int, str] | None:
    """The start the checkpoint allows, or None (and a failure) when the checkpoint does not fit the chain.

    Events at or below a checkpoint should be gone; if some remain, the checkpoint must match the event it names and
    verification covers them too, so a forged checkpoint can never hide events from it.
    """
    checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
    if checkpoint is None:
        return 1, GENESIS_HASH
    if checkpoint.seq < lowest - 1:
        report.fail(
            checkpoint.seq + 1, f"events #{checkpoint.seq + 1}..#{lowest - 1} after the last checkpoint are gone"
        )
        return None
    if checkpoint.seq >= lowest:
        stored = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
        if stored != checkpoint.hash or checkpoint.seq > highest:
            report.fail(checkpoint.seq, f"checkpoint #{checkpoint.seq} does not match the chain (forged or stale)")
            return None
        return (1, GENESIS_HASH) if lowest == 1 else (lowest, "")
    return checkpoint.seq + 1, checkpoint.hash


def verify_chain(
    *,
    from_seq: int | None = None,
    to_seq: int | None = None,
    anchors: list[dict[str, Any]] | None = None,
    workers: int = 2,
) -> VerifyReport:
    """Verify the sealed chain (all of it, or ``from_seq``..``to_seq``) and the given anchors."""
    report = VerifyReport()
    bounds = AuditEvent.objects.filter(seq__isnull=False).aggregate(lo=Min("seq"), hi=Max("seq"))
    report.pending = AuditEvent.objects.filter(hash__isnull=True).count()
    if bounds["lo"] is None:
        start_seq, _ = _start()
        if start_seq > 1:
            report.fail(start_seq, "every event after the last checkpoint is gone")
        _check_anchors(report, anchors or [], None)
        return report
    start = _check_checkpoint(report, bounds["lo"], bounds["hi"])
    start_seq, start_hash = start if start is not None else (bounds["lo"], "")
    low = max(from_seq or start_seq, bounds["lo"])
    high = min(to_seq or bounds["hi"], bounds["hi"])
    report.first_seq, report.last_seq = low, high
    if low > high:
        return report  # nothing in that range
    if low == bounds["lo"]:
        first = AuditEvent.objects.filter(seq=bounds["lo"]).values("seq", "prev_hash").get()
        if first["seq"] != start_seq:
            report.fail(start_seq, f"chain starts at #{first['seq']}, expected #{start_seq} (events deleted)")
        elif start_hash and first["prev_hash"] != start_hash:
            report.fail(first["seq"], "first event does not link to the genesis hash or the checkpoint")
    if connection.vendor == "postgresql":
        _verify_pg(report, low, high, workers)
    else:
        _verify_python(report, low, high)
    report.checked = high - low + 1
    _check_anchors(report, anchors or [], high if to_seq is None else None)
    return report


def _verify_pg(report: VerifyReport, low: int, high: int, workers: int) -> None:
    size = high - low + 1
    parts = max(1, min(workers, size // 50_000 or 1))
    step = -(-size // parts)
    ranges = [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(parts)]
    results: list[tuple[int, str] | None] = [None] * len(ranges)
    errors: list[BaseException] = []

    def run(index: int, lo: int, hi: int) -> None:
        try:
            alias = "default"
            with connections[alias].cursor() as cursor:
                cursor.execute(PG_FIRST_BAD, {"low": lo, "high": hi})
                row = cursor.fetchone()
                results[index] = (row[0], row[1]) if row else None
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()

    if len(ranges) == 1:
        run(0, *ranges[0])
    else:
        threads = [threading.Thread(target=run, args=(i, lo, hi)) for i, (lo, hi) in enumerate(ranges)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    for found in results:
        if found is not None:
            report.fail(found[0], found[1])


def _verify_python(report: VerifyReport, low: int, high: int) -> None:
    """Re-derive every hash in Python (databases without sha256; and as an independent check on PostgreSQL)."""
    previous = AuditEvent.objects.filter(seq=low - 1).values_list("hash", flat=True).first()
    expected_seq = low
    if connection.vendor == "postgresql":
        # JSON columns and the time exactly as stored, not re-rendered from Python floats or time zones.
        rows: Any = _pg_rows(low, high)
    else:
        rows = (
            (r["seq"], r["prev_hash"], r["hash"], canonical_text(r))
            for r in AuditEvent.objects.filter(seq__gte=low, seq__lte=high)
            .order_by("seq")
            .values("seq", "prev_hash", "hash", *CANONICAL_FIELDS)
            .iterator(chunk_size=5000)
        )
    for seq, prev_hash, digest, canonical in rows:
        if seq != expected_seq:
            report.fail(seq, f"sequence gap after {expected_seq - 1} (deleted event)")
            return
        if previous is not None and prev_hash != previous:
            report.fail(seq, f"broken link: prev_hash differs from event {seq - 1}")
            return
        if digest != chain_hash(seq, prev_hash, canonical):
            report.fail(
                seq, "hash mismatch: the stored event differs from what was sealed (modified, reordered or rehashed)"
            )
            return
        previous, expected_seq = digest, seq + 1


def _pg_rows(low: int, high: int) -> Any:
    columns = """seq, prev_hash, hash, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
      actor_type, actor_id, actor_label, actor_token, ip, user_agent, request_id, action, target_type, target_id,
      target_label, changes::text, purpose, outcome, risk_score::text, risk_factors::text, details::text"""
    from django.db import transaction

    with transaction.atomic(), connection.connection.cursor(name="audit_verify") as cursor:  # server-side cursor
        cursor.itersize = 10_000
        cursor.execute(
            f"SELECT {columns} FROM audit_auditevent WHERE seq BETWEEN %s AND %s ORDER BY seq",  # noqa: S608
            [low, high],
        )
        for row in cursor:
            yield row[0], row[1], row[2], SEPARATOR.join(row[3:])


def _check_anchors(report: VerifyReport, anchors: list[dict[str, Any]], head_seq: int | None) -> None:
    """Each anchor's (seq, hash) must be in the chain; an anchor past the last event means the tail was cut off."""
    start_seq, _ = _start()
    for anchor in anchors:
        seq, digest = int(anchor["seq"]), anchor["hash"]
        if seq < start_seq:
            continue  # purged under a checkpoint
        stored = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
        if stored is None:
            if head_seq is not None and seq > head_seq:
                report.fail(head_seq + 1, f"anchor #{seq} is past the last event #{head_seq}: the tail was cut off")
            elif head_seq is None and report.last_seq is None:
                report.fail(seq, f"anchor #{seq} names an event that no longer exists")
            continue
        if stored != digest:
            report.fail(seq, f"anchor #{seq} hash differs from the chain (history rewritten)")
        report.anchors_checked += 1
