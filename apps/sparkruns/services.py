"""Submitting, polling, cancelling and re-submitting Spark runs. The public surface for other apps.

A run is a row first (``spark_run_request``), submitted by a Celery task on the ``spark`` queue
(``spark_run_submit``), and followed by the ``spark.poll_runs`` beat task (``spark_runs_poll``). Submitting is
idempotent: the row moves QUEUED → SUBMITTING under a row lock before the backend is called, and a run found in
SUBMITTING (its worker died mid-submission) is looked up by its run id on the backend before anything is submitted
again. A failed run raises an alert through ``alert_raise``; the next success of the same job resolves it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.configuration.services import config_get
from apps.sparkruns.choices import ACTIVE_STATES, FINAL_STATES, Backend, Job, RunState
from apps.sparkruns.models import SparkRun

logger = structlog.get_logger(__name__)

MAX_ARGS = 64
MAX_ARG_LENGTH = 1000
MAX_SUBMIT_ATTEMPTS = 5
TRANSIENT: tuple[type[Exception], ...] = (ConnectionError, TimeoutError)
LAKE_REWRITERS = (Job.DSR_ERASE, Job.RETENTION)  # jobs replacing lake files in place: one at a time


class SparkRunInvalid(DomainError):
    """The run request names an unknown job or backend, or carries unsafe arguments."""

    code = "invalid_run"


def work_dir() -> Path:
    """Where local runs keep their logs, status and lineage files."""
    configured = str(config_get("spark.work_dir") or "")
    return Path(configured) if configured else settings.VAR_DIR / "spark-runs"


def submit_grace() -> timedelta:
    """How long a run may stay SUBMITTING before its worker is taken for lost (``spark.submit_grace_seconds``)."""
    return timedelta(seconds=int(config_get("spark.submit_grace_seconds")))


def backend_get(name: str) -> Any:
    """The submission backend ``name`` configured from the portal's configuration."""
    from spark.submit import backend_for

    if name == Backend.LOCAL:
        return backend_for("local", base_dir=str(work_dir()))
    return backend_for(
        "emr",
        bucket=config_get("spark.emr_bucket"),
        prefix=config_get("spark.emr_prefix"),
        cluster_id=config_get("spark.emr_cluster_id") or None,
        region=config_get("spark.emr_region"),
        endpoint_url=config_get("spark.emr_endpoint_url") or None,
        release_label=config_get("spark.emr_release_label"),
        service_role=config_get("spark.emr_service_role"),
        job_flow_role=config_get("spark.emr_job_flow_role"),
    )


def _check_args(args: Any) -> list[str]:
    if not isinstance(args, list) or len(args) > MAX_ARGS:
        raise SparkRunInvalid("Arguments must be a list of at most 64 strings.", fields={"args": ["not a list"]})
    for index, arg in enumerate(args):
        if not isinstance(arg, str) or len(arg) > MAX_ARG_LENGTH or any(c in arg for c in "\x00\n\r"):
            raise SparkRunInvalid("An argument is not a plain string.", fields={f"args.{index}": ["not allowed"]})
        if arg in ("--lake", "--run-id", "--lineage-file", "--lineage-url", "--summary") or arg.startswith(
            ("--lake=", "--run-id=", "--lineage-", "--summary=")
        ):
            raise SparkRunInvalid("The portal sets this argument itself.", fields={f"args.{index}": ["reserved"]})
    return list(args)


def spark_run_request(
    *,
    job: str,
    args: list[str] | None = None,
    backend: str | None = None,
    requested_by: User | None = None,
    idempotency_key: str | None = None,
    timeout_seconds: int | None = None,
    submit: bool = True,
    after: SparkRun | None = None,
) -> SparkRun:
    """Record a run and (after commit) queue its submission; the same idempotency key returns the same run."""
    if job not in Job.values:
        raise SparkRunInvalid(f"Unknown job {job!r}.", fields={"job": [f"one of {', '.join(Job.values)}"]})
    chosen = backend or str(config_get("spark.submit_backend"))
    if chosen not in Backend.values:
        raise SparkRunInvalid(f"Unknown backend {chosen!r}.", fields={"backend": ["local or emr"]})
    checked = _check_args(args or [])
    if idempotency_key:
        existing = SparkRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    with transaction.atomic():
        run = SparkRun.objects.create(
            job=job,
            args=checked,
            lake_root=str(config_get("lake.root")),
            backend=chosen,
            requested_by=requested_by,
            idempotency_key=idempotency_key,
            timeout_seconds=timeout_seconds or int(config_get("spark.timeout_seconds")),
            depends_on=after,
        )
        if submit and after is None:
            transaction.on_commit(lambda: _enqueue_submit(run.pk))
    return run


