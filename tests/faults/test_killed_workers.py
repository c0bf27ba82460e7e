"""Processes SIGKILLed in the middle of their work, on the test PostgreSQL and Redis, lose nothing and do nothing twice:

- a worker killed while submitting a Spark run, after the run's supervisor started but before the submission was
  recorded: the poller of a second worker finds the submission by its run id once ``spark.submit_grace_seconds``
  has passed, so the run is submitted once, recorded once and succeeds;
- the key rotation killed in the middle of a batch (its values re-encrypted, its progress not yet saved): the batch is
  rolled back, and running the rotation again re-encrypts every secret exactly once under the new key, all of them
  still decrypting to what they were;
- a worker killed while recording a finished erasure (signing its certificate): the ``privacy.sweep_runs`` sweep of a
  second worker records it, and late deliveries of the killed task add nothing: one certificate, one success event,
  one audit record, the run succeeded once.

Each kill is placed deterministically: the test holds a lock (a row lock, an uncommitted conflicting row, or the
local backend's submission lock) from another connection, waits until the worker waits for it, and kills it there.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from django.utils import timezone

from apps.common.testing import wait_until
from apps.configuration.crypto import keyring_keys
from apps.configuration.models import Credential, KeyRotation
from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request, work_dir
from tests.conftest import ROOT
from tests.faults.killing import (
    Hold,
    Workers,
    end_sessions_waiting_for_a_lock,
    held_in_transaction,
    kill,
    sessions_waiting_for_a_lock,
    worker_env,
    workers,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


# --- Spark run submission -----------------------------------------------------------------------------------------


def _final(run: SparkRun) -> bool:
    run.refresh_from_db()
    return run.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT)


def test_a_worker_killed_mid_submission_leaves_one_run_that_the_poller_records_and_completes(
    configured_lake: str,
    workers: Workers,  # noqa: F811
) -> None:
    from apps.sparkruns.tasks import poll_runs, submit_run
    from spark.submit import supervise

    # The lightest job there is: a scan of an empty lake (Spark starts, finds nothing, succeeds).
    run = spark_run_request(job="pii_scan", args=["--no-report"], backend="local", submit=False)
    base = work_dir().resolve()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    workdir = base / str(run.run_id)
    first = workers.start("submitter")

    # The local backend takes this lock before it starts anything: holding it stops the worker right after it has
    # claimed the run (SUBMITTING, committed), so the run's row can be locked before the submission is recorded.
    submission_lock = os.open(base, os.O_RDONLY)
    try:
        fcntl.flock(submission_lock, fcntl.LOCK_EX)
        submit_run.delay(run.pk)
        wait_until(lambda: SparkRun.objects.get(pk=run.pk).state == RunState.SUBMITTING, timeout=30)
        with held_in_transaction(lambda: SparkRun.objects.select_for_update().get(pk=run.pk)):
            fcntl.flock(submission_lock, fcntl.LOCK_UN)
            # The supervisor runs the job; recording the submission waits for the row: the worker dies there.
            wait_until(lambda: sessions_waiting_for_a_lock("sparkruns_sparkrun") == 1, timeout=45)
            assert (workdir / supervise.SUPERVISOR_PID).exists()
            kill(first)
            assert end_sessions_waiting_for_a_lock() == 1
    finally:
        os.close(submission_lock)
    lost = SparkRun.objects.get(pk=run.pk)
    assert (lost.state, lost.handle, lost.attempts) == (RunState.SUBMITTING, "", 1)
    spec = (workdir / "spec.json").read_text()

    # A second worker whose poller takes a run SUBMITTING for over a second for lost: it finds the submission by the
    # run id instead of starting the job again, then follows the run to its end.
    workers.start("poller", {"ECAP_SPARK__SUBMIT_GRACE_SECONDS": "1"})
    time.sleep(1.1)  # the grace, as configured for the poller, has passed
    deadline = time.monotonic() + 50
    while not _final(run):
        assert time.monotonic() < deadline, f"run still {run.state}"
        poll_runs.apply_async(ignore_result=False).get(timeout=30)
        time.sleep(1)
    assert run.state == RunState.SUCCEEDED, run.error
    assert run.attempts == 2
    assert run.handle == str(workdir)
    assert run.summary
    assert run.summary["run_id"] == str(run.run_id)
    assert (workdir / "spec.json").read_text() == spec  # submitted once: the job's work directory was not claimed again
    assert [p.name for p in base.iterdir() if (p / supervise.SUPERVISOR_PID).exists()] == [str(run.run_id)]
    assert json.loads((workdir / supervise.EXIT).read_text())["exit_code"] == 0

    # The killed worker's task, delivered again late, finds the run submitted and does nothing.
    submit_run.apply_async(args=[run.pk], ignore_result=False).get(timeout=30)
    assert SparkRun.objects.count() == 1
    assert SparkRun.objects.get(pk=run.pk).attempts == 2


# --- key rotation -------------------------------------------------------------------------------------------------

ROWS, BATCH = 200, 50


def _raw_secrets() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, secret, secret_extra FROM configuration_credential ORDER BY id")
        return list(cursor.fetchall())


def _under(key: str) -> Callable[[str], bytes | None]:
    fernet = Fernet(key.encode())

    def decrypt(raw: str) -> bytes | None:
        try:
            return fernet.decrypt(raw.encode())
        except InvalidToken:
            return None

    return decrypt


def _rotate(keys: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "rotate_encryption_key", "--reencrypt-only", "--batch-size", str(BATCH)]
    env = worker_env({"ECAP_SECRETS__FERNET_KEYS": keys})
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_rotation_killed_mid_batch_re_encrypts_every_secret_exactly_once_when_run_again() -> None:
    Credential.objects.bulk_create(
        Credential(name=f"cred-{i:04d}", kind="api_token", secret=f"token-{i}", secret_extra={"i": i})
        for i in range(ROWS)
    )
    old, new = keyring_keys()[0], Fernet.generate_key().decode()
    ids = list(Credential.objects.order_by("pk").values_list("pk", flat=True))
    in_third_batch = ids[2 * BATCH + BATCH // 2]

    # A row of the third batch is locked: the rotation commits two batches, then waits in the third. The rotation's
    # progress row is then locked too and the first lock released: the third batch re-encrypts its rows and waits to
    # save its progress, in the same transaction. The rotation is killed there.
    row_lock = Hold(lambda: Credential.objects.select_for_update().get(pk=in_third_batch))
    rotation = _rotate(f"{new},{old}")
    progress_lock: Hold | None = None
    try:
        wait_until(lambda: sessions_waiting_for_a_lock("configuration_credential") == 1, timeout=30)
        progress = KeyRotation.objects.get(finished_at__isnull=True)
        assert progress.progress["configuration.credential.secret"]["last_pk"] == ids[2 * BATCH - 1]
        progress_lock = Hold(lambda: KeyRotation.objects.select_for_update().get(pk=progress.pk))
        row_lock.release()
        wait_until(lambda: sessions_waiting_for_a_lock("configuration_keyrotation") == 1, timeout=30)
        kill(rotation)
        assert end_sessions_waiting_for_a_lock() == 1
    finally:
        if rotation.poll() is None:
            kill(rotation)
        row_lock.release()
        if progress_lock is not None:
            progress_lock.release()

    decrypt_new = _under(new)
    assert sum(decrypt_new(secret) is not None for _, secret, _ in _raw_secrets()) == 2 * BATCH  # batch 3 undone
    progress.refresh_from_db()
    assert progress.finished_at is None
    assert progress.progress["configuration.credential.secret"]["rotated"] == 2 * BATCH

    again = _rotate(f"{new},{old}")
    output, _ = again.communicate(timeout=50)
    assert again.returncode == 0, output.decode()[-2000:]
    progress.refresh_from_db()
    assert progress.finished_at is not None
    for label in ("configuration.credential.secret", "configuration.credential.secret_extra"):
        state = progress.progress[label]
        # Re-encrypted once each: none was left under the new key by the killed batch to be skipped as current.
        assert (state["rotated"], state["skipped"], state["done"]) == (ROWS, 0, True), label
    assert KeyRotation.objects.count() == 1
    rows = _raw_secrets()
    decrypt_old = _under(old)
    assert len(rows) == ROWS
    for position, (name, secret, extra) in enumerate(rows):
        assert name == f"cred-{position:04d}"
        assert decrypt_new(secret) == f"token-{position}".encode()
        assert json.loads(decrypt_new(extra) or b"null") == {"i": position}
        assert decrypt_old(secret) is None
        assert decrypt_old(extra) is None


# --- recording an erasure -----------------------------------------------------------------------------------------


@pytest.fixture
def erasure_run(make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """An erasure request's run whose Spark job has succeeded and verified the subject gone, not yet recorded."""
    from apps.configuration.services import get_store
    from apps.privacy.choices import RequestStatus
    from apps.privacy.execution import request_run_start
    from apps.privacy.planning import plan_approve, plan_build
    from apps.privacy.requests import request_create, request_transition
    from apps.privacy.services import subject_identity_add
    from tests.catalog.factories import LAKE, DatasetFactory, FieldFactory

    monkeypatch.setenv("ECAP_LAKE__ROOT", LAKE)
    monkeypatch.setenv("ECAP_SPARK__WORK_DIR", str(tmp_path / "runs"))
    get_store().invalidate()
    customers = DatasetFactory(name="raw/customers")
    FieldFactory(dataset=customers, name="customer_id", identity_kind="customer_id")
    FieldFactory(dataset=customers, name="email", identity_kind="email")
    request = request_create(kind="email", value="ana@example.com", request_type="gdpr.erasure", channel="web")
    subject_identity_add(subject=request.subject, kind="customer_id", value="c-42")
    for status in (RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED):
        request = request_transition(request=request, status=status, actor=None)
    plan_build(request=request, actor=None)
    plan_approve(request=request, actor=make_user(role="compliance_officer"))
    run = request_run_start(request=request, actor=None)
    subject = str(request.subject.public_id)
    summary = {
        "verified": True,
        "lake": LAKE,
        "datasets": {
            "raw/customers": {
                "action": "delete",
                "rows_matched": {subject: 1},
                "rows_deleted": 1,
                "files_rewritten": [{"file": "part-0.parquet", "rows": 1, "sha256_before": "a", "sha256_after": "b"}],
                "files_untouched": 2,
            }
        },
        "verification": {"raw/customers": {"raw_matches": 0, "hashed_matches": 0, "pending": 0, "verified": True}},
        "totals": {"files_rewritten": 1, "rows_deleted": 1},
    }
    assert run.spark_run is not None
    now = timezone.now()
    SparkRun.objects.filter(pk=run.spark_run.pk).update(
        state=RunState.SUCCEEDED, summary=summary, started_at=now, finished_at=now
    )
    run.refresh_from_db()
    return run


