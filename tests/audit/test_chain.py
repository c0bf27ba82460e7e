"""The hash chain on the real PostgreSQL: append-only guard triggers, tamper detection by ``verify_chain`` and
``audit_verify``, anchors in a file and in an Object Lock bucket on moto's S3 server, the retention purge behind a
checkpoint, verification of ranges, and concurrent sealing."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from apps.audit.anchors import anchor_write, anchors_read
from apps.audit.choices import ActorType, AuditAction
from apps.audit.context import AuditContext
from apps.audit.models import GENESIS_HASH, AuditAnchor, AuditChainHead, AuditCheckpoint, AuditEvent
from apps.audit.services import audit_record, audit_seal_pending
from apps.audit.verify import verify_chain
from apps.configuration.layers import DefaultsLayer, EnvLayer, OverrideLayer
from tests.audit.moto_server import REGION, LockedBucket, locked_bucket, moto_endpoint  # noqa: F401

pytestmark = pytest.mark.django_db

CONTEXT = AuditContext(
    actor_type=ActorType.USER,
    actor_id="u-7f3a",
    actor_label="alice",
    ip="10.1.2.3",
    user_agent="pytest",
    request_id="req-chain",
)
FORGED_HASH = "f" * 64


@pytest.fixture(autouse=True)
def empty_chain(db: None) -> None:
    """Each test starts from an empty chain at the genesis hash, whatever earlier tests left committed.

    The test connections may TRUNCATE the audit table (``ecap.allow_truncate``); inside a test's transaction this is
    rolled back with it.
    """
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent, audit_auditcheckpoint, audit_auditanchor")
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})


def record(
    count: int, *, first: int = 1, occurred_at: datetime | None = None, action: str = AuditAction.UPDATE
) -> list[AuditEvent]:
    """Write ``count`` pending events about datasets ``ds-<first>``, ``ds-<first + 1>``…"""
    return [
        audit_record(
            action=action,
            target_type="catalog.dataset",
            target_id=f"ds-{n}",
            details={"n": n, "note": "schema changed"},
            context=CONTEXT,
            occurred_at=occurred_at,
        )
        for n in range(first, first + count)
    ]


def sealed_chain(count: int) -> list[AuditEvent]:
    """A sealed chain #1..#count (transaction.on_commit never fires inside a test's transaction: seal explicitly)."""
    record(count)
    assert audit_seal_pending() == count
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, count + 1))
    return events


def hash_of(seq: int) -> str:
    return AuditEvent.objects.values_list("hash", flat=True).get(seq=seq)


@contextmanager
def guard_off() -> Iterator[Any]:
    """A cursor with the audit tables' guard triggers disabled (the test database user is a superuser)."""
    tables = ("audit_auditevent", "audit_auditchainhead", "audit_auditcheckpoint")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def rewind_head(seq: int) -> None:
    with guard_off():
        AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=hash_of(seq))


def rewrite_history(seq: int) -> None:
    """Replace events ``seq``.. with as many forged ones, sealed by the real sealer: a chain consistent in itself."""
    replaced = AuditEvent.objects.filter(seq__gte=seq).count()
    with guard_off() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq >= %s", [seq])
    rewind_head(seq - 1)
    record(replaced, first=500, action=AuditAction.DELETE)
    assert audit_seal_pending() == replaced