def _enqueue_submit(run_pk: int) -> None:
    from apps.sparkruns.tasks import submit_run

    try:
        submit_run.apply_async(args=[run_pk], retry=False)
    except Exception as exc:  # the run is stored QUEUED; the poller submits it
        logger.warning("spark_enqueue_failed", run=run_pk, error=type(exc).__name__)


def lineage_file(run: SparkRun) -> Path:
    """The OpenLineage JSON-lines file of a local run."""
    return work_dir() / "lineage" / f"{run.run_id}.jsonl"


def job_arguments(run: SparkRun) -> list[str]:
    """The full argument list: lake root, run id, lineage transport, then the job's own arguments."""
    args = ["--lake", run.lake_root, "--run-id", str(run.run_id)]
    if run.backend == Backend.LOCAL:
        path = lineage_file(run)
        path.parent.mkdir(parents=True, exist_ok=True)
        args += ["--lineage-file", str(path)]
    return args + list(run.args)


def spark_run_submit(*, run_pk: int) -> SparkRun | None:
    """Submit a QUEUED run to its backend (idempotent: a run already submitted is left alone)."""
    with transaction.atomic():
        run = SparkRun.objects.select_for_update().filter(pk=run_pk).first()
        if run is None or run.state not in (RunState.QUEUED, RunState.SUBMITTING):
            return run
        if run.depends_on_id is not None and not _dependency_met(run):
            return run
        if run.backend == Backend.LOCAL and run.state == RunState.QUEUED and not _local_slot_free(run):
            return run  # the poller submits it when a local slot frees up
        if run.job in LAKE_REWRITERS and run.state == RunState.QUEUED and not _rewriter_free(run):
            return run  # the poller submits it when the running rewriter ends
        lost_submission = run.state == RunState.SUBMITTING
        if lost_submission and run.submitted_at and timezone.now() - run.submitted_at < submit_grace():
            return run  # another worker is submitting it right now
        run.state, run.attempts, run.submitted_at = RunState.SUBMITTING, run.attempts + 1, timezone.now()
        run.save(update_fields=["state", "attempts", "submitted_at"])
    try:
        submission = _submit_to_backend(run, lost_submission)
    except TRANSIENT as exc:
        if run.attempts < MAX_SUBMIT_ATTEMPTS:
            SparkRun.objects.filter(pk=run.pk).update(state=RunState.QUEUED, error=f"retrying: {exc}"[:1000])
            raise  # the task retries with backoff; the poller re-queues it if the task is lost
        return _finish(run, RunState.FAILED, error=f"submission failed {run.attempts} times: {exc}"[:2000])
    except Exception as exc:
        return _finish(run, RunState.FAILED, error=f"submission failed: {type(exc).__name__}: {str(exc)[:1000]}")
    return _submitted(run, submission)


def _submit_to_backend(run: SparkRun, lost_submission: bool) -> Any:
    """Submit, or find the submission a worker that died mid-way already made (looked up by run id)."""
    from spark.submit import JobSpec

    backend = backend_get(run.backend)
    if lost_submission:
        found = backend.find(str(run.run_id))
        if found is not None:
            return found
    spec = JobSpec(
        job=run.job,
        args=job_arguments(run),
        run_id=str(run.run_id),
        timeout_seconds=run.timeout_seconds,
        env={**job_environment(run), **trace_environment()},
    )
    return backend.submit(spec)


def job_environment(run: SparkRun) -> dict[str, str]:
    """The environment other apps give a run's job (``spark_run_environment`` receivers): keys it must not see in
    its arguments. Values are never logged; a failing receiver fails the submission rather than run without them."""
    from apps.sparkruns.signals import spark_run_environment

    env: dict[str, str] = {}
    for _receiver, result in spark_run_environment.send(sender=SparkRun, run=run):
        if isinstance(result, dict):
            env.update(result)
    return env


