"""The EMR backend against moto's EMR and S3 on loopback: what it uploads, the steps and clusters it asks for, and how
it reads step states, logs and summaries, cancels, and enforces timeouts."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from spark.submit import JobSpec, RunState, SubmitError, backend_for
from spark.submit.emr import EmrBackend
from spark.submit.package import build_package
from tests.spark.emr_helpers import (
    REGION,
    find_cluster,
    find_step,
    handle_cancel_steps,
    moto_server,
    put_gzipped,
    set_step_state,
)

ROOT = Path(__file__).resolve().parents[2]
KNOWN_JOBS = ("generate", "validate", "rfm", "profile", "pii_scan")


@dataclass(frozen=True)
class Aws:
    """A fresh bucket on the moto server, clients for asserting on it, and a long-running cluster."""

    endpoint: str
    bucket: str
    s3: Any
    emr: Any
    cluster_id: str


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """Dummy credentials only (nothing of this host's AWS configuration), a new bucket and a running cluster."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    emr = boto3.client("emr", region_name=REGION, endpoint_url=moto_endpoint)
    bucket = f"ecap-emr-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    cluster = emr.run_job_flow(
        Name="ecap-shared",
        ReleaseLabel="emr-7.5.0",
        LogUri=f"s3://{bucket}/cluster-logs/",  # not the backend's prefix: logs are found through the cluster
        Applications=[{"Name": "Spark"}],
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        ServiceRole="EMR_DefaultRole",
        JobFlowRole="EMR_EC2_DefaultRole",
    )
    return Aws(endpoint=moto_endpoint, bucket=bucket, s3=s3, emr=emr, cluster_id=cluster["JobFlowId"])


@pytest.fixture
def cancels(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    return handle_cancel_steps(monkeypatch)


@pytest.fixture
def job() -> str:
    """A job module that exists in spark.jobs (they are written alongside this backend)."""
    for name in KNOWN_JOBS:
        if importlib.util.find_spec(f"spark.jobs.{name}") is not None:
            return name
    pytest.skip("no job module in spark.jobs yet")


def backend(aws: Aws, tmp_path: Path, *, transient: bool = False, **config: Any) -> EmrBackend:
    return EmrBackend(
        aws.bucket,
        "ecap",
        cluster_id=None if transient else aws.cluster_id,
        region=REGION,
        endpoint_url=aws.endpoint,
        cache_dir=str(tmp_path / "packages"),
        **config,
    )


def spec(job: str, run_id: str = "run-1", **changes: Any) -> JobSpec:
    values: dict[str, Any] = {
        "job": job,
        "args": ["--lake", "s3://ecap-lake/prod", "--run-id", "0190b8c2-1b7a-7c4e-9f1e-1234567890ab", "--top", "a b"],
        "run_id": run_id,
        "timeout_seconds": 600,
        "env": {},
    }
    values.update(changes)
    return JobSpec(**values)


def s3_bytes(aws: Aws, key: str) -> bytes:
    body: bytes = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    return body


def keys(aws: Aws) -> set[str]:
    return {item["Key"] for item in aws.s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])}


def describe(aws: Aws, handle: str) -> dict[str, Any]:
    cluster_id, step_id = handle.split(":")
    step: dict[str, Any] = aws.emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    return step


def test_submit_to_a_running_cluster_uploads_the_run_and_adds_exactly_this_step(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))

    cluster_id, step_id = submission.handle.split(":")
    assert cluster_id == aws.cluster_id
    assert submission.backend == "emr"
    assert submission.log_location == f"s3://{aws.bucket}/cluster-logs/{cluster_id}/steps/{step_id}/"
    run = f"s3://{aws.bucket}/ecap/runs/run-1"
    assert {f"ecap/runs/run-1/{name}" for name in ("spark.zip", "entry.py", "args.json", "submission.json")} <= keys(
        aws
    )
    assert s3_bytes(aws, "ecap/runs/run-1/entry.py") == (ROOT / "spark/submit/entry.py").read_bytes()
    names = zipfile.ZipFile(io.BytesIO(s3_bytes(aws, "ecap/runs/run-1/spark.zip"))).namelist()
    assert {"spark/__init__.py", "spark/jobs/base.py", f"spark/jobs/{job}.py", "spark/submit/entry.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    recorded = json.loads(s3_bytes(aws, "ecap/runs/run-1/args.json"))
    assert recorded["job"] == job
    assert recorded["args"] == spec(job).args
    assert recorded["timeout_seconds"] == 600
    assert recorded["transient_cluster"] is False

    step = describe(aws, submission.handle)
    assert step["Name"] == f"ecap:{job}:run-1"
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--name",
        f"ecap-{job}",
        "--conf",
        "spark.pyspark.driver.python=/usr/bin/python3.11",
        "--conf",
        "spark.pyspark.python=/usr/bin/python3.11",
        "--py-files",
        f"{run}/spark.zip",
        f"{run}/entry.py",
        "--summary-uri",
        f"{run}/summary.json",
        job,
        "--lake",
        "s3://ecap-lake/prod",
        "--run-id",
        "0190b8c2-1b7a-7c4e-9f1e-1234567890ab",
        "--top",
        "a b",
    ]


