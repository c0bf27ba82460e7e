"""Spark runs from the portal: requests are validated and idempotent, dependencies and the local slot hold runs
back, a real local run is submitted, polled to the end, its lineage counted and its failure alerted; the
``spark_run`` command and the API."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command

from apps.incidents.models import AlertPayload
from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import (
    SparkRunInvalid,
    spark_run_poll,
    spark_run_request,
    spark_run_resubmit,
    spark_run_submit,
    spark_runs_poll,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake(configured_lake: str) -> str:
    """The configured lake root (``tests/conftest.py``)."""
    return configured_lake


def wait_final(run: SparkRun, timeout: float = 240) -> SparkRun:
    deadline = time.monotonic() + timeout
    while run.state not in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT):
        if time.monotonic() > deadline:
            pytest.fail(f"run still {run.state}")
        time.sleep(1)
        run = spark_run_poll(run=run)
    return run


@pytest.mark.parametrize(
    ("job", "args", "field"),
    [
        ("drop_tables", [], "job"),
        ("rfm", ["--lake", "file:///etc"], "args.0"),
        ("rfm", ["--as-of=2026-01-01", "--summary=/etc/passwd"], "args.1"),
        ("rfm", ["--x\n--y"], "args.0"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(lake: str, job: str, args: list[str], field: str) -> None:
    with pytest.raises(SparkRunInvalid) as caught:
        spark_run_request(job=job, args=args, submit=False)
    assert field in caught.value.fields


def test_the_same_idempotency_key_gives_the_same_run(lake: str) -> None:
    first = spark_run_request(job="profile", idempotency_key="nightly-2026-11-26", submit=False)
    again = spark_run_request(job="profile", idempotency_key="nightly-2026-11-26", submit=False)
    assert first.pk == again.pk
    assert first.lake_root == lake
    assert SparkRun.objects.count() == 1


def test_a_run_waits_for_its_dependency_and_is_cancelled_when_it_fails(lake: str) -> None:
    first = spark_run_request(job="generate", args=["--rows", "10"], submit=False)
    second = spark_run_request(job="validate", after=first, submit=False)
    assert spark_run_submit(run_pk=second.pk).state == RunState.QUEUED
    SparkRun.objects.filter(pk=first.pk).update(state=RunState.FAILED)
    second = spark_run_submit(run_pk=second.pk)
    second.refresh_from_db()
    assert second.state == RunState.CANCELLED
    assert "generate run" in second.error


def test_local_runs_wait_for_a_free_slot(lake: str) -> None:
    busy = spark_run_request(job="profile", submit=False)
    SparkRun.objects.filter(pk=busy.pk).update(state=RunState.RUNNING, handle="x")
    waiting = spark_run_request(job="rfm", submit=False)
    assert spark_run_submit(run_pk=waiting.pk).state == RunState.QUEUED


def test_runs_rewriting_lake_files_wait_for_each_other(lake: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.configuration.services import get_store

    monkeypatch.setenv("ECAP_SPARK__LOCAL_MAX_CONCURRENT", "4")  # only the rewriter rule holds runs back here
    get_store().invalidate()
    erasing = spark_run_request(job="dsr_erase", args=["--plan", "/nonexistent"], submit=False)
    SparkRun.objects.filter(pk=erasing.pk).update(state=RunState.RUNNING, handle="x")
    retention = spark_run_request(job="retention", args=["--policy", "/nonexistent"], submit=False)
    assert spark_run_submit(run_pk=retention.pk).state == RunState.QUEUED
    second = spark_run_request(job="dsr_erase", args=["--plan", "/other"], submit=False)
    assert spark_run_submit(run_pk=second.pk).state == RunState.QUEUED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # lineage and alerts are handled once the run's end is committed
def test_a_local_run_goes_end_to_end_with_lineage_and_a_failure_alerts(lake: str) -> None:
    run = spark_run_request(job="generate", args=["--rows", "300", "--seed", "3"], submit=False)
    run = spark_run_submit(run_pk=run.pk)
    assert run.state == RunState.PENDING
    assert run.handle
    run = wait_final(run)
    assert run.state == RunState.SUCCEEDED, run.error
    assert run.summary
    assert run.summary["run_id"] == str(run.run_id)
    assert run.started_at
    assert run.finished_at
    assert run.duration_seconds is not None
    run.refresh_from_db()
    assert run.lineage_events >= 2  # START and COMPLETE

    broken = spark_run_request(job="rfm", args=["--as-of", "2026-01-01", "--input", "raw/nothing"], submit=False)
    broken = wait_final(spark_run_submit(run_pk=broken.pk))
    assert broken.state == RunState.FAILED
    assert broken.error
    alert = AlertPayload.objects.get(body__dedup_key="spark:rfm")
    assert alert.body["labels"]["spark_run_id"] == str(broken.public_id)
    again = spark_run_resubmit(run=broken)
    assert spark_run_resubmit(run=broken).pk == again.pk  # re-submitting twice gives one new run
    assert again.resubmit_of_id == broken.pk or SparkRun.objects.get(pk=again.pk).resubmit_of_id == broken.pk


@pytest.mark.slow
def test_spark_run_command_runs_a_job_and_prints_its_summary(lake: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("spark_run", "generate", "--", "--rows", "200", "--seed", "5", stdout=out, stderr=err)
    assert '"run_id"' in out.getvalue()
    assert "generate succeeded" in err.getvalue()
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "spark_run", "rfm", "--", "--input", "raw/missing", "--as-of", "2026-01-01", stdout=out, stderr=err
        )


def test_poller_submits_queued_runs_and_survives_a_broken_backend(lake: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.sparkruns import services

    run = spark_run_request(job="profile", backend="emr", submit=False)  # no bucket configured: refused
    assert spark_runs_poll() == 0
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "submission failed" in run.error
    assert services.SparkRun.objects.filter(state=RunState.QUEUED).count() == 0


def test_api_requests_lists_and_refuses_to_cancel_a_finished_run(token_client, lake: str) -> None:
    from apps.common.roles import ONCALL_ENGINEER

    api, user = token_client(ONCALL_ENGINEER)
    created = api.post("/api/v1/sparkruns/runs/", {"job": "rfm", "args": ["--as-of", "2026-11-01"]}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "queued"
    assert body["requested_by"] == user.username
    bad = api.post("/api/v1/sparkruns/runs/", {"job": "rm", "args": ["--lake", "x"]}, format="json")
    assert bad.status_code == 400
    assert "job" in bad.json()["fields"]
    SparkRun.objects.filter(public_id=body["id"]).update(state=RunState.SUCCEEDED)
    conflict = api.post(f"/api/v1/sparkruns/runs/{body['id']}/cancel/")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "run_finished"
    listing = api.get("/api/v1/sparkruns/runs/?job=rfm").json()
    assert listing["count"] == 1


def test_resubmit_task_makes_one_new_run_and_ignores_unknown_ids(lake: str) -> None:
    from apps.sparkruns.tasks import resubmit_run

    failed = spark_run_request(job="rfm", args=["--as-of", "2026-11-01"], submit=False)
    SparkRun.objects.filter(pk=failed.pk).update(state=RunState.FAILED)
    resubmit_run(str(failed.public_id))
    resubmit_run(str(failed.public_id))
    resubmit_run("not-a-run")
    again = SparkRun.objects.exclude(pk=failed.pk)
    assert again.count() == 1
    assert again.get().resubmit_of_id == failed.pk
    assert again.get().args == ["--as-of", "2026-11-01"]