def trace_environment() -> dict[str, str]:
    """``TRACEPARENT`` (W3C) of the active span, for the job to put in its OpenLineage run facets; empty outside a
    trace. An environment variable rather than an argument: it stays out of the run's stored arguments and of the
    job's command line, and reaches an EMR driver too (``spark.yarn.appMasterEnv``, cluster deploy mode)."""
    from apps.common.tracing import TRACEPARENT_ENV, current_traceparent

    traceparent = current_traceparent()
    return {TRACEPARENT_ENV: traceparent} if traceparent else {}


def _dependency_met(run: SparkRun) -> bool:
    """True when the run it waits for succeeded; a failed dependency cancels this run."""
    dependency = SparkRun.objects.get(dependents=run)
    if dependency.state == RunState.SUCCEEDED:
        return True
    if dependency.state in FINAL_STATES:
        SparkRun.objects.filter(pk=run.pk).update(
            state=RunState.CANCELLED,
            finished_at=timezone.now(),
            error=f"not run: {dependency.job} run {dependency.run_id} {dependency.state}",
        )
    return False


def _rewriter_free(run: SparkRun) -> bool:
    """Jobs that rewrite lake files in place (``LAKE_REWRITERS``) run one at a time: two erasures or an erasure and a
    retention run rewriting the same file at once would each replace it from the old version, undoing the other's
    work, and each clears the other's staging files as leftovers. Checked under a lock, like local slots."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('sparkruns.lake_rewriters'))")
    return (
        not SparkRun.objects.filter(
            job__in=LAKE_REWRITERS, state__in=[RunState.SUBMITTING, RunState.PENDING, RunState.RUNNING]
        )
        .exclude(pk=run.pk)
        .exists()
    )


def _local_slot_free(run: SparkRun) -> bool:
    """Local runs share this machine: at most ``spark.local_max_concurrent`` at a time (checked under a lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('sparkruns.local_slots'))")
    busy = (
        SparkRun.objects.filter(
            backend=Backend.LOCAL, state__in=[RunState.SUBMITTING, RunState.PENDING, RunState.RUNNING]
        )
        .exclude(pk=run.pk)
        .count()
    )
    return busy < int(config_get("spark.local_max_concurrent"))


def _submitted(run: SparkRun, submission: Any) -> SparkRun:
    SparkRun.objects.filter(pk=run.pk).update(
        state=RunState.PENDING,
        handle=submission.handle,
        log_location=submission.log_location,
        submitted_at=timezone.now(),
    )
    run.refresh_from_db()
    logger.info("spark_run_submitted", job=run.job, run_id=str(run.run_id), backend=run.backend)
    return run


def spark_run_poll(*, run: SparkRun) -> SparkRun:
    """Ask the backend about one submitted run and record what changed."""
    if run.state not in (RunState.PENDING, RunState.RUNNING) or not run.handle:
        return run
    backend = backend_get(run.backend)
    status = backend.poll(run.handle)
    state = {
        "PENDING": RunState.PENDING,
        "RUNNING": RunState.RUNNING,
        "SUCCEEDED": RunState.SUCCEEDED,
        "FAILED": RunState.FAILED,
        "CANCELLED": RunState.CANCELLED,
        "TIMED_OUT": RunState.TIMED_OUT,
    }[status.state]
    if state in (RunState.PENDING, RunState.RUNNING):
        if run.submitted_at and timezone.now() - run.submitted_at > timedelta(seconds=run.timeout_seconds):
            backend.cancel(run.handle)
            return _finish(run, RunState.TIMED_OUT, error=f"exceeded {run.timeout_seconds} s; cancelled")
        changes: dict[str, Any] = {"state": state}
        if state == RunState.RUNNING and run.started_at is None:
            changes["started_at"] = status.started_at or timezone.now()
        SparkRun.objects.filter(pk=run.pk, state__in=[RunState.PENDING, RunState.RUNNING]).update(**changes)
        run.refresh_from_db()
        return run
    return _finish(
        run,
        state,
        error=status.error or "",
        summary=status.summary,
        started_at=status.started_at,
        finished_at=status.finished_at,
        log_location=status.log_location,
    )


def _finish(run: SparkRun, state: str, *, error: str = "", summary: Any = None, **times: Any) -> SparkRun:
    with transaction.atomic():
        locked = SparkRun.objects.select_for_update().get(pk=run.pk)
        if locked.state in FINAL_STATES:
            return locked
        locked.state, locked.error, locked.summary = state, error[-4000:], summary
        locked.finished_at = times.get("finished_at") or timezone.now()
        locked.started_at = locked.started_at or times.get("started_at") or locked.submitted_at
        if times.get("log_location"):
            locked.log_location = times["log_location"]
        locked.save()
        transaction.on_commit(lambda: _after_finish(locked.pk))
    return locked


