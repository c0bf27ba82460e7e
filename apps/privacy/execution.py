"""Running a request's approved plan in Spark and recording what comes back.

A run (``request_run_start``) is a ``RequestRun`` row and a Spark run of ``dsr_export`` (access, portability, know),
``dsr_erase`` (erasure, delete) or ``dsr_erase`` with ``update`` rules (rectification, correct). The job needs the
subject's identity values (and a rectification's new values); Spark run arguments are stored and shown, so those
values never go there. The plan document is kept Fernet-encrypted on the ``RequestRun`` and written, when the run is
submitted and on the machine that submits it, to a private file (mode 0600 in a 0700 directory under the Spark work
directory) whose path alone is the job's ``--plan`` argument. The anonymisation key reaches the job in its process
environment. The file and the encrypted document are removed as soon as the run ends.

When the Spark run ends (``spark_run_finished`` → ``privacy.consume_run``, or the ``privacy.sweep_runs`` beat task if
that task was lost), ``request_run_consume`` records it once, under the run's row lock: an erasure or rectification
whose verification scan found nothing left gets its certificate (``apps.privacy.certificates``); an export's zip is
encrypted into the package store (``apps.privacy.packages``). Every step is on the request's timeline.

Privacy runs use the local Spark backend: on EMR the plan file would have to travel as an encrypted S3 object and the
key through the cluster's own configuration, which is not built yet, so such runs are refused with a clear error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.configuration.services import config_get
from apps.privacy.choices import RequestStatus, RunKind, RunStatus
from apps.privacy.models import DataSubjectRequest, RequestEvent, RequestPlan, RequestRun
from apps.privacy.planning import ERASE_RIGHTS, EXPORT_RIGHTS, UPDATE_RIGHTS
from apps.privacy.requests import request_transition
from apps.sparkruns.choices import FINAL_STATES, Backend, Job, RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request, work_dir

logger = structlog.get_logger(__name__)

HASH_KEY_ENV = "ECAP_DSR_HASH_KEY"
RUN_JOBS: dict[str, str] = {RunKind.EXPORT: Job.DSR_EXPORT, RunKind.ERASE: Job.DSR_ERASE, RunKind.UPDATE: Job.DSR_ERASE}
ACTIONS: dict[str, tuple[str, ...]] = {
    RunKind.EXPORT: ("export",),
    RunKind.ERASE: ("delete", "anonymise"),
    RunKind.UPDATE: ("update",),
}
SPARK_TIMEOUT_SECONDS = 4 * 3600


class RunInvalid(DomainError):
    code = "run_invalid"


def run_kind(request: DataSubjectRequest) -> str | None:
    """What executing a request does, by its right; None for rights the consent ledger answers."""
    right = request.request_type.partition(".")[2]
    if right in EXPORT_RIGHTS:
        return RunKind.EXPORT
    if right in ERASE_RIGHTS:
        return RunKind.ERASE
    if right in UPDATE_RIGHTS:
        return RunKind.UPDATE
    return None


def plan_dir() -> Path:
    return work_dir() / "dsr-plans"


def export_dir() -> Path:
    return work_dir() / "dsr-exports"


def plan_file(run: RequestRun) -> Path:
    return plan_dir() / f"{run.public_id}.json"


def export_out(run: RequestRun) -> Path:
    return export_dir() / str(run.public_id)


def progress_file(run: RequestRun) -> Path:
    return work_dir() / "dsr-progress" / f"{run.public_id}.jsonl"


@dataclass(frozen=True)
class RunProgress:
    """How far a running erasure or rectification is: phases done of all (resolution, each dataset, verification)."""

    done: int
    total: int
    datasets: list[dict[str, Any]]
    phase: str


def run_progress(run: RequestRun) -> RunProgress | None:
    """What the job has reported so far (local runs write a progress file; None before its first line)."""
    path = progress_file(run)
    if run.kind == RunKind.EXPORT or not path.exists():
        return None
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue  # a line being written
    if not lines:
        return None
    datasets = [line for line in lines if line.get("phase") == "dataset"]
    return RunProgress(done=len(lines), total=len(run.plan) + 2, datasets=datasets, phase=str(lines[-1]["phase"]))


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def updatable_fields(plan: RequestPlan) -> dict[str, list[str]]:
    """Per dataset of a rectification plan, the personal fields a new value may be given for (not its key fields)."""
    return {
        item["dataset"]: sorted(set(item.get("fields") or {}) - set(item["keys"]))
        for item in plan.items
        if item["action"] == "update"
    }


def _check_updates(plan: RequestPlan, updates: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    allowed = updatable_fields(plan)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, dict[str, str]] = {}
    for dataset, values in (updates or {}).items():
        if dataset not in allowed:
            errors[dataset] = ["not a dataset of the plan to correct"]
            continue
        for column, value in values.items():
            if column not in allowed[dataset]:
                errors[f"{dataset}.{column}"] = ["not a correctable field of this dataset"]
            elif not isinstance(value, str) or len(value) > 1000 or "\x00" in value:
                errors[f"{dataset}.{column}"] = ["a plain value of at most 1000 characters"]
            elif value.strip():
                cleaned.setdefault(dataset, {})[column] = value.strip()
    if errors:
        raise RunInvalid("Some corrections cannot be applied.", fields=errors)
    if not cleaned:
        raise RunInvalid("Give at least one corrected value.", fields={"updates": ["empty"]})
    return cleaned


def plan_document(
    request: DataSubjectRequest, items: list[dict[str, Any]], kind: str, updates: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The job's plan: the subject's identity values per kind, and one rule per dataset of the approved plan."""
    keys: dict[str, list[str]] = {}
    for identity in request.subject.identities.all():
        keys.setdefault(identity.kind, []).append(identity.value)
    subject = str(request.subject.public_id)
    rules = []
    for item in items:
        rule: dict[str, Any] = {"dataset": item["dataset"], "keys": item["keys"], "action": item["action"]}
        if item["action"] == "anonymise":
            rule["fields"] = item["fields"]
        if item["action"] == "update":
            if item["dataset"] not in updates:
                continue
            rule["updates"] = {subject: updates[item["dataset"]]}
        rules.append(rule)
    return {"subjects": [{"id": subject, "keys": keys}], "datasets": rules, "hash_key_env": HASH_KEY_ENV}


