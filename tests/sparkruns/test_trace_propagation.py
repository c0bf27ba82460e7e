"""The trace context of the request or task that submits a Spark run reaches the job (``TRACEPARENT`` in its
environment, locally and on EMR) and comes back in every OpenLineage event of the run as the ``ecap_trace`` facet.

The web → task part of the hand-off is Celery's propagation (tests/common/test_tracing.py); here the submission runs
in this process inside a span standing for the ``spark.submit_run`` task, and the job runs for real."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import (
    job_arguments,
    lineage_file,
    spark_run_poll,
    spark_run_request,
    spark_run_submit,
    trace_environment,
)
from spark.lineage import TRACE_FACET, Lineage, trace_facet
from spark.submit.base import JobSpec
from spark.submit.emr_steps import ClusterShape, check_env_for_emr

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def tracer() -> Iterator[Any]:
    provider = TracerProvider()
    yield provider.get_tracer("test")
    provider.shutdown()


def ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def assert_traceparent_of(traceparent: str, span: Any) -> None:
    """``traceparent`` names ``span`` (version 00, its trace and span ids) and says it is sampled."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, trace_id, span_id) == ("00", *ids(span))
    assert int(flags, 16) & 0x01


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (TRACEPARENT, True),
        (TRACEPARENT.upper(), True),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", True),  # not sampled: still the same trace
        (None, False),
        ("", False),
        ("garbage", False),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", False),  # an invalid version
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", False),  # an invalid trace id
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;rm -rf /", False),
    ],
)
def test_the_trace_facet_takes_only_a_well_formed_traceparent(value: str | None, kept: bool) -> None:
    facet = trace_facet(value)
    assert (facet is not None) is kept
    if facet is not None:
        assert facet.traceparent == (value or "").lower()


def test_start_and_complete_events_carry_the_trace_facet(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    lineage = Lineage(job_name="profile", run_id="3f1c6c9e-7d1a-4c55-9a55-0c8f2f0e6a11", file=str(path),
                      traceparent=TRACEPARENT)  # fmt: skip
    lineage.start()
    lineage.complete([], [])
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        facet = event["run"]["facets"][TRACE_FACET]
        assert facet["traceparent"] == TRACEPARENT
        assert facet["_producer"]
        assert facet["_schemaURL"].endswith("EcapTraceRunFacet.json")


def test_without_a_traceparent_there_is_no_trace_facet(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    Lineage(job_name="profile", run_id="3f1c6c9e-7d1a-4c55-9a55-0c8f2f0e6a11", file=str(path)).start()
    assert TRACE_FACET not in json.loads(path.read_text())["run"]["facets"]


def test_the_job_environment_carries_the_active_span_and_nothing_outside_a_trace(tracer: Any) -> None:
    assert trace_environment() == {}
    with tracer.start_as_current_span("run/spark.submit_run", kind=SpanKind.CONSUMER) as span:
        env = trace_environment()
    assert list(env) == ["TRACEPARENT"]
    assert_traceparent_of(env["TRACEPARENT"], span)


def test_an_emr_step_passes_the_traceparent_to_the_driver_and_executors(tracer: Any) -> None:
    with tracer.start_as_current_span("run/spark.submit_run", kind=SpanKind.CONSUMER):
        env = trace_environment()
    check_env_for_emr(env)  # not mistaken for a secret
    spec = JobSpec(job="profile", args=["--lake", "s3://lake/root"], run_id="r1", env=env)
    args = ClusterShape().spark_submit_args(spec, "s3://bucket/runs/r1")
    assert f"spark.yarn.appMasterEnv.TRACEPARENT={env['TRACEPARENT']}" in args
    assert f"spark.executorEnv.TRACEPARENT={env['TRACEPARENT']}" in args
    assert not [arg for arg in args[args.index("profile") :] if env["TRACEPARENT"] in arg]  # not a job argument


def wait_final(run: SparkRun, timeout: float = 240) -> SparkRun:
    deadline = time.monotonic() + timeout
    while run.state not in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT):
        if time.monotonic() > deadline:
            pytest.fail(f"run still {run.state}")
        time.sleep(1)
        run = spark_run_poll(run=run)
    return run


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_submitted_in_a_trace_emits_lineage_with_that_trace(configured_lake: str, tracer: Any) -> None:
    with tracer.start_as_current_span("POST api/v1/sparkruns/runs/", kind=SpanKind.SERVER):
        run = spark_run_request(job="generate", args=["--rows", "20", "--seed", "5"], submit=False)
    with tracer.start_as_current_span("run/spark.submit_run", kind=SpanKind.CONSUMER) as task:
        run = spark_run_submit(run_pk=run.pk)
    assert run.state == RunState.PENDING
    run = wait_final(run)
    assert run.state == RunState.SUCCEEDED, run.error

    trace_id, _ = ids(task)
    events = [json.loads(line) for line in lineage_file(run).read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert_traceparent_of(event["run"]["facets"][TRACE_FACET]["traceparent"], task)
    # Not in what the portal stores or puts on the command line.
    run.refresh_from_db()
    assert not [arg for arg in [*run.args, *job_arguments(run)] if trace_id in arg]
