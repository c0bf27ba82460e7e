"""moto's EMR and S3 on a loopback server in this process, and what the EMR tests need to act as the cluster.

moto never runs a step, so the tests move steps between states through moto's in-process backend, and write the
step logs EMR would copy to S3. moto 5.2 does not implement ``CancelSteps``; ``handle_cancel_steps`` adds it to the
server the way EMR answers (PENDING/RUNNING steps are cancelled, others refused), recording each call.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.emr.models import Cluster, Step, emr_backends
from moto.emr.responses import ElasticMapReduceResponse
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
CANCELLABLE = ("PENDING", "RUNNING")


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port whose backends live in this process; yields its endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def find_cluster(cluster_id: str) -> Cluster:
    """moto's record of a cluster (in whichever region the server filed it: it reads the region from the host name,
    which a loopback endpoint does not have)."""
    for backend in emr_backends[DEFAULT_ACCOUNT_ID].values():
        if cluster_id in backend.clusters:
            return backend.clusters[cluster_id]
    raise KeyError(cluster_id)


def find_step(handle: str) -> Step:
    """moto's record of the step behind a handle ``<cluster_id>:<step_id>``."""
    cluster_id, step_id = handle.split(":")
    return next(step for step in find_cluster(cluster_id).steps if step.id == step_id)


def set_step_state(
    handle: str, state: str, *, started_at: datetime | None = None, ended_at: datetime | None = None
) -> Step:
    """Move a step to ``state`` as the cluster would."""
    step = find_step(handle)
    step.state = state
    if started_at is not None:
        step.start_date_time = started_at
    if ended_at is not None:
        step.end_date_time = ended_at
    return step


def handle_cancel_steps(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Serve ``CancelSteps`` from the in-process moto server; returns the list of calls it received."""
    calls: list[dict[str, Any]] = []

    def cancel_steps(self: ElasticMapReduceResponse) -> ActionResult:
        cluster_id = self._get_param("ClusterId")
        step_ids = self._get_param("StepIds", [])
        calls.append(
            {"ClusterId": cluster_id, "StepIds": step_ids, "Option": self._get_param("StepCancellationOption")}
        )
        cluster = self.backend.describe_cluster(cluster_id)
        answers = []
        for step in cluster.steps:
            if step.id not in step_ids:
                continue
            if step.state in CANCELLABLE:
                step.state = "CANCELLED"
                answers.append({"StepId": step.id, "Status": "SUBMITTED", "Reason": ""})
            else:
                answers.append({"StepId": step.id, "Status": "FAILED", "Reason": f"step is {step.state}"})
        return ActionResult({"CancelStepsInfoList": answers})

    monkeypatch.setattr(ElasticMapReduceResponse, "cancel_steps", cancel_steps, raising=False)
    return calls


def put_gzipped(s3: Any, uri: str, text: str) -> None:
    """Write ``text`` gzipped at an ``s3://`` location, as EMR stores step logs."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(text.encode()))