def delete_in_purge_mode(seq: int) -> None:
    """DELETE one event the way the retention purge does (``ecap.audit_purge`` on for the transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('ecap.audit_purge', 'on', true)")
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [seq])


# --- append-only ------------------------------------------------------------------------------------------------


def test_update_delete_and_truncate_of_audit_events_are_refused_by_the_database() -> None:
    sealed_chain(3)
    with connection.cursor() as cursor:
        with pytest.raises(ProgrammingError, match="append-only: UPDATE of event") as refused, transaction.atomic():
            cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE seq = 1")
        assert refused.value.__cause__.pgcode == "42501"  # insufficient_privilege
        with pytest.raises(ProgrammingError, match="append-only: DELETE of event"), transaction.atomic():
            cursor.execute("DELETE FROM audit_auditevent WHERE seq = 1")

        # The test connections are started with ecap.allow_truncate=on; switched off, this one is an ordinary one.
        cursor.execute("SET ecap.allow_truncate = off")
        try:
            with pytest.raises(ProgrammingError, match="append-only: TRUNCATE refused"), transaction.atomic():
                cursor.execute("TRUNCATE audit_auditevent")
        finally:
            cursor.execute("RESET ecap.allow_truncate")
        cursor.execute("SHOW ecap.allow_truncate")
        assert cursor.fetchone() == ("on",)

    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "action")) == [
        (1, "update"),
        (2, "update"),
        (3, "update"),
    ]
    assert verify_chain().ok


def test_sealing_is_the_only_update_allowed_and_cannot_change_the_event_with_it() -> None:
    sealed_chain(2)
    pending = record(1, first=3)[0]
    head = AuditChainHead.objects.get(pk=1)
    with (
        pytest.raises(ProgrammingError, match=f"append-only: UPDATE of event {pending.id} refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE audit_auditevent SET seq = 3, prev_hash = %s, hash = %s, sealed_at = now(), action = 'x' "
            "WHERE id = %s",
            [head.hash, FORGED_HASH, pending.id],
        )

    assert audit_seal_pending() == 1
    pending.refresh_from_db()
    assert (pending.seq, pending.prev_hash, pending.action) == (3, head.hash, "update")
    assert pending.hash not in (None, FORGED_HASH)
    assert pending.sealed_at is not None
    assert AuditChainHead.objects.get(pk=1).hash == pending.hash
    # Once sealed, even the seal is final.
    with (
        pytest.raises(ProgrammingError, match=f"UPDATE of event {pending.id} refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET sealed_at = now() WHERE id = %s", [pending.id])
    assert verify_chain().ok


# --- tamper detection -------------------------------------------------------------------------------------------


def modify_column(cursor: Any) -> None:
    cursor.execute("UPDATE audit_auditevent SET action = 'delete' WHERE seq = 3")


def modify_json_content(cursor: Any) -> None:
    # A key added to a JSON column: the same text columns, a different document.
    cursor.execute("UPDATE audit_auditevent SET details = details || '{\"approved\": true}' WHERE seq = 3")


def delete_middle(cursor: Any) -> None:
    cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")


def insert_middle(cursor: Any) -> None:
    # Later events move up by one (through negative numbers: seq is unique), then the real sealer seals a forged
    # event into the gap, linked to #3 and hashed correctly.
    cursor.execute("UPDATE audit_auditevent SET seq = -seq WHERE seq >= 4")
    cursor.execute("UPDATE audit_auditevent SET seq = 1 - seq WHERE seq < 0")
    head = AuditChainHead.objects.values_list("seq", "hash").get(pk=1)
    rewind_head(3)
    record(1, first=900)
    assert audit_seal_pending() == 1
    AuditChainHead.objects.filter(pk=1).update(seq=head[0] + 1, hash=hash_of(head[0] + 1))


def swap_order(cursor: Any) -> None:
    cursor.execute("UPDATE audit_auditevent SET seq = -3 WHERE seq = 3")
    cursor.execute("UPDATE audit_auditevent SET seq = 3 WHERE seq = 4")
    cursor.execute("UPDATE audit_auditevent SET seq = 4 WHERE seq = -3")


def rewrite_hash(cursor: Any) -> None:
    cursor.execute("UPDATE audit_auditevent SET hash = %s WHERE seq = 3", [FORGED_HASH])


@pytest.mark.parametrize(
    ("tamper", "first_bad", "reason"),
    [
        pytest.param(modify_column, 3, "hash mismatch", id="modified-column"),
        pytest.param(modify_json_content, 3, "hash mismatch", id="modified-json-content"),
        pytest.param(delete_middle, 4, "sequence gap after 2 (deleted event)", id="deleted-event"),
        pytest.param(insert_middle, 5, "broken link: prev_hash differs from event 4", id="inserted-event"),
        pytest.param(swap_order, 3, "broken link: prev_hash differs from event 2", id="reordered-events"),
        pytest.param(rewrite_hash, 3, "hash mismatch", id="rewritten-hash"),
    ],
)
def test_tampering_is_reported_at_the_first_bad_sequence_number(
    tamper: Callable[[Any], None], first_bad: int, reason: str
) -> None:
    sealed_chain(6)
    assert verify_chain().ok
    with guard_off() as cursor:
        tamper(cursor)

    report = verify_chain()
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert report.reason.startswith(reason)

    out = StringIO()
    with pytest.raises(SystemExit, match=r"^1$"):
        call_command("audit_verify", "--no-anchors", stdout=out)
    assert out.getvalue().startswith(f"chain BROKEN at #{first_bad}: {report.reason}")


def test_audit_verify_reports_an_intact_chain_and_seals_pending_events_first() -> None:
    sealed_chain(6)
    record(1, first=7)

    out = StringIO()
    call_command("audit_verify", "--no-anchors", "--no-seal", stdout=out)
    assert out.getvalue().startswith("chain intact: events #1..#6 (6 checked), 0 anchor(s) match, 1 pending")

    out = StringIO()
    call_command("audit_verify", "--no-anchors", stdout=out)
    assert out.getvalue().startswith("chain intact: events #1..#7 (7 checked), 0 anchor(s) match, 0 pending")

    out = StringIO()
    call_command("audit_verify", "--no-anchors", "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True


def test_audit_verify_from_checks_only_the_events_from_that_number() -> None:
    sealed_chain(6)
    with guard_off() as cursor:
        modify_column(cursor)  # event #3

    out = StringIO()
    call_command("audit_verify", "--no-anchors", "--from", "4", stdout=out)
    assert out.getvalue().startswith("chain intact: events #4..#6 (3 checked)")

    out = StringIO()
    with pytest.raises(SystemExit, match=r"^1$"):
        call_command("audit_verify", "--no-anchors", "--from", "3", stdout=out)
    assert out.getvalue().startswith("chain BROKEN at #3: hash mismatch")


# --- anchors: file ----------------------------------------------------------------------------------------------


@pytest.fixture
def anchor_file(use_config_store: Callable[[list], Any], tmp_path: Path) -> Path:
    """Anchors go to a file of this test (through the configuration's environment layer)."""
    path = tmp_path / "anchors" / "chain.jsonl"
    environ = {"ECAP_AUDIT__ANCHOR_SINK": "file", "ECAP_AUDIT__ANCHOR_FILE": str(path)}
    use_config_store([DefaultsLayer(), EnvLayer(environ), OverrideLayer()])
    return path


def test_anchor_write_appends_the_chain_head_to_the_file_and_anchors_read_returns_it(anchor_file: Path) -> None:
    assert anchor_write() is None  # nothing to anchor yet
    assert not anchor_file.exists()

    sealed_chain(3)
    anchor = anchor_write()
    assert anchor is not None
    assert (anchor.seq, anchor.hash, anchor.sink, anchor.location) == (3, hash_of(3), "file", str(anchor_file))
    lines = anchor_file.read_text().splitlines()
    assert len(lines) == 1
    written = json.loads(lines[0])
    assert (written["seq"], written["hash"], written["environment"]) == (3, hash_of(3), "test")

    record(2, first=4)  # pending: anchoring seals them first
    out = StringIO()
    call_command("audit_anchor", stdout=out)
    assert out.getvalue().strip() == f"anchored #5 at {anchor_file}"

    anchors = anchors_read()
    assert [(a["seq"], a["hash"]) for a in anchors] == [(3, hash_of(3)), (5, hash_of(5))]
    assert anchors[0] == written
    report = verify_chain(anchors=anchors)
    assert report.ok
    assert report.anchors_checked == 2
    assert AuditAnchor.objects.count() == 2


def test_a_cut_off_tail_is_caught_by_the_file_anchor_and_only_by_it(anchor_file: Path) -> None:
    sealed_chain(6)
    anchor_write()
    with guard_off() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > 4")
    rewind_head(4)

    assert verify_chain().ok  # what is left is a perfect chain
    report = verify_chain(anchors=anchors_read())
    assert not report.ok
    assert report.first_bad_seq == 5
    assert report.reason == "anchor #6 is past the last event #4: the tail was cut off"

    out = StringIO()
    with pytest.raises(SystemExit, match=r"^1$"):
        call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith("chain BROKEN at #5: anchor #6 is past the last event #4: the tail was cut off")

    # Growing the chain back to the anchored length does not hide it either.
    record(2, first=100)
    audit_seal_pending()
    report = verify_chain(anchors=anchors_read())
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert "history rewritten" in report.reason


def test_rewritten_history_is_caught_by_the_file_anchor(anchor_file: Path) -> None:
    sealed_chain(5)
    anchor_write()
    rewrite_history(2)

    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == ["update"] + ["delete"] * 4
    assert verify_chain().ok  # consistent in itself: every hash recomputed
    report = verify_chain(anchors=anchors_read())
    assert not report.ok
    assert report.first_bad_seq == 5
    assert report.reason == "anchor #5 hash differs from the chain (history rewritten)"


def test_rewriting_the_anchored_events_hash_is_reported_as_history_rewritten(anchor_file: Path) -> None:
    sealed_chain(4)
    anchor_write()
    with guard_off() as cursor:
        cursor.execute("UPDATE audit_auditevent SET hash = %s WHERE seq = 4", [FORGED_HASH])

    report = verify_chain(anchors=anchors_read())
    assert not report.ok
    assert report.first_bad_seq == 4
    assert report.problems[0].startswith("#4: hash mismatch")
    assert report.problems[1:] == ["#4: anchor #4 hash differs from the chain (history rewritten)"]


# --- anchors: S3 with Object Lock -------------------------------------------------------------------------------


@pytest.fixture
def s3_anchors(use_config_store: Callable[[list], Any], locked_bucket: LockedBucket) -> LockedBucket:  # noqa: F811
    """Anchors go to an Object Lock bucket on moto's server, kept for 3 days."""
    environ = {
        "ECAP_AUDIT__ANCHOR_SINK": "s3",
        "ECAP_AUDIT__ANCHOR_S3_BUCKET": locked_bucket.name,
        "ECAP_AUDIT__ANCHOR_RETENTION_DAYS": "3",
        "ECAP_AWS__ENDPOINT_URL": locked_bucket.endpoint,
        "ECAP_AWS__REGION": REGION,
    }
    use_config_store([DefaultsLayer(), EnvLayer(environ), OverrideLayer()])
    return locked_bucket


def s3_key(anchor: AuditAnchor, bucket: LockedBucket) -> str:
    prefix = f"s3://{bucket.name}/"
    assert anchor.location.startswith(prefix)
    return anchor.location.removeprefix(prefix)


def test_s3_anchor_is_locked_in_compliance_mode_for_the_retention_and_read_back(s3_anchors: LockedBucket) -> None:
    client, bucket = s3_anchors.client, s3_anchors.name
    sealed_chain(3)
    before = timezone.now()
    anchor = anchor_write()
    after = timezone.now()
    assert anchor is not None
    assert anchor.sink == "s3"
    key = s3_key(anchor, s3_anchors)
    assert re.fullmatch(r"audit-anchors/\d{4}/\d{2}/\d{2}/000000000003\.json", key)

    # moto answers GetObjectRetention with a 500; HeadObject carries the same lock mode and date.
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    retain_until = head["ObjectLockRetainUntilDate"]
    assert before + timedelta(days=3, seconds=-2) <= retain_until <= after + timedelta(days=3, seconds=2)

    anchors = anchors_read()
    assert [(a["seq"], a["hash"], a["environment"]) for a in anchors] == [(3, hash_of(3), "test")]
    assert verify_chain(anchors=anchors).anchors_checked == 1

    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    kept = client.get_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    assert json.loads(kept["Body"].read())["hash"] == hash_of(3)


def test_a_cut_off_tail_is_caught_by_the_s3_anchors(s3_anchors: LockedBucket) -> None:
    sealed_chain(3)
    anchor_write()
    record(3, first=4)
    anchor_write()
    assert [a["seq"] for a in anchors_read()] == [3, 6]

    with guard_off() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > 3")
    rewind_head(3)

    assert verify_chain().ok
    report = verify_chain(anchors=anchors_read())
    assert not report.ok
    assert report.first_bad_seq == 4
    assert report.reason == "anchor #6 is past the last event #3: the tail was cut off"
    assert report.anchors_checked == 1  # anchor #3 still matches

    out = StringIO()
    with pytest.raises(SystemExit, match=r"^1$"):
        call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith("chain BROKEN at #4: anchor #6 is past the last event #3")


def test_an_s3_anchor_hidden_behind_a_delete_marker_is_still_read(s3_anchors: LockedBucket) -> None:
    sealed_chain(4)
    anchor = anchor_write()
    assert anchor is not None
    marker = s3_anchors.client.delete_object(Bucket=s3_anchors.name, Key=s3_key(anchor, s3_anchors))
    assert marker["DeleteMarker"] is True
    with guard_off() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > 2")
    rewind_head(2)

    report = verify_chain(anchors=anchors_read())
    assert not report.ok
    assert "the tail was cut off" in report.reason


# --- retention --------------------------------------------------------------------------------------------------


def test_purge_deletes_only_old_events_behind_a_checkpoint_and_the_rest_still_verifies() -> None:
    record(3, occurred_at=timezone.now() - timedelta(days=10))
    record(2, first=4)
    assert audit_seal_pending() == 5
    last_old_hash = hash_of(3)

    out = StringIO()
    call_command("audit_purge", "--days", "5", stdout=out)
    assert out.getvalue().strip() == "deleted 3 event(s); checkpoint #3"

    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.seq, checkpoint.hash) == (3, last_old_hash)
    assert checkpoint.reason.startswith("retention purge of events before ")
    assert audit_seal_pending() == 1  # the purge's own event
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "target_id")) == [
        (4, "ds-4"),
        (5, "ds-5"),
        (6, ""),
    ]
    purge = AuditEvent.objects.get(seq=6)
    assert (purge.action, purge.target_type) == (AuditAction.PURGE, "audit.auditevent")
    assert (purge.details["deleted"], purge.details["checkpoint_seq"]) == (3, 3)
    assert AuditEvent.objects.get(seq=4).prev_hash == checkpoint.hash

    report = verify_chain()
    assert report.ok
    assert (report.first_seq, report.last_seq, report.checked) == (4, 6, 3)
    out = StringIO()
    call_command("audit_verify", "--no-anchors", stdout=out)
    assert out.getvalue().startswith("chain intact: events #4..#6 (3 checked)")


