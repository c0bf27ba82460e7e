"""What every submission backend shares: the job spec, the submission handle, the run status and the checks on input.

A backend runs one whitelisted job module (``spark.jobs.<name>`` by default) with a list of arguments that never goes
through a shell. ``backend_for("local" | "emr", **config)`` builds one; ``poll``/``cancel``/``logs`` work from any
process that builds the backend with the same configuration (the Celery poller is not the process that submitted).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

DEFAULT_JOB_PACKAGE = "spark.jobs"
SUMMARY_PREFIX = "ECAP_SUMMARY "  # the harness prints it (spark/jobs/base.py); repeated so spark.submit stays light

JOB_NAME = re.compile(r"^[a-z_]+$")
PACKAGE_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FORBIDDEN_CHARACTERS = ("\x00", "\n", "\r")
NOT_JOBS = frozenset({"base"})  # the harness lives next to the jobs but is not one
MAX_ERROR_CHARS = 4000
# Spark's own log4j lines (``25/11/26 23:16:00 INFO SparkContext: …``) bury the job's error; ERROR lines are kept.
SPARK_LOG_LINE = re.compile(r"^\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (TRACE|DEBUG|INFO|WARN)\b")


class RunState(StrEnum):
    """Where a submitted run is; equal to its plain string name."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def finished(self) -> bool:
        """True for the four final states."""
        return self not in (RunState.PENDING, RunState.RUNNING)


class SubmitError(ValueError):
    """A job, argument, handle or configuration the backend refuses; ``code`` is stable for callers."""

    def __init__(self, message: str, *, code: str = "invalid_submission") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class JobSpec:
    """One run of a job: its module name, its arguments (passed as a list, never through a shell) and limits."""

    job: str
    args: list[str]
    run_id: str
    timeout_seconds: int | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    """A submitted run: the backend's name, the opaque handle to poll it by, and where its logs are."""

    backend: str
    handle: str
    log_location: str


@dataclass(frozen=True)
class RunStatus:
    """What a poll found: the state, the exit code when known, an error excerpt, the logs and the job's summary."""

    state: RunState
    exit_code: int | None = None
    error: str = ""
    log_location: str = ""
    summary: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@runtime_checkable
class Backend(Protocol):
    """Submit, follow, stop and read a Spark run."""

    name: str

    def submit(self, spec: JobSpec) -> Submission: ...

    def poll(self, handle: str) -> RunStatus: ...

    def cancel(self, handle: str) -> None: ...

    def logs(self, handle: str, tail: int = 200) -> str: ...

    def find(self, run_id: str) -> Submission | None: ...


def check_package(package: str) -> str:
    """A dotted package name of job modules (``spark.jobs``)."""
    if not PACKAGE_NAME.match(package):
        raise SubmitError(f"not a package name: {package!r}", code="invalid_config")
    return package


def check_job(job: str, package: str = DEFAULT_JOB_PACKAGE) -> str:
    """The module ``<package>.<job>`` of a job that exists; anything else is refused."""
    if not isinstance(job, str) or not JOB_NAME.match(job) or job.startswith("_") or job in NOT_JOBS:
        raise SubmitError(f"not a job name: {job!r}", code="invalid_job")
    module = f"{check_package(package)}.{job}"
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or found.submodule_search_locations is not None:
        raise SubmitError(f"no job module {module}", code="invalid_job")
    return module


def check_args(args: Iterable[str]) -> list[str]:
    """Arguments as a list of plain strings: no NUL, no line breaks."""
    if isinstance(args, str | bytes):
        raise SubmitError("arguments must be a list of strings, not one string", code="invalid_args")
    checked = list(args)
    for index, arg in enumerate(checked):
        if not isinstance(arg, str):
            raise SubmitError(f"argument {index} is not a string", code="invalid_args")
        if any(c in arg for c in FORBIDDEN_CHARACTERS):
            raise SubmitError(f"argument {index} contains NUL or a line break", code="invalid_args")
    return checked


def check_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables with plain names and single-line values."""
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise SubmitError(f"not an environment variable name: {name!r}", code="invalid_env")
        if not isinstance(value, str) or any(c in value for c in FORBIDDEN_CHARACTERS):
            raise SubmitError(f"environment variable {name} is not a single-line string", code="invalid_env")
        checked[name] = value
    return checked


def check_run_id(run_id: str) -> str:
    """A run id that is safe as a directory name and an S3 key segment."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or run_id in (".", ".."):
        raise SubmitError(f"not a run id: {run_id!r}", code="invalid_run_id")
    return run_id


def check_spec(spec: JobSpec, package: str = DEFAULT_JOB_PACKAGE) -> JobSpec:
    """The spec with every part checked (job exists, arguments and environment safe, run id a plain name)."""
    check_job(spec.job, package)
    timeout = spec.timeout_seconds
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
        raise SubmitError("timeout_seconds must be a positive integer or None", code="invalid_timeout")
    return JobSpec(
        job=spec.job,
        args=check_args(spec.args),
        run_id=check_run_id(spec.run_id),
        timeout_seconds=timeout,
        env=check_env(spec.env),
    )


def parse_summary(stdout: str) -> dict[str, Any] | None:
    """The job's summary from the last ``ECAP_SUMMARY {json}`` line of its stdout, if there is one."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(SUMMARY_PREFIX):
            try:
                value = json.loads(line[len(SUMMARY_PREFIX) :])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def tail_lines(text: str, lines: int) -> str:
    """The last ``lines`` lines of a text."""
    if lines <= 0:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def error_excerpt(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of a log without Spark's INFO/WARN chatter."""
    meaningful = [line for line in text.splitlines() if line.strip() and not SPARK_LOG_LINE.match(line)]
    return "\n".join(meaningful[-lines:])[-MAX_ERROR_CHARS:]


def failure_excerpt(stdout: str, stderr: str, lines: int = 20) -> str:
    """What explains a failed run: the end of stderr, then the end of stdout (where spark-submit puts the Python
    driver's own stderr, so the job's error is last and survives truncation from the front)."""
    parts = []
    meaningful_stdout = "\n".join(line for line in stdout.splitlines() if not line.startswith(SUMMARY_PREFIX))
    for name, text in (("stderr", stderr), ("stdout", meaningful_stdout)):
        excerpt = error_excerpt(text, lines)
        if excerpt:
            parts.append(f"--- {name} ---\n{excerpt}")
    if not parts and stderr.strip():
        parts.append(f"--- stderr ---\n{tail_lines(stderr, lines)}")  # only chatter: better than nothing
    return "\n".join(parts)[-MAX_ERROR_CHARS:]


def backend_for(name: str, **config: Any) -> Backend:
    """The backend called ``name`` ("local" or "emr") built from its keyword configuration."""
    if name == "local":
        from spark.submit.local import LocalBackend

        return LocalBackend(**config)
    if name == "emr":
        from spark.submit.emr import EmrBackend

        return EmrBackend(**config)
    raise SubmitError(f"unknown submission backend {name!r} (local or emr)", code="invalid_backend")
