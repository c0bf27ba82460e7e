"""Distributed tracing with OpenTelemetry: one trace from an HTTP request through the Celery tasks it enqueues to the
outgoing calls they make (notifications, Kubernetes, Vault, AWS) and into the Spark runs they submit.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: then nothing here runs and the code only meets OpenTelemetry's
no-op API (no exporter, no thread, no patched library). When on, each process sets itself up once, after any fork
(``tracing_setup``: ``ecap_site/wsgi.py`` and gunicorn's ``post_fork`` for the web, ``worker_process_init`` or
``worker_init`` for Celery), because an exporter thread and its sockets do not survive a fork.

What is traced: Django (spans named by route, so a credential in a path never names a span), Celery (publish and
run, with the context carried in the message headers), psycopg2 (statements with placeholders, never parameter
values), Redis (command names only), ``requests`` (notifications, the Kubernetes client, Vault through hvac) and
botocore (EMR, S3). Sampling is parent-based with a ratio for new traces; a database, Redis or HTTP call made
outside any request or task (a background thread, the broker's own polling) does not start a trace of its own.

Every span passes ``RedactingSpanProcessor`` before any exporter sees it: query strings are dropped, credential path
segments masked, the path of an outgoing call removed (a Slack or webhook URL is itself the secret), sensitive
headers dropped, and free text (exception messages, status descriptions) scrubbed like the log lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status
from opentelemetry.util.types import Attributes

from apps.common.logging import MASK, SENSITIVE_KEY, mask_secret_paths, scrub_text

logger = structlog.get_logger(__name__)

T = TypeVar("T")

TRACEPARENT_ENV = "TRACEPARENT"  # the environment variable a Spark job reads its parent trace from (W3C format)
EXCLUDED_URLS = "/healthz,/readyz,/metrics,/static/"  # probes and scrapes: many, and nothing to learn from
# Attributes holding a URL or a part of one (old and new HTTP semantic conventions).
_FULL_URL_KEYS = frozenset({"http.url", "url.full"})
_PATH_KEYS = frozenset({"http.target", "url.path"})
_QUERY_KEYS = frozenset({"url.query"})
_HEADER_KEY = re.compile(r"^http\.(?:request|response)\.header\.(.+)$")
# In free text of a client span (exception messages quote the URL): keep the origin, drop what follows it.
_URL_IN_TEXT = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s'\"]+)/[^\s'\")]*", re.IGNORECASE)
_URL_PATH_IN_TEXT = re.compile(r"(with url: )\S+", re.IGNORECASE)


class ClientRootFilter(Sampler):
    """The sampler for spans without a parent: a client call (SQL, Redis, outgoing HTTP) alone is not a trace worth
    keeping — it is a background thread or the broker's polling — so it is dropped; every other kind of root (a
    request, a task run, a publish) is sampled by ``ratio``."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"ClientRootFilter{{{self._ratio.get_description()}}}"


def sampler_build(ratio: float) -> Sampler:
    """Parent-based sampling: a span follows its parent's decision (also a remote parent's, from ``traceparent``);
    a new trace is kept with probability ``ratio`` (0 to 1)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG must be between 0 and 1, not {ratio!r}")
    return ParentBased(root=ClientRootFilter(ratio))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else ""


def _server_url(url: str) -> str:
    """An incoming request's URL without its query string and with any credential path segment masked."""
    parts = urlsplit(url)
    return _origin(url) + mask_secret_paths(parts.path)


def _client_text(text: str) -> str:
    return _URL_PATH_IN_TEXT.sub(lambda m: m.group(1) + MASK, _URL_IN_TEXT.sub(lambda m: f"{m.group(1)}/{MASK}", text))


def _scrub_value(value: Any, client: bool) -> Any:
    if isinstance(value, str):
        return scrub_text(_client_text(value) if client else value)
    if isinstance(value, tuple | list):
        return tuple(_scrub_value(item, client) for item in value)
    return value


def redact_attributes(attributes: Mapping[str, Any] | None, *, kind: SpanKind) -> dict[str, Any]:
    """Span or event attributes safe to export (see the module docstring for the rules)."""
    client = kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
    safe: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        header = _HEADER_KEY.match(key)
        if key in _QUERY_KEYS or (header and SENSITIVE_KEY.search(header.group(1))):
            continue
        if key in _FULL_URL_KEYS and isinstance(value, str):
            safe[key] = _origin(value) if client else _server_url(value)
        elif key in _PATH_KEYS and isinstance(value, str):
            if client:
                continue  # the path of an outgoing call may be the credential itself
            safe[key] = mask_secret_paths(value.split("?", 1)[0])
        else:
            safe[key] = _scrub_value(value, client)
    return safe


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of a finished span with its attributes, events and status description made safe to export."""
    kind = span.kind
    client = kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
    events = [
        Event(event.name, redact_attributes(event.attributes, kind=kind), event.timestamp) for event in span.events
    ]
    status = span.status
    if status.description:
        status = Status(
            status.status_code, scrub_text(_client_text(status.description) if client else status.description)
        )
    return ReadableSpan(
        name=mask_secret_paths(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_attributes(span.attributes, kind=kind),
        events=events,
        links=span.links,
        kind=kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanProcessor(SpanProcessor):
    """Hands the exporting processor a redacted copy of every finished span, so no exporter sees a raw one."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self._inner.on_end(redact_span(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def provider_build(
    *,
    exporter: SpanExporter,
    service_name: str,
    ratio: float,
    component: str,
    environment: str = "",
    batch: bool = True,
) -> TracerProvider:
    """A tracer provider exporting through ``exporter`` (batched off the request path unless ``batch`` is False)."""
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": "ecap",
            "deployment.environment": environment,
            "ecap.component": component,
        }
    )
    provider = TracerProvider(resource=resource, sampler=sampler_build(ratio))
    inner: SpanProcessor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(RedactingSpanProcessor(inner))
    return provider