def test_purge_of_a_broken_chain_is_refused_and_deletes_nothing() -> None:
    record(4, occurred_at=timezone.now() - timedelta(days=10))
    record(1, first=5)
    audit_seal_pending()
    with guard_off() as cursor:
        cursor.execute("UPDATE audit_auditevent SET target_id = 'ds-other' WHERE seq = 2")

    with pytest.raises(CommandError, match=r"^nothing purged: chain BROKEN at #2: hash mismatch"):
        call_command("audit_purge", "--days", "5", stdout=StringIO())
    assert AuditEvent.objects.count() == 5
    assert not AuditCheckpoint.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.PURGE).exists()


def test_only_events_covered_by_a_checkpoint_can_be_deleted_even_in_purge_mode() -> None:
    first, _, third, _ = sealed_chain(4)
    with pytest.raises(ProgrammingError, match=f"append-only: DELETE of event {first.id} refused"):
        delete_in_purge_mode(1)  # no checkpoint at all

    AuditCheckpoint.objects.create(seq=2, hash=hash_of(2), reason="test")
    with pytest.raises(ProgrammingError, match=f"append-only: DELETE of event {third.id} refused"):
        delete_in_purge_mode(3)
    with (
        pytest.raises(ProgrammingError, match=f"append-only: DELETE of event {first.id} refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 1")  # covered, but not in purge mode

    delete_in_purge_mode(1)
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [2, 3, 4]


# --- ranges -----------------------------------------------------------------------------------------------------


def test_verify_chain_checks_exactly_the_requested_range_of_a_long_chain() -> None:
    record(120)
    assert audit_seal_pending(limit=50) == 120  # three sealing batches, linked across their edges
    assert AuditChainHead.objects.get(pk=1).seq == 120

    def bounds(**kwargs: int) -> tuple[bool, int | None, int | None, int]:
        report = verify_chain(**kwargs)
        return report.ok, report.first_seq, report.last_seq, report.checked

    assert bounds() == (True, 1, 120, 120)
    assert bounds(from_seq=10, to_seq=50) == (True, 10, 50, 41)
    assert bounds(from_seq=101) == (True, 101, 120, 20)
    assert bounds(to_seq=30) == (True, 1, 30, 30)
    assert bounds(from_seq=90, to_seq=500) == (True, 90, 120, 31)
    assert bounds(from_seq=51, to_seq=51) == (True, 51, 51, 1)

    with guard_off() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'export' WHERE seq = 60")
    assert bounds(to_seq=59) == (True, 1, 59, 59)
    assert bounds(from_seq=61) == (True, 61, 120, 60)
    broken = verify_chain(from_seq=50, to_seq=70)
    assert (broken.ok, broken.first_bad_seq, broken.checked) == (False, 60, 21)
    assert verify_chain().first_bad_seq == 60


def test_verify_chain_of_a_range_past_the_head_checks_nothing() -> None:
    sealed_chain(5)
    report = verify_chain(from_seq=9)
    assert report.checked == 0


def test_a_checkpoint_past_the_chain_does_not_pass_verification() -> None:
    sealed_chain(5)
    with guard_off() as cursor:
        modify_column(cursor)  # event #3
    with guard_off():  # the database refuses a checkpoint naming no event; a superuser could still forge one
        AuditCheckpoint.objects.create(seq=1_000_000, hash="0" * 64, reason="forged")

    report = verify_chain()
    assert not report.ok
    assert report.first_bad_seq == 3 or "checkpoint #1000000 does not match" in " ".join(report.problems)


# --- concurrency ------------------------------------------------------------------------------------------------


def test_concurrent_writers_and_sealers_extend_one_unbroken_chain(transactional_db: None) -> None:
    writers, per_writer = 4, 15
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(number: int) -> None:
        try:
            start.wait(timeout=10)
            for n in range(per_writer):
                with transaction.atomic():  # on commit, seals without waiting when nobody else is
                    record(1, first=number * 100 + n)
                audit_seal_pending()  # and waiting for the chain head when somebody is
        except BaseException as exc:  # re-raised below through the assertion
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    total = writers * per_writer
    assert not AuditEvent.objects.filter(hash__isnull=True).exists()
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, total + 1))
    assert AuditChainHead.objects.get(pk=1).seq == total
    report = verify_chain()
    assert (report.ok, report.checked) == (True, total)
