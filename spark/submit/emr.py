"""Runs a job as an EMR step, on a running cluster or on a transient cluster that ends with its step (boto3).

``submit`` uploads the ``spark`` package zip, the entry script and the run's arguments to
``s3://<bucket>/<prefix>/runs/<run_id>/`` and adds the step ``spark-submit … entry.py <job> <args…>`` through
``command-runner.jar``. The handle is ``<cluster_id>:<step_id>``. The driver copies the job's summary to
``runs/<run_id>/summary.json`` (in cluster deploy mode its stdout never reaches the step's log); the
``ECAP_SUMMARY`` line of the step's ``stdout.gz`` is the fallback (client deploy mode). Failures are explained from the
step's ``stderr.gz``/``stdout.gz`` under the cluster's log URI. Timeouts are enforced when polling: the step is
cancelled and the run reported TIMED_OUT. A stop (cancel or timeout) is remembered in ``runs/<run_id>/stop.json``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError

from spark.submit.base import (
    DEFAULT_JOB_PACKAGE,
    JobSpec,
    RunState,
    RunStatus,
    Submission,
    SubmitError,
    check_run_id,
    check_spec,
    failure_excerpt,
    parse_summary,
    tail_lines,
)
from spark.submit.emr_steps import DEFAULT_RELEASE_LABEL, ClusterShape, check_env_for_emr, run_id_of, split_s3
from spark.submit.package import build_package

ENTRY_SCRIPT = Path(__file__).resolve().with_name("entry.py")
HANDLE = re.compile(r"^(j-[A-Za-z0-9]+):(s-[A-Za-z0-9]+)$")
FIND_WINDOW = timedelta(days=2)  # how far back a lost transient cluster is looked for


@contextlib.contextmanager
def network_errors() -> Iterator[None]:
    """AWS being unreachable surfaces as the built-in ``ConnectionError``, which callers retry."""
    try:
        yield
    except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as exc:
        raise ConnectionError(str(exc)) from exc


class EmrBackend:
    """EMR steps through boto3: on ``cluster_id`` when given, else on a transient cluster per run."""

    name = "emr"

    def __init__(
        self,
        bucket: str | None = "",
        prefix: str | None = "ecap",
        *,
        cluster_id: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        release_label: str | None = DEFAULT_RELEASE_LABEL,
        service_role: str | None = "EMR_DefaultRole",
        job_flow_role: str | None = "EMR_EC2_DefaultRole",
        master_instance_type: str = "m5.xlarge",
        core_instance_type: str = "m5.large",
        core_instance_count: int = 2,
        deploy_mode: str = "cluster",
        python: str = "/usr/bin/python3.11",
        openlineage_version: str | None = None,
        spark_conf: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        subnet_id: str | None = None,
        security_configuration: str | None = None,
        idle_timeout_seconds: int = 3600,
        cache_dir: str | None = None,
        session: Any = None,
    ) -> None:
        self.bucket = bucket or ""
        self.prefix = (prefix or "").strip("/")
        self.cluster_id = cluster_id or None
        self.region = region or None
        self.endpoint_url = endpoint_url or None
        self.shape = ClusterShape(
            release_label=release_label or DEFAULT_RELEASE_LABEL,
            service_role=service_role or "EMR_DefaultRole",
            job_flow_role=job_flow_role or "EMR_EC2_DefaultRole",
            master_instance_type=master_instance_type,
            core_instance_type=core_instance_type,
            core_instance_count=core_instance_count,
            deploy_mode=deploy_mode,
            python=python,
            openlineage_version=openlineage_version,
            spark_conf=dict(spark_conf or {}),
            tags=dict(tags or {}),
            subnet_id=subnet_id,
            security_configuration=security_configuration,
            idle_timeout_seconds=idle_timeout_seconds,
        )
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.session = session
        self._log_uris: dict[str, str | None] = {}
        self._timeouts: dict[str, int | None] = {}

    # AWS clients, built on first use so that a backend can be configured without credentials

    def _client(self, service: str) -> Any:
        session = self.session or boto3.session.Session()
        config = Config(retries={"mode": "standard", "max_attempts": 5})
        return session.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config)

    @cached_property
    def emr(self) -> Any:
        """The EMR client."""
        return self._client("emr")

    @cached_property
    def s3(self) -> Any:
        """The S3 client."""
        return self._client("s3")

    # S3 layout

    def key(self, *parts: str) -> str:
        """An S3 key under the configured prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket()}/{key}"

    def run_key(self, run_id: str, name: str) -> str:
        """The key of a file of a run: ``<prefix>/runs/<run_id>/<name>``."""
        return self.key("runs", check_run_id(run_id), name)

    @property
    def log_uri(self) -> str:
        """Where transient clusters write their logs."""
        return self.uri(self.key("logs")) + "/"

    def _bucket(self) -> str:
        if not self.bucket:
            raise SubmitError("no S3 bucket is configured for EMR runs", code="invalid_config")
        return self.bucket

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self._bucket(), Key=key, Body=body, ContentType=content_type)

    def _get(self, key: str, bucket: str | None = None) -> bytes | None:
        try:
            response = self.s3.get_object(Bucket=bucket or self._bucket(), Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        body: bytes = response["Body"].read()
        return body

    def _get_json(self, key: str) -> dict[str, Any] | None:
        data = self._get(key)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # Submitting

    def submit(self, spec: JobSpec) -> Submission:
        """Upload the run's files and add its step (to the cluster, or to a new transient cluster)."""
        spec = check_spec(spec, DEFAULT_JOB_PACKAGE)
        check_env_for_emr(spec.env)
        self._bucket()
        transient = self.cluster_id is None
        if transient:
            self.shape.check_release()
        run_uri = self.uri(self.key("runs", spec.run_id))
        with network_errors():
            if self._get(self.run_key(spec.run_id, "submission.json")) is not None:
                raise SubmitError(f"run {spec.run_id} was already submitted", code="duplicate_run")
            package = build_package(self.cache_dir)
            self._put(self.run_key(spec.run_id, "spark.zip"), package.path.read_bytes(), "application/zip")
            self._put(self.run_key(spec.run_id, "entry.py"), ENTRY_SCRIPT.read_bytes(), "text/x-python")
            self._put(
                self.run_key(spec.run_id, "args.json"),
                self.args_document(spec, package.sha256, transient),
                "application/json",
            )
            step = self.shape.step(spec, run_uri, transient=transient)
            if transient:
                bootstrap = self.run_key(spec.run_id, "bootstrap.sh")
                self._put(bootstrap, self.shape.bootstrap_script().encode(), "text/x-sh")
                flow = self.shape.job_flow(spec, step, log_uri=self.log_uri, bootstrap_uri=self.uri(bootstrap))
                cluster_id = self.emr.run_job_flow(**flow)["JobFlowId"]
                steps = self.emr.list_steps(ClusterId=cluster_id)["Steps"]
                step_id = next(s["Id"] for s in steps if s["Name"] == step["Name"])
                self._log_uris[cluster_id] = self.log_uri
            else:
                cluster_id = str(self.cluster_id)
                step_id = self.emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step])["StepIds"][0]
            submission = Submission(
                backend=self.name,
                handle=f"{cluster_id}:{step_id}",
                log_location=self._step_log_location(cluster_id, step_id),
            )
            document = {"handle": submission.handle, "log_location": submission.log_location}
            self._put(self.run_key(spec.run_id, "submission.json"), json.dumps(document).encode(), "application/json")
        return submission

    def args_document(self, spec: JobSpec, package_sha256: str, transient: bool) -> bytes:
        """The run's ``args.json``: what was submitted (environment names only) and its timeout."""
        return json.dumps(
            {
                "job": spec.job,
                "args": spec.args,
                "run_id": spec.run_id,
                "timeout_seconds": spec.timeout_seconds,
                "env_names": sorted(spec.env),
                "package_sha256": package_sha256,
                "transient_cluster": transient,
                "deploy_mode": self.shape.deploy_mode,
                "submitted_at": datetime.now(UTC).isoformat(),
            },
            indent=2,
            sort_keys=True,
        ).encode()

    def find(self, run_id: str) -> Submission | None:
        """The submission of ``run_id`` if its step exists (for a submitter that died before recording it)."""
        check_run_id(run_id)
        with network_errors():
            recorded = self._get_json(self.run_key(run_id, "submission.json"))
            if recorded and HANDLE.match(str(recorded.get("handle", ""))):
                return Submission(self.name, str(recorded["handle"]), str(recorded.get("log_location", "")))
            clusters = [self.cluster_id] if self.cluster_id else self._recent_clusters(run_id)
            for cluster_id in clusters:
                for page in self.emr.get_paginator("list_steps").paginate(ClusterId=cluster_id):
                    for step in page["Steps"]:
                        if run_id_of(step.get("Name", "")) == run_id:
                            location = self._step_log_location(cluster_id, step["Id"])
                            return Submission(self.name, f"{cluster_id}:{step['Id']}", location)
        return None

    def _recent_clusters(self, run_id: str) -> list[str]:
        since = datetime.now(UTC) - FIND_WINDOW
        found = []
        for page in self.emr.get_paginator("list_clusters").paginate(CreatedAfter=since):
            found += [c["Id"] for c in page["Clusters"] if c.get("Name", "").endswith(f"-{run_id}")]
        return found

    # Following

    def parse_handle(self, handle: str) -> tuple[str, str]:
        """(cluster id, step id) of a handle ``j-…:s-…``."""
        match = HANDLE.match(handle) if isinstance(handle, str) else None
        if match is None:
            raise SubmitError(f"not an EMR run handle: {handle!r}", code="unknown_handle")
        return match.group(1), match.group(2)

    def _describe_step(self, cluster_id: str, step_id: str) -> dict[str, Any]:
        try:
            step: dict[str, Any] | None = self.emr.describe_step(ClusterId=cluster_id, StepId=step_id).get("Step")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("InvalidRequestException", "ValidationException"):
                raise SubmitError(f"no EMR step {cluster_id}:{step_id}", code="unknown_handle") from exc
            raise
        if not step:
            raise SubmitError(f"no EMR step {cluster_id}:{step_id}", code="unknown_handle")
        return step

    def poll(self, handle: str) -> RunStatus:
        """The step's state mapped to a run state; cancels the step when the run's timeout has passed."""
        cluster_id, step_id = self.parse_handle(handle)
        with network_errors():
            step = self._describe_step(cluster_id, step_id)
            status = step.get("Status", {})
            state = status.get("State", "PENDING")
            timeline = status.get("Timeline", {})
            run_id = run_id_of(step.get("Name", ""))
            common: dict[str, Any] = {
                "log_location": self._step_log_location(cluster_id, step_id),
                "started_at": timeline.get("StartDateTime"),
                "finished_at": timeline.get("EndDateTime"),
            }
            stop = self._get_json(self.run_key(run_id, "stop.json")) if run_id else None
            if stop is not None:
                return self._stopped(stop, common)
            if state == "PENDING":
                return RunStatus(state=RunState.PENDING, **common)
            if state == "RUNNING" and run_id and self._timed_out(run_id, timeline):
                if not self._stop(cluster_id, step_id, run_id, "timed_out"):
                    return self.poll(handle)  # it ended on its own meanwhile; that end stands
                stop = self._get_json(self.run_key(run_id, "stop.json")) or {"reason": "timed_out"}
                return self._stopped(stop, {**common, "finished_at": datetime.now(UTC)})
            if state in ("RUNNING", "CANCEL_PENDING"):
                running = state == "RUNNING" or common["started_at"] is not None
                return RunStatus(state=RunState.RUNNING if running else RunState.PENDING, **common)
            if state == "COMPLETED":
                return RunStatus(
                    state=RunState.SUCCEEDED,
                    exit_code=0,
                    summary=self._summary(run_id, cluster_id, step_id),
                    **common,
                )
            if state == "FAILED":
                return RunStatus(state=RunState.FAILED, error=self._failure(cluster_id, step_id, status), **common)
            # CANCELLED or INTERRUPTED without a stop of ours: the cluster went away under the step, or someone
            # cancelled it on the console.
            reason = self._cluster_failure(cluster_id)
            if state == "CANCELLED" and not reason:
                return RunStatus(state=RunState.CANCELLED, error="cancelled outside the portal", **common)
            error = f"step {state.lower()}" + (f": {reason}" if reason else "")
            return RunStatus(state=RunState.FAILED, error=error, **common)

    def _stopped(self, stop: dict[str, Any], common: dict[str, Any]) -> RunStatus:
        finished = common.get("finished_at")
        if finished is None and isinstance(stop.get("at"), str):
            finished = datetime.fromisoformat(stop["at"])
        if stop.get("reason") == "timed_out":
            error = f"exceeded the timeout of {stop.get('timeout_seconds')} s; step cancelled"
            return RunStatus(state=RunState.TIMED_OUT, error=error, **{**common, "finished_at": finished})
        return RunStatus(state=RunState.CANCELLED, error="cancelled", **{**common, "finished_at": finished})

    def _timeout(self, run_id: str) -> int | None:
        if run_id not in self._timeouts:
            document = self._get_json(self.run_key(run_id, "args.json")) or {}
            value = document.get("timeout_seconds")
            self._timeouts[run_id] = value if isinstance(value, int) and value > 0 else None
        return self._timeouts[run_id]

    def _timed_out(self, run_id: str, timeline: dict[str, Any]) -> bool:
        timeout = self._timeout(run_id)
        # The clock starts when the step starts: waiting for a transient cluster to boot is not the job's time.
        start = timeline.get("StartDateTime") or timeline.get("CreationDateTime")
        if timeout is None or not isinstance(start, datetime):
            return False
        return datetime.now(UTC) - start > timedelta(seconds=timeout)

    def _summary(self, run_id: str | None, cluster_id: str, step_id: str) -> dict[str, Any] | None:
        if run_id:
            summary = self._get_json(self.run_key(run_id, "summary.json"))
            if summary is not None:
                return summary
        stdout = self._step_log(cluster_id, step_id, "stdout.gz")
        return parse_summary(stdout) if stdout else None

    def _failure(self, cluster_id: str, step_id: str, status: dict[str, Any]) -> str:
        details = status.get("FailureDetails") or {}
        headline = ": ".join(str(details[k]) for k in ("Reason", "Message") if details.get(k)) or "step failed"
        stdout = self._step_log(cluster_id, step_id, "stdout.gz")
        stderr = self._step_log(cluster_id, step_id, "stderr.gz")
        if stdout is None and stderr is None:
            location = self._step_log_location(cluster_id, step_id) or "(the cluster has no log URI)"
            return f"{headline}\nthe step's logs are not in S3 yet: {location}"
        return f"{headline}\n{failure_excerpt(stdout or '', stderr or '')}".strip()

    def _cluster_failure(self, cluster_id: str) -> str:
        cluster = self.emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
        status = cluster.get("Status", {})
        if status.get("State") != "TERMINATED_WITH_ERRORS":
            return ""
        reason = status.get("StateChangeReason", {})
        detail = f"{reason.get('Code', '')} {reason.get('Message', '')}".strip()
        return f"cluster {cluster_id} terminated with errors: {detail}"

    def _cluster_log_uri(self, cluster_id: str) -> str | None:
        if cluster_id not in self._log_uris:
            try:
                cluster = self.emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
            except ClientError:
                return None
            self._log_uris[cluster_id] = cluster.get("LogUri") or None
        return self._log_uris[cluster_id]

    def _step_log_location(self, cluster_id: str, step_id: str) -> str:
        """``s3://…/<cluster_id>/steps/<step_id>/`` under the cluster's log URI ("" when it keeps no logs)."""
        log_uri = self._cluster_log_uri(cluster_id)
        if not log_uri:
            return ""
        bucket, key = split_s3(log_uri)
        path = "/".join(p for p in (key.strip("/"), cluster_id, "steps", step_id) if p)
        return f"s3://{bucket}/{path}/"

    def _step_log(self, cluster_id: str, step_id: str, name: str) -> str | None:
        """A step log (``stdout.gz``/``stderr.gz``) as text, None until EMR has copied it to S3."""
        location = self._step_log_location(cluster_id, step_id)
        if not location:
            return None
        bucket, key = split_s3(location + name)
        data = self._get(key, bucket=bucket)
        if data is None:
            return None
        with contextlib.suppress(OSError, EOFError):  # some copies are stored uncompressed
            data = gzip.decompress(data)
        return data.decode("utf-8", errors="replace")

    def logs(self, handle: str, tail: int = 200) -> str:
        """The last ``tail`` lines of the step's stdout and stderr logs in S3."""
        cluster_id, step_id = self.parse_handle(handle)
        parts = []
        with network_errors():
            for name in ("stdout", "stderr"):
                text = self._step_log(cluster_id, step_id, f"{name}.gz")
                if text is None:
                    location = self._step_log_location(cluster_id, step_id) or "(the cluster has no log URI)"
                    text = f"(not in S3 yet: {location}{name}.gz)"
                parts.append(f"--- {name} ---\n{tail_lines(text, tail)}")
        return "\n".join(parts) + "\n"

    # Stopping

    def cancel(self, handle: str) -> None:
        """Cancel the step unless it has finished."""
        cluster_id, step_id = self.parse_handle(handle)
        with network_errors():
            step = self._describe_step(cluster_id, step_id)
            state = step.get("Status", {}).get("State")
            run_id = run_id_of(step.get("Name", ""))
            if state == "CANCEL_PENDING":
                self._record_stop(run_id, "cancelled")
            elif state in ("PENDING", "RUNNING"):
                self._stop(cluster_id, step_id, run_id, "cancelled")

    def _stop(self, cluster_id: str, step_id: str, run_id: str | None, reason: str) -> bool:
        """Cancel a step and remember why; False when it had already ended by itself."""
        response = self.emr.cancel_steps(
            ClusterId=cluster_id, StepIds=[step_id], StepCancellationOption="SEND_INTERRUPT"
        )
        answers: list[dict[str, Any]] = response.get("CancelStepsInfoList", [])
        answer: dict[str, Any] = next((i for i in answers if i.get("StepId") == step_id), {})
        if answer.get("Status") != "SUBMITTED":
            state = self._describe_step(cluster_id, step_id).get("Status", {}).get("State")
            if state in ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"):
                return False
            if state != "CANCEL_PENDING":
                detail = answer.get("Reason") or "no answer for the step"
                raise SubmitError(f"EMR did not cancel step {step_id}: {detail}", code="cancel_failed")
        self._record_stop(run_id, reason)
        return True

    def _record_stop(self, run_id: str | None, reason: str) -> None:
        """Remember that the portal stopped the run, and why; the first reason recorded stands."""
        if run_id and self._get(self.run_key(run_id, "stop.json")) is None:
            document = {"reason": reason, "at": datetime.now(UTC).isoformat(), "timeout_seconds": self._timeout(run_id)}
            self._put(self.run_key(run_id, "stop.json"), json.dumps(document).encode(), "application/json")