def otlp_exporter(endpoint: str) -> SpanExporter:
    """OTLP over HTTP (protobuf) to ``<endpoint>/v1/traces``; headers and TLS from the standard ``OTEL_EXPORTER_OTLP_*``
    variables."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


def _django_request_hook(span: trace.Span, request: Any) -> None:
    """Replaces the URL attributes the Django instrumentation sets at start (the redacting processor would mask them
    at export too; doing it here keeps them safe for any other span processor), and drops regex anchors from the
    span's name."""
    if not span.is_recording():
        return
    name = getattr(span, "name", "")
    if "^" in name or "$" in name:  # a router's regex route ("api/v1/audit/^events/$") named like a path route
        span.update_name(name.replace("^", "").replace("$", ""))
    path = mask_secret_paths(getattr(request, "path", "") or "")
    span.set_attribute("http.target", path)
    try:
        span.set_attribute("http.url", _origin(request.build_absolute_uri("/")) + path)
    except Exception:  # DisallowedHost: the span keeps the masked path only
        span.set_attribute("http.url", path)


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    return [
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        Psycopg2Instrumentor(),
        RedisInstrumentor(),
        RequestsInstrumentor(),
        BotocoreInstrumentor(),
    ]


def instrument(provider: TracerProvider) -> list[Any]:
    """Patch the libraries to trace through ``provider``; returns the instrumentors (``uninstrument`` undoes them).

    Must run before Django builds its handler (the Django instrumentation adds a middleware)."""
    done = []
    for instrumentor in _instrumentors():
        if instrumentor.is_instrumented_by_opentelemetry:
            continue
        options: dict[str, Any] = {"tracer_provider": provider}
        name = type(instrumentor).__name__
        if name == "DjangoInstrumentor":
            options |= {"excluded_urls": EXCLUDED_URLS, "request_hook": _django_request_hook}
        elif name == "Psycopg2Instrumentor":
            # No SQL comments (they would defeat PostgreSQL's statement statistics) and no parameter values.
            options |= {"enable_commenter": False, "capture_parameters": False, "skip_dep_check": True}
        elif name == "RequestsInstrumentor":
            options |= {"excluded_urls": None}
        instrumentor.instrument(**options)
        done.append(instrumentor)
    return done


@dataclass
class Tracing:
    """Tracing as set up in this process: the provider and the instrumentors it patched."""

    provider: TracerProvider
    instrumentors: list[Any] = field(default_factory=list)

    def shutdown(self) -> None:
        """Undo the instrumentation and flush what is still buffered (tests; a process exiting flushes by itself)."""
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()


_active: Tracing | None = None


def tracing_setup(*, component: str) -> Tracing | None:
    """Set tracing up in this process from the settings; None (and nothing done) when no endpoint is configured.

    Idempotent: gunicorn's ``post_fork`` hook and ``wsgi.py`` both call it in a web worker. Call it after the process
    forked its workers (gunicorn's ``preload_app`` stays off; Celery's prefork pool sets up in each child), since an
    exporter's connections belong to the process that opened them."""
    global _active
    from django.conf import settings

    endpoint = str(getattr(settings, "OTEL_EXPORTER_OTLP_ENDPOINT", "") or "")
    if not endpoint:
        return None
    if _active is not None:
        return _active
    ratio = float(settings.OTEL_TRACES_SAMPLER_ARG)
    provider = provider_build(
        exporter=otlp_exporter(endpoint),
        service_name=settings.OTEL_SERVICE_NAME,
        ratio=ratio,
        component=component,
        environment=getattr(settings, "PORTAL_ENVIRONMENT", ""),
    )
    trace.set_tracer_provider(provider)
    _active = Tracing(provider, instrument(provider))
    logger.info("tracing_enabled", component=component, ratio=ratio)
    return _active


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, or None when there is none (tracing off, or outside a trace)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the active span in hex, or None outside a valid span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


@dataclass(frozen=True)
class CapturedContext:
    """The trace context and the bound log fields (request id, user id) of one moment, to continue elsewhere."""

    trace: Context
    log_fields: dict[str, Any]

    def run(self, func: Callable[..., T], *args: Any) -> T:
        """Call ``func`` (in another thread) as if from where the context was captured: its spans continue that
        trace and its log lines carry that request's fields."""
        token = otel_context.attach(self.trace)
        try:
            with structlog.contextvars.bound_contextvars(**self.log_fields):
                return func(*args)
        finally:
            otel_context.detach(token)


def context_capture() -> CapturedContext:
    """The current trace context and log fields, for work handed to a background thread (``apps.common.dispatch``).

    Only these two are carried, not the whole ``contextvars`` context: that would also carry Django's per-context
    database connection into the other thread."""
    return CapturedContext(otel_context.get_current(), structlog.contextvars.get_contextvars())