def test_environment_reaches_driver_and_executors_but_secret_names_are_refused(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job, env={"ECAP_S3_SCHEME": "s3"}))
    args = describe(aws, submission.handle)["Config"]["Args"]
    assert "spark.yarn.appMasterEnv.ECAP_S3_SCHEME=s3" in args
    assert "spark.executorEnv.ECAP_S3_SCHEME=s3" in args

    for name in ("ECAP_LINEAGE_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "API_KEY"):
        with pytest.raises(SubmitError) as refused:
            emr.submit(spec(job, run_id=f"secret-{name.lower()}", env={name: "x"}))
        assert refused.value.code == "invalid_env"


def test_transient_cluster_follows_the_platform_shape_and_terminates_after_its_step(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path, transient=True, tags={"env": "staging"})
    submission = emr.submit(spec(job, run_id="run-transient"))

    cluster_id, step_id = submission.handle.split(":")
    assert cluster_id != aws.cluster_id
    cluster = aws.emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert re.fullmatch(r"emr-7\.\d+\.\d+", cluster["ReleaseLabel"])
    assert [a["Name"] for a in cluster["Applications"]] == ["Spark"]
    assert cluster["AutoTerminate"] is True
    assert cluster["LogUri"] == f"s3://{aws.bucket}/ecap/logs/"
    assert cluster["ServiceRole"] == "EMR_DefaultRole"
    assert cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == "EMR_EC2_DefaultRole"
    assert cluster["StepConcurrencyLevel"] == 1
    assert cluster["VisibleToAllUsers"] is True
    tags = {t["Key"]: t["Value"] for t in cluster["Tags"]}
    assert tags == {"project": "ecap", "ecap:component": "spark", "ecap:job": job, "ecap:run-id": "run-transient"} | {
        "env": "staging"
    }
    groups = {g["InstanceGroupType"]: g for g in aws.emr.list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]}
    assert (groups["MASTER"]["InstanceType"], groups["MASTER"]["RequestedInstanceCount"]) == ("m5.xlarge", 1)
    assert (groups["CORE"]["InstanceType"], groups["CORE"]["RequestedInstanceCount"]) == ("m5.large", 2)
    assert find_cluster(cluster_id).keep_job_flow_alive_when_no_steps is False

    [bootstrap] = aws.emr.list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    assert bootstrap["ScriptPath"] == f"s3://{aws.bucket}/ecap/runs/run-transient/bootstrap.sh"
    script = s3_bytes(aws, "ecap/runs/run-transient/bootstrap.sh").decode()
    pin = re.search(r"^openlineage-python==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pin is not None
    assert f"openlineage-python=={pin.group(1)}" in script
    assert "/usr/bin/python3.11 -m pip install" in script

    step = describe(aws, submission.handle)
    assert step["Id"] == step_id
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert json.loads(s3_bytes(aws, "ecap/runs/run-transient/args.json"))["transient_cluster"] is True
    assert submission.log_location == f"s3://{aws.bucket}/ecap/logs/{cluster_id}/steps/{step_id}/"


def test_transient_cluster_must_be_emr_7(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path, transient=True, release_label="emr-6.15.0")
    with pytest.raises(SubmitError) as refused:
        emr.submit(spec(job))
    assert refused.value.code == "invalid_config"
    assert not keys(aws)


def test_package_zip_is_identical_for_identical_sources_and_built_once(tmp_path: Path):
    first = build_package(tmp_path / "a")
    second = build_package(tmp_path / "b")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    modified = first.path.stat().st_mtime_ns
    again = build_package(tmp_path / "a")
    assert again.path == first.path
    assert again.path.stat().st_mtime_ns == modified


def test_poll_follows_the_step_from_pending_to_running(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    first = emr.submit(spec(job, run_id="first"))
    second = emr.submit(spec(job, run_id="second"))  # queued behind the first (StepConcurrencyLevel 1)

    assert emr.poll(second.handle).state == RunState.PENDING
    started = datetime.now(UTC) - timedelta(seconds=5)
    set_step_state(first.handle, "RUNNING", started_at=started)
    status = emr.poll(first.handle)
    assert status.state == RunState.RUNNING
    assert status.started_at == started.replace(microsecond=started.microsecond // 1000 * 1000)
    assert status.finished_at is None


def test_completed_step_reads_the_summary_line_from_the_step_stdout_log(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "COMPLETED", ended_at=datetime.now(UTC))
    stdout = 'loading\nECAP_SUMMARY {"rows": 12, "run_id": "r"}\n'
    put_gzipped(aws.s3, submission.log_location + "stdout.gz", stdout)

    status = emr.poll(submission.handle)
    assert status.state == RunState.SUCCEEDED
    assert status.exit_code == 0
    assert status.summary == {"rows": 12, "run_id": "r"}
    assert status.finished_at is not None
    assert status.log_location == submission.log_location


def test_completed_step_prefers_the_summary_the_driver_wrote(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    aws.s3.put_object(Bucket=aws.bucket, Key="ecap/runs/run-1/summary.json", Body=b'{"rows": 3}')
    set_step_state(submission.handle, "COMPLETED")

    assert emr.poll(submission.handle).summary == {"rows": 3}


def test_completed_step_without_any_summary_yet_has_none(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "COMPLETED")

    status = emr.poll(submission.handle)
    assert status.state == RunState.SUCCEEDED
    assert status.summary is None


def test_failed_step_error_is_the_end_of_its_logs_from_s3(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "FAILED", ended_at=datetime.now(UTC))
    chatter = "".join(f"26/11/26 10:00:{i:02d} INFO Client: Application report (state: RUNNING)\n" for i in range(50))
    stderr = (
        chatter
        + "Exception in thread main org.apache.spark.SparkException: Application application_1_0001 finished with "
        "failed status\n"
    )
    put_gzipped(aws.s3, submission.log_location + "stderr.gz", stderr)
    put_gzipped(aws.s3, submission.log_location + "stdout.gz", "job rfm failed: ValueError: no orders\n")

    status = emr.poll(submission.handle)
    assert status.state == RunState.FAILED
    assert "finished with failed status" in status.error
    assert status.error.rstrip().endswith("job rfm failed: ValueError: no orders")
    assert "Application report" not in status.error
    assert status.summary is None

    logs = emr.logs(submission.handle, tail=3)
    assert "--- stdout ---\njob rfm failed: ValueError: no orders" in logs
    assert "Application report" in logs  # logs are the raw tail
    assert logs.count("\n") < 12


def test_failed_step_before_its_logs_reach_s3_says_where_they_will_be(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "FAILED")

    status = emr.poll(submission.handle)
    assert status.state == RunState.FAILED
    assert submission.log_location in status.error
    assert f"(not in S3 yet: {submission.log_location}stderr.gz)" in emr.logs(submission.handle)


def test_cancel_cancels_the_step_and_the_run_reads_cancelled(
    aws: Aws, tmp_path: Path, job: str, cancels: list[dict[str, Any]]
):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    cluster_id, step_id = submission.handle.split(":")

    emr.cancel(submission.handle)
    assert cancels == [{"ClusterId": cluster_id, "StepIds": [step_id], "Option": "SEND_INTERRUPT"}]
    assert find_step(submission.handle).state == "CANCELLED"
    status = backend(aws, tmp_path).poll(submission.handle)  # another process: a new backend
    assert status.state == RunState.CANCELLED
    assert status.error == "cancelled"

    emr.cancel(submission.handle)  # already over: nothing more is asked of EMR
    assert len(cancels) == 1


def test_a_step_already_being_cancelled_is_recorded_as_cancelled_without_asking_again(
    aws: Aws, tmp_path: Path, job: str, cancels: list[dict[str, Any]]
):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "CANCEL_PENDING", started_at=datetime.now(UTC))
    assert emr.poll(submission.handle).state == RunState.RUNNING  # cancelled elsewhere, not yet over

    emr.cancel(submission.handle)
    assert cancels == []
    assert emr.poll(submission.handle).state == RunState.CANCELLED


def test_cancel_leaves_a_finished_step_alone(aws: Aws, tmp_path: Path, job: str, cancels: list[dict[str, Any]]):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "COMPLETED")

    emr.cancel(submission.handle)
    assert cancels == []
    assert emr.poll(submission.handle).state == RunState.SUCCEEDED


def test_poll_past_the_timeout_cancels_the_step_and_reports_timed_out(
    aws: Aws, tmp_path: Path, job: str, cancels: list[dict[str, Any]]
):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job, timeout_seconds=60))
    set_step_state(submission.handle, "RUNNING", started_at=datetime.now(UTC) - timedelta(seconds=30))
    assert emr.poll(submission.handle).state == RunState.RUNNING
    assert cancels == []

    set_step_state(submission.handle, "RUNNING", started_at=datetime.now(UTC) - timedelta(seconds=61))
    status = emr.poll(submission.handle)
    assert status.state == RunState.TIMED_OUT
    assert "60 s" in status.error
    assert len(cancels) == 1
    assert find_step(submission.handle).state == "CANCELLED"

    later = backend(aws, tmp_path).poll(submission.handle)
    assert later.state == RunState.TIMED_OUT
    assert len(cancels) == 1


