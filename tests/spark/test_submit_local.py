"""The local backend with real ``spark-submit`` runs: results, failures, timeouts, cancelling and polling from another
process, and the checks that keep anything but a whitelisted job module from running.

The runs use a small job written to a temporary package (``ecap_submit_testjobs.tiny``) on the real harness of
``spark.jobs.base``, reached through the backend's ``job_package`` setting and a ``PYTHONPATH`` given to the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark.submit import JobSpec, RunState, RunStatus, Submission, SubmitError, backend_for
from spark.submit.local import LocalBackend

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "ecap_submit_testjobs"
KNOWN_JOBS = ("generate", "validate", "rfm", "profile", "pii_scan")
TINY_JOB = '''\
"""Counts a range with Spark; sleeps or fails when asked."""

import sys
import time

from spark.jobs import base
from spark.jobs.base import JobResult, main

NAME = "tiny"


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=0)
    parser.add_argument("--fail", action="store_true")


def run(ctx):
    print("tiny: harness from", base.__file__, flush=True)
    print("tiny: counting", flush=True)
    rows = ctx.spark.range(ctx.args.rows).count()
    if ctx.args.sleep:
        print("tiny: sleeping", flush=True)
        time.sleep(ctx.args.sleep)
    if ctx.args.fail:
        raise RuntimeError("boom")
    return JobResult(summary={"rows": rows})


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
'''


@pytest.fixture(scope="module")
def jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding the test job package, importable here (for the backend's check) while the module runs."""
    directory = tmp_path_factory.mktemp("jobs")
    package = directory / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text('"""Jobs of the submit tests only."""\n')
    (package / "tiny.py").write_text(TINY_JOB)
    sys.path.insert(0, str(directory))
    try:
        yield directory
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop(PACKAGE, None)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


# A short-lived driver starts faster with the client compiler and the serial collector.
FAST_START = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


@pytest.fixture(scope="module")
def local(runs_dir: Path, jobs_dir: Path) -> LocalBackend:
    return LocalBackend(runs_dir, job_package=PACKAGE, kill_grace_seconds=3, spark_conf=FAST_START)


def tiny(jobs_dir: Path, run_id: str, *args: str, timeout: int | None = 120) -> JobSpec:
    return JobSpec(
        job="tiny",
        args=["--lake", f"file://{jobs_dir}/lake", *args],
        run_id=run_id,
        timeout_seconds=timeout,
        env={"PYTHONPATH": str(jobs_dir)},
    )


def wait(backend: LocalBackend, handle: str, until: tuple[RunState, ...], seconds: float = 90) -> RunStatus:
    deadline = time.monotonic() + seconds
    while True:
        status = backend.poll(handle)
        if status.state in until or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def wait_for_output(path: Path, text: str, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.3)
    return False


def group_gone(workdir: Path) -> bool:
    """No live process is left in the run's process group (zombies waiting for init to reap them are dead)."""
    pgid = int((workdir / "pid").read_text())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return False
    return True


def in_another_process(base_dir: Path, code: str) -> dict:
    """Run ``code`` in a new interpreter, where ``backend`` is built from the same ``base_dir``; returns the JSON it
    prints last."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from spark.submit.local import LocalBackend
        backend = LocalBackend({str(base_dir)!r})
        """
    ) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def finished(local: LocalBackend, jobs_dir: Path) -> dict[str, tuple[Submission, RunStatus]]:
    """A succeeding and a failing run, submitted together (so the module pays for Spark's start-up once)."""
    submissions = {
        "ok": local.submit(tiny(jobs_dir, "ok", "--rows", "12")),
        "fails": local.submit(tiny(jobs_dir, "fails", "--fail")),
    }
    final = tuple(s for s in RunState if s.finished)
    return {name: (sub, wait(local, sub.handle, final, seconds=150)) for name, sub in submissions.items()}


