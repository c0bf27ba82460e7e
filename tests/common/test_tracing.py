"""Tracing: an alert posted over HTTP, the Celery tasks of a real worker that process it and the page they send are
one trace; tracing is off without an endpoint; the sampling ratio is honoured; no credential reaches a span."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from apps.common import tracing
from apps.common.testing import wait_until
from apps.common.tracing import sampler_build, tracing_setup
from apps.incidents import dispatch
from apps.incidents.services import integration_create
from tests.common.tracing_helpers import OtlpReceiver, SpanRecord, traced
from tests.conftest import celery_worker
from tests.incidents.conftest import am_alert, am_payload, make_integration  # noqa: F401 - a fixture
from tests.incidents.remediation.recording_server import RecordingServer
from tests.oncall.conftest import configure, make_contact, make_policy, sink  # noqa: F401 - fixtures

ALERT_ROUTE = r"POST integrations/v1/alertmanager/(?P<token>[A-Za-z0-9_\-]{1,200})/?"  # the route, not the token


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.close()


@pytest.fixture
def traced_worker(receiver: OtlpReceiver, tmp_path: Path, transactional_db: None) -> Iterator[Path]:
    """A real solo-pool Celery worker on the test Redis and database, exporting its spans to ``receiver``. Yields its
    log file."""
    from ecap_site.celery import app as celery_app

    # Tasks other tests left on this run's queues would start traces of their own in this worker.
    celery_app.control.purge()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "ecap-worker-test",
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # export each span soon after it ends
    }
    with celery_worker(tmp_path / "worker.log", name=f"tracing-{time.monotonic_ns()}", env=env) as log_file:
        yield log_file


def by_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {span.span_id: span for span in spans}


def ancestry(span: SpanRecord, spans: dict[str, SpanRecord]) -> list[SpanRecord]:
    """``span`` and its parents up to the root, each of which must be among ``spans``."""
    chain = [span]
    while chain[-1].parent_id is not None:
        parent = spans.get(chain[-1].parent_id)
        assert parent is not None, f"the parent of {chain[-1].name} was not exported"
        chain.append(parent)
    return chain


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_alert_request_its_tasks_in_a_worker_and_the_page_they_send_are_one_trace(
    traced_worker: Path,
    receiver: OtlpReceiver,
    make_user: Callable[..., Any],
    make_contact: Callable[..., Any],  # noqa: F811
    make_policy: Callable[..., Any],  # noqa: F811
    sink: RecordingServer,  # noqa: F811
) -> None:
    alice = make_user(role="oncall_engineer", username="alice")
    make_contact(alice, "webhook", f"{sink.url}/hook/alice", delay=0)
    make_policy("critical", [("users", [alice]), ("wait", 30)])
    _, token = integration_create(kind="alertmanager", name="prometheus-prod")

    with traced() as web:
        response = Client().post(
            f"/integrations/v1/alertmanager/{token}/", am_payload(am_alert()), content_type="application/json"
        )
        assert response.status_code == 202
        assert dispatch.drain()  # the intake publishes from a background thread
        wait_until(lambda: len(sink.requests("POST")) == 1)
        # The send task's span ends after the page's HTTP call; both reach the receiver soon after.
        wait_until(lambda: any(s.name == "run/oncall.send_delivery" for s in receiver.spans()))
        web_spans = web.spans()

    worker_spans = receiver.spans()
    spans = web_spans + worker_spans
    assert {span.trace_id for span in spans} == {web_spans[0].trace_id}, "every span belongs to one trace"
    trace_id = web_spans[0].trace_id

    # The outgoing page, up through the tasks, to the HTTP intake: each span the child of the one before.
    [page] = [s for s in worker_spans if s.kind == SpanKind.CLIENT and s.attributes.get("http.method") == "POST"]
    chain = ancestry(page, by_id(spans))
    names = [s.name for s in chain]
    # (The first escalation step runs inside payload processing; later steps would add run_step spans.)
    assert names == [
        "POST",
        "run/oncall.send_delivery",
        "apply_async/oncall.send_delivery",
        "run/incidents.process_payload",
        "apply_async/incidents.process_payload",
        ALERT_ROUTE,
    ]
    assert [s.kind for s in chain] == [
        SpanKind.CLIENT, SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.SERVER
    ]  # fmt: skip
    assert chain[-1].parent_id is None
    assert chain[names.index("apply_async/incidents.process_payload")] in web_spans  # published by the web process
    assert all(s in worker_spans for s in chain[: names.index("run/incidents.process_payload") + 1])

    # The receiver of the page got the context of the page's own span.
    [received] = sink.requests("POST")
    traceparent = received.headers["traceparent"]
    assert traceparent.split("-")[1:3] == [trace_id, page.span_id]

    # The worker's log lines of the payload task carry the request's id and the ids of the task's span.
    run_span = next(s for s in chain if s.name == "run/incidents.process_payload")
    lines = [json.loads(line) for line in traced_worker.read_text().splitlines() if line.startswith("{")]
    task_lines = [line for line in lines if line.get("span_id") == run_span.span_id]
    assert task_lines
    assert {line["trace_id"] for line in task_lines} == {trace_id}
    assert {line.get("request_id") for line in task_lines} == {response["X-Request-ID"]}

    # The integration token travels in the path; no span (web or worker) carries it.
    assert not [s.name for s in spans if token in s.all_text()]
    assert "/hook/alice" not in " ".join(s.all_text() for s in worker_spans)  # a webhook URL is a credential


def test_tracing_is_off_without_an_endpoint(settings: Any) -> None:
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = ""
    assert tracing_setup(component="web") is None
    assert tracing._active is None
    assert not isinstance(trace.get_tracer_provider(), tracing.TracerProvider)
    assert not any("opentelemetry" in name for name in settings.MIDDLEWARE)
    with trace.get_tracer("test").start_as_current_span("work") as span:
        assert not span.is_recording()
        assert not span.get_span_context().is_valid
    assert tracing.current_traceparent() is None


@pytest.mark.django_db
def test_no_span_without_an_endpoint_even_for_a_request(client: Client, settings: Any) -> None:
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = ""
    tracing_setup(component="web")
    response = client.get("/api/v1/")
    assert "traceparent" not in response.headers
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    assert not DjangoInstrumentor().is_instrumented_by_opentelemetry


def test_the_endpoint_turns_tracing_on_with_the_configured_ratio_and_service(
    settings: Any, monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url
    settings.OTEL_TRACES_SAMPLER_ARG = 0.25
    settings.OTEL_SERVICE_NAME = "ecap-portal-test"
    installed: list[Any] = []
    monkeypatch.setattr(tracing.trace, "set_tracer_provider", installed.append)  # the process-wide one stays unset
    monkeypatch.setattr(tracing, "instrument", lambda provider: [])
    monkeypatch.setattr(tracing, "_active", None)
    setup = tracing_setup(component="worker")
    assert setup is not None
    assert installed == [setup.provider]
    assert tracing_setup(component="worker") is setup  # once per process
    assert "TraceIdRatioBased{0.25}" in setup.provider.sampler.get_description()
    assert setup.provider.resource.attributes["service.name"] == "ecap-portal-test"
    assert setup.provider.resource.attributes["ecap.component"] == "worker"
    with setup.provider.get_tracer("test").start_as_current_span("exported", kind=SpanKind.SERVER) as span:
        sampled = span.get_span_context().trace_flags.sampled
    setup.provider.force_flush()
    setup.provider.shutdown()
    assert ([s.name for s in receiver.spans()] == ["exported"]) is sampled  # exported over OTLP when kept


def _sampled_fraction(sampler: Any) -> float:
    """The share of 1,024 evenly spread trace ids the sampler keeps as new (root, server) traces."""
    step = 2**64 // 1024
    kept = sum(
        sampler.should_sample(None, (i * step) | (1 << 100), "GET /", kind=SpanKind.SERVER).decision.is_sampled()
        for i in range(1024)
    )
    return kept / 1024


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_the_ratio_decides_new_traces(ratio: float) -> None:
    assert abs(_sampled_fraction(sampler_build(ratio)) - ratio) <= 1 / 1024


@pytest.mark.parametrize(("parent_sampled", "ratio"), [(True, 0.0), (False, 1.0)])
def test_a_span_with_a_parent_follows_the_parents_decision(parent_sampled: bool, ratio: float) -> None:
    parent = SpanContext(
        trace_id=0x1234,
        span_id=0x99,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT),
    )
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    result = sampler_build(ratio).should_sample(context, 0x1234, "run/x", kind=SpanKind.CONSUMER)
    assert result.decision.is_sampled() is parent_sampled


def test_a_client_call_outside_any_trace_starts_none() -> None:
    result = sampler_build(1.0).should_sample(None, 0x1234, "SELECT", kind=SpanKind.CLIENT)
    assert result.decision == Decision.DROP


def test_a_bad_ratio_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        sampler_build(1.5)


@pytest.mark.django_db
def test_ratio_zero_records_no_request(client: Client) -> None:
    with traced(ratio=0.0) as web:
        assert client.get("/healthz").status_code == 200
        assert Client().get("/api/v1/").status_code in (401, 403)
        assert web.spans() == []


@pytest.mark.django_db(transaction=True)
def test_a_request_span_is_named_by_its_route_and_sql_spans_carry_no_values(token_client: Callable[..., Any]) -> None:
    api, user = token_client("auditor")
    connection.close()  # psycopg2 is traced from the next connection on, as in a process set up at start
    with traced() as web:
        response = api.get(f"/api/v1/audit/events/?actor={user.public_id}")
        assert response.status_code == 200
        spans = web.spans()
    [server] = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.name == "GET api/v1/audit/events/"
    sql = [s for s in spans if "db.statement" in s.attributes]
    assert sql, "psycopg2 is traced"
    assert all(s.parent_id is not None and s.trace_id == server.trace_id for s in sql)
    statements = " ".join(str(s.attributes["db.statement"]) for s in sql)
    assert "%s" in statements
    assert str(user.public_id) not in statements
    assert user.username not in " ".join(s.all_text() for s in spans)


@pytest.mark.django_db
def test_no_token_in_a_path_and_no_authorization_header_reaches_a_span(
    token_client: Callable[..., Any],
    make_integration: Callable[..., Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Even with every request header captured (an operator's setting), credentials stay out.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")
    api, _ = token_client("integrator")
    raw_token = api._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    _, integration_token = make_integration()
    with traced() as web:
        api.post(
            f"/integrations/v1/alertmanager/{integration_token}/?token=querysecret123&email=a.person@example.com",
            am_payload(am_alert()),
            format="json",
            HTTP_COOKIE="sessionid=cookiesecret456",
            HTTP_X_API_KEY="apikeysecret789",
            HTTP_USER_AGENT="alertmanager/0.28",
        )
        spans = web.spans()
    assert any(s.name == ALERT_ROUTE for s in spans)
    assert any(k == "http.request.header.user_agent" for s in spans for k in s.attributes), "headers were captured"
    text = " ".join(s.all_text() for s in spans)
    for secret in (integration_token, raw_token, "querysecret123", "a.person@example.com", "cookiesecret456",
                   "apikeysecret789"):  # fmt: skip
        assert secret not in text
    server = next(s for s in spans if s.name == ALERT_ROUTE)
    assert server.attributes["http.target"] == "/integrations/v1/alertmanager/[REDACTED]/"


def test_an_outgoing_call_keeps_its_origin_but_not_its_path_or_query(sink_server: RecordingServer) -> None:
    secret_url = f"{sink_server.url}/hook/services/T000/B000/slacksecret0123?token=querysecret"
    with traced() as local:
        tracer = local.provider.get_tracer("test")
        with tracer.start_as_current_span("run/oncall.send_delivery", kind=SpanKind.CONSUMER):
            requests.post(secret_url, json={"text": "page"}, timeout=5)
            with pytest.raises(requests.ConnectionError):
                requests.post("http://127.0.0.1:9/hook/unreachablesecret0123", timeout=5)
        spans = local.spans()
    calls = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert len(calls) == 2
    assert calls[0].attributes["http.url"] == sink_server.url
    text = " ".join(s.all_text() for s in spans)
    assert "slacksecret0123" not in text
    assert "querysecret" not in text
    assert "unreachablesecret0123" not in text
    assert "ConnectionError" in " ".join(calls[1].texts)  # the failure is still explained
    # The receiving end still learns the trace.
    [received] = sink_server.requests("POST")
    assert received.headers["traceparent"].split("-")[1] == calls[0].trace_id


@pytest.fixture
def sink_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


def test_settings_default_to_tracing_off() -> None:
    assert settings.OTEL_SERVICE_NAME
    assert 0.0 <= settings.OTEL_TRACES_SAMPLER_ARG <= 1.0
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        assert settings.OTEL_EXPORTER_OTLP_ENDPOINT == ""