def test_step_cancelled_because_the_cluster_failed_is_a_failure(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path, transient=True)
    submission = emr.submit(spec(job, run_id="boot-fails"))
    cluster = find_cluster(submission.handle.split(":")[0])
    cluster.state = "TERMINATED_WITH_ERRORS"
    cluster.last_state_change_reason = "bootstrap action 1 returned a non-zero return code"
    set_step_state(submission.handle, "CANCELLED")

    status = emr.poll(submission.handle)
    assert status.state == RunState.FAILED
    assert "bootstrap action 1 returned a non-zero return code" in status.error


def test_step_cancelled_outside_the_portal_reads_cancelled(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    submission = emr.submit(spec(job))
    set_step_state(submission.handle, "CANCELLED")

    assert emr.poll(submission.handle).state == RunState.CANCELLED


def test_find_recovers_a_submission_by_run_id(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    assert emr.find("never-submitted") is None
    submission = emr.submit(spec(job, run_id="lost-worker"))
    assert emr.find("lost-worker") == submission

    # The submitter died after adding the step, before recording it: the step is found by its name.
    aws.s3.delete_object(Bucket=aws.bucket, Key="ecap/runs/lost-worker/submission.json")
    assert emr.find("lost-worker") == submission
    transient = backend(aws, tmp_path, transient=True)
    made = transient.submit(spec(job, run_id="lost-transient"))
    aws.s3.delete_object(Bucket=aws.bucket, Key="ecap/runs/lost-transient/submission.json")
    assert transient.find("lost-transient") == made


def test_the_same_run_is_not_submitted_twice(aws: Aws, tmp_path: Path, job: str):
    emr = backend(aws, tmp_path)
    emr.submit(spec(job))
    with pytest.raises(SubmitError) as refused:
        emr.submit(spec(job))
    assert refused.value.code == "duplicate_run"
    assert len(find_cluster(aws.cluster_id).steps) == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"job": "no_such_job"}, "invalid_job"),
        ({"job": "base"}, "invalid_job"),
        ({"job": "__init__"}, "invalid_job"),
        ({"job": "rfm; rm -rf /"}, "invalid_job"),
        ({"job": "../jobs"}, "invalid_job"),
        ({"args": ["--lake", "s3://x\n--evil"]}, "invalid_args"),
        ({"args": ["--lake", "s3://x\x00"]}, "invalid_args"),
        ({"args": "--lake s3://x"}, "invalid_args"),
        ({"run_id": "../other"}, "invalid_run_id"),
        ({"timeout_seconds": 0}, "invalid_timeout"),
    ],
)
def test_bad_specs_are_refused_before_anything_reaches_aws(
    aws: Aws, tmp_path: Path, job: str, changes: dict[str, Any], code: str
):
    with pytest.raises(SubmitError) as refused:
        backend(aws, tmp_path).submit(spec(**{"job": job, **changes}))
    assert refused.value.code == code
    assert not keys(aws)
    assert find_cluster(aws.cluster_id).steps == []