@pytest.mark.slow
def test_a_run_succeeds_with_its_logs_and_summary(local: LocalBackend, finished: dict) -> None:
    submission, status = finished["ok"]
    workdir = Path(submission.handle)
    assert submission.backend == "local"
    assert submission.log_location == str(workdir)
    assert status.state == RunState.SUCCEEDED, status.error
    assert status.exit_code == 0
    assert status.error == ""
    assert status.summary is not None
    assert status.summary["rows"] == 12
    assert status.started_at is not None
    assert status.finished_at is not None
    assert status.started_at < status.finished_at

    stdout = (workdir / "stdout.log").read_text()
    assert "tiny: counting" in stdout
    harness = next(line for line in stdout.splitlines() if line.startswith("tiny: harness from"))
    assert f"{local.base_dir}/_packages/spark-" in harness  # the spark package came from the --py-files zip
    assert ".zip/spark/jobs/base.py" in harness
    assert f"ECAP_SUMMARY {json.dumps(status.summary, sort_keys=True)}" in stdout.splitlines()
    assert json.loads((workdir / "summary.json").read_text()) == status.summary  # copied by the entry script
    assert "SparkContext: Running Spark version" in (workdir / "stderr.log").read_text()
    assert group_gone(workdir)

    logs = local.logs(submission.handle, tail=2)
    assert logs.startswith("--- stdout ---\ntiny: counting\nECAP_SUMMARY ")
    assert "--- stderr ---\n" in logs
    assert len(logs.splitlines()) == 6


@pytest.mark.slow
def test_a_failing_run_reports_its_exit_status_and_the_error(finished: dict) -> None:
    submission, status = finished["fails"]
    assert status.state == RunState.FAILED
    assert status.exit_code == 1
    assert status.error.startswith("exit status 1")
    assert status.error.rstrip().endswith("job tiny failed: RuntimeError: boom")
    assert " INFO " not in status.error
    assert status.summary is None
    assert not (Path(submission.handle) / "summary.json").exists()


@pytest.mark.slow
def test_a_run_past_its_timeout_is_stopped_with_its_whole_process_group(local: LocalBackend, jobs_dir: Path) -> None:
    submission = local.submit(tiny(jobs_dir, "slow", "--sleep", "300", timeout=6))
    workdir = Path(submission.handle)
    assert local.poll(submission.handle).state == RunState.RUNNING
    status = wait(local, submission.handle, (RunState.TIMED_OUT, RunState.FAILED, RunState.SUCCEEDED), seconds=40)

    assert status.state == RunState.TIMED_OUT
    assert "timeout of 6 s" in status.error
    assert status.finished_at is not None
    assert status.started_at is not None
    assert 6 <= (status.finished_at - status.started_at).total_seconds() < 6 + 3 + 5
    assert group_gone(workdir)


@pytest.mark.slow
def test_a_run_is_cancelled_and_polled_from_other_processes(local: LocalBackend, jobs_dir: Path) -> None:
    submission = local.submit(tiny(jobs_dir, "cancel-me", "--sleep", "300"))
    workdir = Path(submission.handle)
    assert wait_for_output(workdir / "stdout.log", "tiny: sleeping"), local.logs(submission.handle, 20)
    seen = in_another_process(
        local.base_dir, f"print(json.dumps({{'state': backend.poll({submission.handle!r}).state}}))"
    )
    assert seen == {"state": "RUNNING"}

    after = in_another_process(
        local.base_dir,
        f"""
        backend.cancel({submission.handle!r})
        status = backend.poll({submission.handle!r})
        print(json.dumps({{"state": status.state, "error": status.error}}))
        """,
    )
    assert after == {"state": "CANCELLED", "error": "cancelled"}
    assert group_gone(workdir)
    assert local.poll(submission.handle).state == RunState.CANCELLED
    local.cancel(submission.handle)  # cancelling a finished run changes nothing
    assert local.poll(submission.handle).state == RunState.CANCELLED