def test_a_worker_killed_while_recording_an_erasure_leaves_it_to_the_sweep_which_records_it_once(
    erasure_run: Any,
    workers: Workers,  # noqa: F811
) -> None:
    from apps.audit.models import AuditEvent
    from apps.privacy.certificates import certificate_verify
    from apps.privacy.choices import RunStatus
    from apps.privacy.models import ErasureCertificate, RequestEvent, RequestRun
    from apps.privacy.tasks import consume_run, sweep_runs

    run = erasure_run
    first = workers.start("recorder")

    def conflicting_certificate() -> None:
        ErasureCertificate.objects.create(
            request_id=run.request_id, run=run, number="CERT-HELD", issued_at=timezone.now(), document="{}",
            sha256="0" * 64, signature="", key_id="",
        )  # fmt: skip

    # An uncommitted certificate of the same run makes the worker's certificate INSERT wait: it dies mid-recording,
    # after marking the run succeeded and clearing its plan document in the same (never committed) transaction.
    with held_in_transaction(conflicting_certificate):
        consume_run.delay(run.spark_run_id)
        wait_until(lambda: sessions_waiting_for_a_lock("privacy_erasurecertificate") == 1, timeout=30)
        kill(first)
        assert end_sessions_waiting_for_a_lock() == 1
    killed = RequestRun.objects.get(pk=run.pk)
    assert killed.status == RunStatus.QUEUED
    assert killed.document  # the plan document is still there for the next attempt
    assert not ErasureCertificate.objects.exists()
    assert not RequestEvent.objects.filter(kind__in=["certificate", "run_succeeded"]).exists()

    workers.start("sweeper")
    assert sweep_runs.apply_async(ignore_result=False).get(timeout=30) >= 1
    for _ in range(2):  # the killed worker's task delivered late, twice
        consume_run.apply_async(args=[run.spark_run_id], ignore_result=False).get(timeout=30)
    assert sweep_runs.apply_async(ignore_result=False).get(timeout=30) == 0

    recorded = RequestRun.objects.get(pk=run.pk)
    assert recorded.status == RunStatus.SUCCEEDED
    assert recorded.document == ""
    assert recorded.finished_at is not None
    [certificate] = ErasureCertificate.objects.all()
    assert certificate.run_id == run.pk
    assert certificate_verify(certificate)
    [dataset] = json.loads(certificate.document)["datasets"]
    assert dataset["files_rewritten"][0]["path"] == "part-0.parquet"  # as the job's summary names the file
    events = list(RequestEvent.objects.filter(request_id=run.request_id).values_list("kind", flat=True))
    assert events.count("certificate") == 1
    assert events.count("run_succeeded") == 1
    assert events.count("run_failed") == 0
    certificates_audited = AuditEvent.objects.filter(target_type="privacy.erasurecertificate", action="create")
    assert certificates_audited.count() == 1