def request_run_start(
    *, request: DataSubjectRequest, actor: User | None, updates: dict[str, dict[str, str]] | None = None
) -> RequestRun:
    """Run a verified request's approved plan (a rectification with its new values); one run at a time."""
    kind = run_kind(request)
    if kind is None:
        raise Conflict("This right is answered by the consent ledger; nothing runs in the lake.", code="nothing_to_run")
    if str(config_get("spark.submit_backend")) != Backend.LOCAL:
        raise Conflict(
            "Privacy runs use the local Spark backend; the EMR transport of plans is not available.",
            code="backend_unsupported",
        )
    with transaction.atomic():
        locked = DataSubjectRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status not in (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS):
            raise Conflict("Only a verified request runs.", code="not_verified")
        plan = RequestPlan.objects.filter(request=locked).first()
        if plan is None or plan.approved_at is None:
            raise Conflict("Approve the plan first.", code="plan_not_approved")
        if locked.runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
            raise Conflict("A run of this request has not finished.", code="run_active")
        items = [i for i in plan.items if i["action"] in ACTIONS[kind]]
        if not items:
            raise Conflict("The plan has no dataset to run on.", code="plan_empty")
        cleaned = _check_updates(plan, updates or {}) if kind == RunKind.UPDATE else {}
        document = plan_document(locked, items, kind, cleaned)
        run = RequestRun.objects.create(
            request=locked,
            kind=kind,
            plan=[{k: v for k, v in rule.items() if k != "updates"} for rule in document["datasets"]],
            document=json.dumps(document),
            requested_by=actor,
        )
        args = ["--plan", str(plan_file(run))]
        if kind == RunKind.EXPORT:
            args += ["--out", str(export_out(run))]
        else:
            args += ["--progress", str(progress_file(run))]
        spark = spark_run_request(
            job=RUN_JOBS[kind],
            args=args,
            backend=Backend.LOCAL,
            requested_by=actor,
            idempotency_key=f"privacy-run:{run.public_id}",
            timeout_seconds=SPARK_TIMEOUT_SECONDS,
        )
        run.spark_run = spark
        run.save(update_fields=["spark_run"])
        if locked.status == RequestStatus.VERIFIED:
            request_transition(request=locked, status=RequestStatus.IN_PROGRESS, actor=actor, note="Execution started.")
        fields = sorted({c for values in cleaned.values() for c in values})
        RequestEvent.objects.create(
            request=locked,
            kind="run_started",
            message=f"{run.get_kind_display()} started on {len(document['datasets'])} dataset(s).",
            actor=actor,
            data={"run": str(run.public_id), "spark_run": str(spark.public_id), "fields": fields},
        )
    logger.info("privacy.run_started", request=locked.reference, kind=kind, run=str(run.public_id))
    return run