@pytest.mark.slow
def test_a_job_of_spark_jobs_runs_from_the_package_zip(tmp_path: Path) -> None:
    """The default package: a real ``spark.jobs`` module is found and started (its ``--help`` needs no lake)."""
    job = next((name for name in KNOWN_JOBS if importlib.util.find_spec(f"spark.jobs.{name}")), None)
    if job is None:
        pytest.skip("no job module in spark.jobs yet")
    backend = backend_for("local", base_dir=str(tmp_path / "runs"), spark_conf=FAST_START)
    submission = backend.submit(JobSpec(job=job, args=["--help"], run_id="help", timeout_seconds=120, env={}))
    status = wait(backend, submission.handle, tuple(s for s in RunState if s.finished))
    assert status.state == RunState.SUCCEEDED, status.error
    assert f"usage: spark.jobs.{job}" in (Path(submission.handle) / "stdout.log").read_text()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"job": "no_such_job"}, "invalid_job"),
        ({"job": "Tiny"}, "invalid_job"),
        ({"job": "tiny.py"}, "invalid_job"),
        ({"job": "tiny; touch /tmp/x"}, "invalid_job"),
        ({"job": "__init__"}, "invalid_job"),
        ({"args": ["--lake", "file:///x\n--other"]}, "invalid_args"),
        ({"args": ["--lake", "file:///x\r"]}, "invalid_args"),
        ({"args": ["--lake", "file:///x\x00"]}, "invalid_args"),
        ({"args": "--lake file:///x"}, "invalid_args"),
        ({"args": ["--rows", 3]}, "invalid_args"),
        ({"env": {"BAD NAME": "x"}}, "invalid_env"),
        ({"env": {"OK": "two\nlines"}}, "invalid_env"),
        ({"run_id": "../escape"}, "invalid_run_id"),
        ({"run_id": ""}, "invalid_run_id"),
        ({"timeout_seconds": -1}, "invalid_timeout"),
    ],
)
def test_bad_jobs_and_arguments_are_refused_before_anything_runs(
    local: LocalBackend, jobs_dir: Path, changes: dict, code: str
) -> None:
    good = tiny(jobs_dir, "refused")
    values = {"job": good.job, "args": good.args, "run_id": good.run_id, "timeout_seconds": 60, "env": good.env}
    before = set(local.base_dir.iterdir()) if local.base_dir.exists() else set()
    with pytest.raises(SubmitError) as refused:
        local.submit(JobSpec(**{**values, **changes}))
    assert refused.value.code == code
    after = set(local.base_dir.iterdir()) if local.base_dir.exists() else set()
    assert after == before


def test_only_the_configured_package_is_searched_for_jobs(tmp_path: Path, jobs_dir: Path) -> None:
    default = LocalBackend(tmp_path)
    with pytest.raises(SubmitError) as refused:
        default.submit(tiny(jobs_dir, "elsewhere"))  # tiny exists, but not in spark.jobs
    assert refused.value.code == "invalid_job"
    with pytest.raises(SubmitError):
        default.submit(JobSpec(job="base", args=[], run_id="harness", timeout_seconds=None, env={}))
    with pytest.raises(SubmitError):
        LocalBackend(tmp_path, job_package="os; rm")


def test_handles_outside_the_runs_directory_are_refused(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "spec.json").write_text("{}")
    for handle in ("/etc", str(tmp_path / "elsewhere"), str(tmp_path / "runs" / ".." / "elsewhere"), "relative"):
        for call in (backend.poll, backend.cancel, backend.logs):
            with pytest.raises(SubmitError) as refused:
                call(handle)
            assert refused.value.code == "unknown_handle"


def test_a_run_is_pending_until_its_supervisor_starts_and_failed_if_it_vanishes(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    workdir = tmp_path / "half-made"
    workdir.mkdir()
    (workdir / "spec.json").write_text("{}")
    assert backend.poll(str(workdir)).state == RunState.PENDING
    assert backend.find("half-made") is None

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (workdir / "supervisor.pid").write_text(f"{dead.pid}\n")
    status = backend.poll(str(workdir))
    assert status.state == RunState.FAILED
    assert "supervisor ended without recording a result" in status.error
    assert backend.find("half-made") == Submission("local", str(workdir), str(workdir))


@pytest.mark.slow
def test_the_same_run_is_not_submitted_twice(local: LocalBackend, finished: dict) -> None:
    submission, _ = finished["ok"]
    assert local.find("ok") == submission
    with pytest.raises(SubmitError) as refused:
        local.submit(JobSpec(job="tiny", args=[], run_id="ok", timeout_seconds=None, env={}))
    assert refused.value.code == "duplicate_run"
