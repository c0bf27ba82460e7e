"""Runs a job with ``spark-submit --master local[*]`` on this machine, detached from the process that submitted it.

The handle is the run's work directory ``<base_dir>/<run_id>``; a supervisor (``supervise.py``) started there owns the
``spark-submit`` process group and records its end in ``exit.json``. Everything ``poll``, ``cancel`` and ``logs`` need
is in that directory, so any process that builds the backend with the same ``base_dir`` can follow the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spark.submit import supervise
from spark.submit.base import (
    DEFAULT_JOB_PACKAGE,
    JobSpec,
    RunState,
    RunStatus,
    Submission,
    SubmitError,
    check_package,
    check_run_id,
    check_spec,
    failure_excerpt,
    parse_summary,
    tail_lines,
)
from spark.submit.package import build_package

ENTRY_SCRIPT = Path(__file__).resolve().with_name("entry.py")
SUPERVISE_SCRIPT = Path(supervise.__file__).resolve()
SPEC = "spec.json"
SUMMARY = "summary.json"
SUPERVISOR_LOG = "supervisor.log"
PACKAGES_DIR = "_packages"  # run ids start with a letter or digit, so this never collides with a run
READ_LIMIT = 1 << 20  # tails and the summary line come from the last MiB of a log


def default_spark_submit(python: str) -> str:
    """The ``spark-submit`` next to the interpreter (pyspark's bundled one in a virtualenv), else the one on PATH."""
    beside = Path(python).parent / "spark-submit"
    if beside.exists():
        return str(beside)
    return shutil.which("spark-submit") or str(beside)


def read_tail(path: Path, limit: int = READ_LIMIT) -> str:
    """The last ``limit`` bytes of a file as text ("" when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text.split("\n", 1)[1] if size > limit and "\n" in text else text


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def process_alive(pid: int, marker: str | None = None) -> bool:
    """True when ``pid`` runs and is not a zombie; with ``marker``, only when its command line has that argument
    (a recycled pid belongs to someone else)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one of ours
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        arguments = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    return marker is None or marker.encode() in arguments


def group_alive(pgid: int) -> bool:
    """True while any live process is left in the process group (zombies waiting for a parent do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(supervise.group_members(pgid)) or not Path("/proc/self").exists()


class LocalBackend:
    """``spark-submit`` in local mode under a detached supervisor, one work directory per run."""

    name = "local"

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        job_package: str = DEFAULT_JOB_PACKAGE,
        spark_submit: str | None = None,
        python: str | None = None,
        master: str = "local[*]",
        spark_conf: Mapping[str, str] | None = None,
        kill_grace_seconds: float = 10.0,
        start_timeout_seconds: float = 30.0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.job_package = check_package(job_package)
        self.python = python or sys.executable
        self.spark_submit = spark_submit or default_spark_submit(self.python)
        self.master = master
        self.spark_conf = {"spark.ui.enabled": "false", **dict(spark_conf or {})}
        self.kill_grace_seconds = kill_grace_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.cache_dir = Path(cache_dir) if cache_dir else self.base_dir / PACKAGES_DIR

    # Submitting

    def submit(self, spec: JobSpec) -> Submission:
        """Start the run and return once its supervisor has started ``spark-submit``."""
        spec = check_spec(spec, self.job_package)
        self.base_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._submit_lock():
            workdir = self._claim(spec.run_id)
            package = build_package(self.cache_dir)
            shutil.copyfile(ENTRY_SCRIPT, workdir / "entry.py")
            command = self.command(spec, workdir, package.path)
            supervise.write_atomic(
                workdir / SPEC,
                json.dumps(
                    {
                        "job": spec.job,
                        "args": spec.args,
                        "run_id": spec.run_id,
                        "timeout_seconds": spec.timeout_seconds,
                        "env_names": sorted(spec.env),  # values may be secrets; they stay in the environment only
                        "command": command,
                        "package_sha256": package.sha256,
                        "submitted_at": supervise.now_iso(),
                    },
                    indent=2,
                ),
            )
            self._start(spec, workdir, command)
        return Submission(backend=self.name, handle=str(workdir), log_location=str(workdir))

    def command(self, spec: JobSpec, workdir: Path, package: Path) -> list[str]:
        """The ``spark-submit`` command line of a run."""
        confs = [item for key, value in sorted(self.spark_conf.items()) for item in ("--conf", f"{key}={value}")]
        entry_options = [] if self.job_package == DEFAULT_JOB_PACKAGE else ["--package", self.job_package]
        return [
            self.spark_submit,
            "--master",
            self.master,
            "--name",
            f"ecap-{spec.job}",
            *confs,
            "--py-files",
            str(package),
            str(workdir / "entry.py"),
            *entry_options,
            "--summary-uri",
            (workdir / SUMMARY).as_uri(),
            spec.job,
            *spec.args,
        ]

    def _start(self, spec: JobSpec, workdir: Path, command: list[str]) -> None:
        env = {
            **os.environ,
            "PYSPARK_PYTHON": self.python,
            "PYSPARK_DRIVER_PYTHON": self.python,
            **spec.env,
        }
        supervisor = [self.python, "-I", str(SUPERVISE_SCRIPT), "--detach", "--grace", str(self.kill_grace_seconds)]
        if spec.timeout_seconds is not None:
            supervisor += ["--timeout", str(spec.timeout_seconds)]
        supervisor += [str(workdir), "--", *command]
        with open(workdir / SUPERVISOR_LOG, "ab") as log:
            try:
                process = subprocess.Popen(  # noqa: S603 - an argument list, never a shell
                    supervisor,
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # the caller's terminal and signals do not reach the run
                )
            except OSError as exc:
                raise SubmitError(f"could not start {self.python}: {exc}", code="submit_failed") from exc
        try:
            status = process.wait(timeout=self.start_timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            status = -1
        if status != 0 or not (workdir / supervise.SUPERVISOR_PID).exists():
            if (workdir / supervise.SUPERVISOR_PID).exists():
                self.cancel(str(workdir))  # reported as not started, so it must not start late either
            detail = tail_lines(read_tail(workdir / SUPERVISOR_LOG), 20)
            raise SubmitError(f"the run did not start (status {status}): {detail}", code="submit_failed")

    @contextlib.contextmanager
    def _submit_lock(self) -> Iterator[None]:
        """Submissions on this machine one at a time (claiming a run directory is check-then-act)."""
        handle = os.open(self.base_dir, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)

    def _claim(self, run_id: str) -> Path:
        workdir = self.base_dir / check_run_id(run_id)
        try:
            workdir.mkdir(mode=0o700)
        except FileExistsError:
            if (workdir / supervise.SUPERVISOR_PID).exists():
                raise SubmitError(f"run {run_id} was already submitted", code="duplicate_run") from None
            # A submitter died before the supervisor started: nothing runs there, so start afresh.
            shutil.rmtree(workdir)
            workdir.mkdir(mode=0o700)
        return workdir

    def find(self, run_id: str) -> Submission | None:
        """The submission of ``run_id`` if its supervisor was started (for a submitter that died mid-way)."""
        workdir = self.base_dir / check_run_id(run_id)
        if not (workdir / supervise.SUPERVISOR_PID).exists():
            return None
        return Submission(backend=self.name, handle=str(workdir), log_location=str(workdir))

    # Following

    def workdir(self, handle: str) -> Path:
        """The work directory of a handle; only directories directly under ``base_dir`` are accepted."""
        try:
            path = Path(handle).resolve()
        except (TypeError, ValueError, OSError):
            raise SubmitError(f"not a local run handle: {handle!r}", code="unknown_handle") from None
        if path.parent != self.base_dir or not (path / SPEC).exists():
            raise SubmitError(f"no local run at {handle!r}", code="unknown_handle")
        return path

    def poll(self, handle: str) -> RunStatus:
        """The run's state from the files in its work directory."""
        workdir = self.workdir(handle)
        result = read_json(workdir / supervise.EXIT)
        if result is not None:
            return self._finished(workdir, result)
        started = read_json(workdir / supervise.STARTED) or {}
        started_at = parse_time(started.get("started_at"))
        supervisor_pid = read_pid(workdir / supervise.SUPERVISOR_PID)
        if supervisor_pid is None:
            return RunStatus(state=RunState.PENDING, log_location=str(workdir))
        if process_alive(supervisor_pid, str(workdir)):
            state = RunState.RUNNING if started else RunState.PENDING
            return RunStatus(state=state, log_location=str(workdir), started_at=started_at)
        result = read_json(workdir / supervise.EXIT)  # it may have finished between the two reads
        if result is not None:
            return self._finished(workdir, result)
        return RunStatus(
            state=RunState.FAILED,
            error="the run's supervisor ended without recording a result",
            log_location=str(workdir),
            started_at=started_at,
        )

    def _finished(self, workdir: Path, result: dict[str, Any]) -> RunStatus:
        exit_code = result.get("exit_code")
        common: dict[str, Any] = {
            "exit_code": exit_code if isinstance(exit_code, int) else None,
            "log_location": str(workdir),
            "started_at": parse_time(result.get("started_at")),
            "finished_at": parse_time(result.get("finished_at")),
        }
        if result.get("cancelled"):
            return RunStatus(state=RunState.CANCELLED, error="cancelled", **common)
        if result.get("timed_out"):
            spec = read_json(workdir / SPEC) or {}
            return RunStatus(
                state=RunState.TIMED_OUT,
                error=f"exceeded the timeout of {spec.get('timeout_seconds')} s; stopped",
                **common,
            )
        if exit_code == 0:
            summary = read_json(workdir / SUMMARY)
            if summary is None:
                summary = parse_summary(read_tail(workdir / supervise.STDOUT))
            return RunStatus(state=RunState.SUCCEEDED, summary=summary, **common)
        reason = str(result.get("error") or "")
        excerpt = failure_excerpt(read_tail(workdir / supervise.STDOUT), read_tail(workdir / supervise.STDERR))
        error = f"exit status {exit_code}" + (f" ({result.get('signal')})" if result.get("signal") else "")
        error += f": {reason}" if reason else ""
        return RunStatus(state=RunState.FAILED, error=f"{error}\n{excerpt}".strip(), **common)

    def logs(self, handle: str, tail: int = 200) -> str:
        """The last ``tail`` lines of the run's stdout and of its stderr."""
        workdir = self.workdir(handle)
        stdout = tail_lines(read_tail(workdir / supervise.STDOUT), tail)
        stderr = tail_lines(read_tail(workdir / supervise.STDERR), tail)
        return f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n"

    # Stopping

    def cancel(self, handle: str) -> None:
        """Stop the run (its whole process group) and record it as cancelled; a finished run is left alone."""
        workdir = self.workdir(handle)
        if (workdir / supervise.EXIT).exists():
            return
        supervise.write_once(workdir / supervise.CANCEL, {"requested_at": supervise.now_iso()})
        supervisor_pid = read_pid(workdir / supervise.SUPERVISOR_PID)
        if supervisor_pid is not None and process_alive(supervisor_pid, str(workdir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor_pid, signal.SIGTERM)
            if self._wait_for_exit(workdir, self.kill_grace_seconds + 10):
                return
        # No supervisor to do it (it died, or never started the command): stop the group from here.
        pgid = read_pid(workdir / supervise.CHILD_PID)
        if pgid is not None and self._owns_group(pgid, workdir):
            supervise.signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + self.kill_grace_seconds
            while time.monotonic() < deadline and group_alive(pgid):
                time.sleep(0.2)
            supervise.signal_group(pgid, signal.SIGKILL)
        started = read_json(workdir / supervise.STARTED) or {}
        supervise.write_once(
            workdir / supervise.EXIT,
            {
                "exit_code": None,
                "signal": None,
                "timed_out": False,
                "cancelled": True,
                "started_at": started.get("started_at"),
                "finished_at": datetime.now(UTC).isoformat(),
                "error": "",
            },
        )

    def _wait_for_exit(self, workdir: Path, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if (workdir / supervise.EXIT).exists():
                return True
            time.sleep(0.1)
        return False

    @staticmethod
    def _owns_group(pgid: int, workdir: Path) -> bool:
        """True when the group leader still runs in the run's directory (so a recycled pid is never signalled)."""
        if not group_alive(pgid):
            return False
        try:
            return Path(os.readlink(f"/proc/{pgid}/cwd")) == workdir
        except FileNotFoundError:
            return not Path("/proc/self").exists()
        except OSError:
            return False