def _after_finish(run_pk: int) -> None:
    from apps.sparkruns.signals import spark_run_finished

    run = SparkRun.objects.get(pk=run_pk)
    ingested = lineage_ingest(run)
    if ingested:
        SparkRun.objects.filter(pk=run.pk).update(lineage_events=ingested)
    _alert(run)
    # Other apps consume finished runs (the catalog reads profile and PII-scan summaries); one failing receiver
    # must neither undo the run's end nor keep the others from hearing of it.
    for receiver, result in spark_run_finished.send_robust(sender=SparkRun, run=run):
        if isinstance(result, Exception):
            logger.error("spark_run_finished_receiver_failed", receiver=repr(receiver)[:200], error=repr(result)[:500])


def lineage_ingest(run: SparkRun) -> int:
    """Hand a local run's OpenLineage events to the lineage app; returns how many the file held."""
    from apps.lineage.services import lineage_ingest_events

    path = lineage_file(run)
    if run.backend != Backend.LOCAL or not path.exists():
        return 0
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lineage_ingest_events(events=events)
    return len(events)


def _alert(run: SparkRun) -> None:
    from apps.incidents.services import alert_raise

    dedup = f"spark:{run.job}"
    if run.state == RunState.SUCCEEDED:
        alert_raise(
            source="spark",
            name="SparkJobFailed",
            summary=f"Spark job {run.job} succeeded again",
            dedup_key=dedup,
            status="resolved",
        )
        return
    if run.state in (RunState.FAILED, RunState.TIMED_OUT):
        alert_raise(
            source="spark",
            name="SparkJobFailed",
            summary=f"Spark job {run.job} {run.get_state_display().lower()} on {run.backend}",
            severity="error",
            dedup_key=dedup,
            labels={"job": run.job, "backend": run.backend, "service": "spark", "spark_run_id": str(run.public_id)},
            details={"run": str(run.public_id), "error": run.error[-1000:], "log": run.log_location},
        )


def spark_runs_poll() -> int:
    """The beat task: poll submitted runs, submit queued ones (waiting for a slot, a dependency, or whose task was
    lost) and ones whose submission a dead worker left half-done; returns how many runs were polled."""
    polled = 0
    for run in SparkRun.objects.filter(state__in=[RunState.PENDING, RunState.RUNNING]).order_by("pk"):
        try:
            spark_run_poll(run=run)
        except Exception:  # one unreachable backend must not stop polling the others
            logger.exception("spark_poll_failed", run=str(run.run_id))
        polled += 1
    queued = SparkRun.objects.filter(state=RunState.QUEUED).order_by("pk").values_list("pk", flat=True)[:20]
    lost = SparkRun.objects.filter(state=RunState.SUBMITTING, submitted_at__lt=timezone.now() - submit_grace())
    for run_pk in [*queued, *lost.values_list("pk", flat=True)]:
        try:
            spark_run_submit(run_pk=run_pk)
        except Exception:  # a backend that is down must not stop the poller; the run stays queued
            logger.exception("spark_submit_from_poller_failed", run=run_pk)
    return polled


def spark_run_cancel(*, run: SparkRun, actor: User | None = None) -> SparkRun:
    """Cancel a run that has not finished."""
    if run.state in FINAL_STATES:
        raise Conflict(f"The run already {run.state}.", code="run_finished")
    if run.handle:
        backend_get(run.backend).cancel(run.handle)
    who = actor.get_username() if actor is not None else "system"
    return _finish(run, RunState.CANCELLED, error=f"cancelled by {who}")


def spark_run_resubmit(*, run: SparkRun, requested_by: User | None = None) -> SparkRun:
    """A new run of the same job and arguments; re-submitting the same run twice gives the same new run."""
    if run.state in ACTIVE_STATES:
        raise Conflict("The run has not finished.", code="run_active")
    new = spark_run_request(
        job=run.job,
        args=list(run.args),
        backend=run.backend,
        requested_by=requested_by,
        idempotency_key=f"resubmit:{run.public_id}",
        timeout_seconds=run.timeout_seconds,
    )
    if new.resubmit_of_id is None:
        SparkRun.objects.filter(pk=new.pk).update(resubmit_of=run)
    return new