def run_environment(run: SparkRun) -> dict[str, str]:
    """What a privacy job gets on the submitting machine: its plan file (written now) and the anonymisation key."""
    if run.job not in (Job.DSR_ERASE, Job.DSR_EXPORT):
        return {}
    request_run = RequestRun.objects.filter(spark_run=run).first()
    if request_run is None:
        return {}
    if not request_run.document:
        raise RunInvalid("The plan of this run is gone (the run already ended).")
    if request_run.kind == RunKind.EXPORT:
        _private_dir(export_dir())
    private_file_write(plan_file(request_run), request_run.document)
    return {HASH_KEY_ENV: str(config_get("secrets.anonymisation_key"))}


def private_file_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (0600, in a 0700 directory), whole or not at all."""
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    tmp.replace(path)


def _discard_inputs(run: RequestRun) -> None:
    plan_file(run).unlink(missing_ok=True)
    progress_file(run).unlink(missing_ok=True)


def request_run_consume(*, spark_run: SparkRun) -> RequestRun | None:
    """Record a finished Spark run of a request once: certificate or package on success, the error otherwise."""
    from apps.privacy.certificates import certificate_issue
    from apps.privacy.packages import package_store

    with transaction.atomic():
        run = (
            RequestRun.objects.select_for_update()
            .filter(spark_run=spark_run)
            .select_related("request", "spark_run")
            .first()
        )
        if run is None or run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        state = run.spark_run.state if run.spark_run else RunState.FAILED
        if state not in FINAL_STATES:
            if state == RunState.RUNNING and run.status == RunStatus.QUEUED:
                run.status = RunStatus.RUNNING
                run.save(update_fields=["status"])
            return run
        run.document, run.finished_at = "", timezone.now()
        summary = run.spark_run.summary if run.spark_run else None
        if state == RunState.SUCCEEDED and isinstance(summary, dict):
            run.summary = summary
            problem = _problem(run, summary)
        else:
            problem = (run.spark_run.error if run.spark_run else "") or f"the Spark run {state}"
        request = run.request
        if problem:
            run.status, run.error = RunStatus.FAILED, problem[-4000:]
            run.save()
            RequestEvent.objects.create(
                request=request,
                kind="run_failed",
                message=f"{run.get_kind_display()} failed: {problem[:300]}",
                data={"run": str(run.public_id)},
            )
        else:
            run.status = RunStatus.SUCCEEDED
            run.save()
            if run.kind == RunKind.EXPORT:
                package = package_store(run=run)
                message = f"Package ready: {sum(package.rows.values())} row(s) from {len(package.rows)} dataset(s)."
            else:
                certificate = certificate_issue(run=run)
                message = f"Certificate {certificate.number} issued."
            RequestEvent.objects.create(
                request=request, kind="run_succeeded", message=message, data={"run": str(run.public_id)}
            )
        transaction.on_commit(lambda: _discard_inputs(run))
    logger.info("privacy.run_finished", request=request.reference, run=str(run.public_id), status=run.status)
    return run


def _problem(run: RequestRun, summary: dict[str, Any]) -> str:
    """Why a succeeded job still fails the request: the verification scan found the subject (erasure, update)."""
    if run.kind == RunKind.EXPORT:
        return "" if summary.get("subjects") else "the export produced no package"
    if not summary.get("verified"):
        left = sorted(name for name, v in (summary.get("verification") or {}).items() if not v.get("verified"))
        return f"the verification scan still finds the subject in {', '.join(left) or 'a dataset'}"
    return ""


def runs_sweep() -> int:
    """Record finished runs whose consumption was lost; remove plan files of runs that ended; returns how many."""
    count = 0
    active = RequestRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).select_related("spark_run")
    for run in active:
        if run.spark_run is None or run.spark_run.state in FINAL_STATES or run.spark_run.state == RunState.RUNNING:
            try:
                if run.spark_run is None:
                    RequestRun.objects.filter(pk=run.pk).update(
                        status=RunStatus.FAILED,
                        error="the Spark run was deleted",
                        document="",
                        finished_at=timezone.now(),
                    )
                else:
                    request_run_consume(spark_run=run.spark_run)
                count += 1
            except Exception:  # one broken run must not block the others
                logger.exception("privacy.consume_failed", run=str(run.public_id))
    if plan_dir().exists():
        live = {
            str(pk)
            for pk in RequestRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
                "public_id", flat=True
            )
        }
        for leftover in plan_dir().glob("*.json"):
            if leftover.stem not in live:
                leftover.unlink(missing_ok=True)
    return count