def test_handles_of_other_shapes_are_refused(aws: Aws, tmp_path: Path):
    emr = backend(aws, tmp_path)
    for handle in ("", "j-1", "/srv/runs/x", "j-1:s-1:x", f"{aws.cluster_id}:s-NOSUCHSTEP"):
        with pytest.raises(SubmitError) as refused:
            emr.poll(handle)
        assert refused.value.code == "unknown_handle"


def test_backend_for_takes_the_portal_configuration(aws: Aws, tmp_path: Path, job: str):
    emr = backend_for(
        "emr",
        bucket=aws.bucket,
        prefix="ecap-portal",
        cluster_id=aws.cluster_id,
        region=REGION,
        endpoint_url=aws.endpoint,
        release_label="emr-7.5.0",
        service_role="EMR_DefaultRole",
        job_flow_role="EMR_EC2_DefaultRole",
    )
    submission = emr.submit(spec(job))
    assert emr.poll(submission.handle).state == RunState.RUNNING
    assert "ecap-portal/runs/run-1/spark.zip" in keys(aws)

    unconfigured = backend_for("emr", bucket="", prefix="x", region=REGION, endpoint_url=aws.endpoint)
    with pytest.raises(SubmitError) as refused:
        unconfigured.submit(spec(job))
    assert refused.value.code == "invalid_config"
    with pytest.raises(SubmitError):
        backend_for("yarn")
