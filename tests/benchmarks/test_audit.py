"""Audit log throughput and verification speed, measured on the real PostgreSQL.

Figures: plain INSERTs by 8 writer processes through psycopg2 (the baseline, no chain), plain Django ORM creates;
appends through ``audit_record`` by 8 writers (one event per commit, and ten per transaction),
sealed into the chain as they go (sustained rate including draining the last pending events); verification of
1,000,000 chained events in the database; and the same verification re-serialising every event in Python.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from apps.audit.canonical import CANONICAL_FIELDS, JSON_FIELDS, canonical_text, chain_hash, jsonb_text
from apps.audit.models import AuditChainHead, AuditEvent
from apps.audit.services import audit_seal_pending
from apps.audit.verify import VerifyReport, _verify_python, verify_chain

WRITERS = 8
PER_WRITER = 2500
VERIFY_EVENTS = 1_000_000
PYTHON_SAMPLE = 100_000


def child_env() -> dict[str, str]:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return {
        "DJANGO_SETTINGS_MODULE": "ecap_site.settings.test",
        "DATABASE_URL": urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"])),
    }


def run_writers(kind: str) -> float:
    from tests.benchmarks.audit_writers import write

    start_at = time.time() + 10
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        results = pool.starmap(write, [(kind, PER_WRITER, start_at, child_env(), n) for n in range(WRITERS)])
    begin, end = min(r[0] for r in results), max(r[1] for r in results)
    if kind.startswith("chain"):
        audit_seal_pending()  # what the writers left pending counts against them
        end = time.time()
    return sum(r[2] for r in results) / (end - begin)


@pytest.mark.django_db(transaction=True)
def test_append_throughput_with_eight_writers(bench) -> None:
    chained = run_writers("chain")
    assert AuditEvent.objects.filter(hash__isnull=True).count() == 0
    report = verify_chain()
    assert report.ok, report.summary()
    batched = run_writers("chain_batched")
    assert verify_chain().ok
    plain = run_writers("plain")
    raw = run_writers("raw")
    base = "audit: plain INSERTs (psycopg2), 8 writers, no chain"
    bench.record(base, raw, "events/s")
    bench.record("audit: plain Django ORM creates, 8 writers, no chain", plain, "events/s", baseline=base)
    bench.record("audit: audit_record + chain, 8 writers, 1 event/commit", chained, "events/s", baseline=base)
    bench.record("audit: audit_record + chain, 8 writers, 10 events/commit", batched, "events/s", baseline=base)
    audit_seal_pending()


def bulk_chain(count: int) -> None:
    """Write ``count`` sealed events with COPY (the benchmark's fixture data, built as the sealer would)."""
    head = AuditChainHead.objects.get(pk=1)
    seq, prev = head.seq, head.hash
    start = datetime(2026, 1, 1, tzinfo=UTC)
    columns = ("seq", *CANONICAL_FIELDS, "prev_hash", "hash", "sealed_at")
    raw = connection.connection
    with raw.cursor() as cursor:
        # Fixture data arrives sealed, which the database refuses from anyone but the sealer: allow it for the load.
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_insert_pending")
        batch = io.StringIO()
        for i in range(count):
            seq += 1
            fields = {
                "occurred_at": start + timedelta(seconds=i),
                "actor_type": "user",
                "actor_id": f"u{i % 500}",
                "actor_label": f"user{i % 500}",
                "actor_token": "",
                "ip": f"10.0.{i % 250}.{i % 200}",
                "user_agent": "bench",
                "request_id": f"r{i}",
                "action": "read" if i % 3 else "update",
                "target_type": "catalog.dataset",
                "target_id": str(i % 1000),
                "target_label": f"raw/orders/{i % 1000}",
                "changes": {"description": {"old": "a", "new": "b"}} if i % 3 == 0 else {},
                "purpose": "support",
                "outcome": "success",
                "risk_score": i % 40,
                "risk_factors": {"sensitivity": i % 40} if i % 40 else {},
                "details": {"rows": i % 50},
            }
            digest = chain_hash(seq, prev, canonical_text(fields))
            row = [str(seq), fields["occurred_at"].isoformat()]
            row += [jsonb_text(fields[c]) if c in JSON_FIELDS else str(fields[c]) for c in columns[2:19]]
            row += [prev, digest, start.isoformat()]
            batch.write("\t".join(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") for v in row))
            batch.write("\n")
            prev = digest
            if i % 100_000 == 99_999 or i == count - 1:
                batch.seek(0)
                cursor.copy_expert(f"COPY audit_auditevent ({', '.join(columns)}) FROM STDIN", batch)
                batch = io.StringIO()
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_insert_pending")
    raw.commit()
    AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)


@pytest.mark.django_db(transaction=True)
def test_verify_a_million_events(bench) -> None:
    audit_seal_pending()
    bulk_chain(VERIFY_EVENTS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    started = time.perf_counter()
    report = verify_chain()
    in_database = time.perf_counter() - started
    assert report.ok, report.summary()
    assert report.checked >= VERIFY_EVENTS

    sample = VerifyReport()
    started = time.perf_counter()
    _verify_python(sample, 1, PYTHON_SAMPLE)
    python_per_million = (time.perf_counter() - started) * (VERIFY_EVENTS / PYTHON_SAMPLE)
    assert sample.ok
    bench.record("audit: verify 1,000,000 events in Python (from 100k)", python_per_million, "s")
    bench.record(
        "audit: verify 1,000,000 events (PostgreSQL, 2 workers)",
        in_database,
        "s",
        baseline="audit: verify 1,000,000 events in Python (from 100k)",
    )
