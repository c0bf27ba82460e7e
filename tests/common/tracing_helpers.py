"""Test helpers for tracing: this process traced into an in-memory exporter, and a local OTLP/HTTP receiver that
decodes what another process (a Celery worker) exports."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from apps.common.tracing import instrument, provider_build

# OTLP's span kinds (1 internal … 5 consumer) as the API's.
_KINDS = {
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}


@dataclass(frozen=True)
class SpanRecord:
    """One finished span, from either source, in one shape: ids in hex, attributes as a plain dict."""

    name: str
    kind: SpanKind
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]
    texts: tuple[str, ...] = ()  # status description and event attribute values

    def all_text(self) -> str:
        """Everything a backend would show of this span, as one string to search for secrets."""
        return " ".join([self.name, *(f"{k}={v}" for k, v in self.attributes.items()), *self.texts])


def _otlp_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(_otlp_value(v) for v in value.array_value.values)
    return getattr(value, which) if which else None


@dataclass
class Traced:
    """This process, traced through ``provider`` into ``exporter``."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self) -> list[SpanRecord]:
        records = []
        for span in self.exporter.get_finished_spans():
            texts = [span.status.description or ""]
            for event in span.events:
                texts += [str(v) for v in (event.attributes or {}).values()]
            records.append(
                SpanRecord(
                    name=span.name,
                    kind=span.kind,
                    trace_id=format(span.context.trace_id, "032x"),
                    span_id=format(span.context.span_id, "016x"),
                    parent_id=format(span.parent.span_id, "016x") if span.parent else None,
                    attributes=dict(span.attributes or {}),
                    texts=tuple(texts),
                )
            )
        return records


@contextmanager
def traced(ratio: float = 1.0) -> Iterator[Traced]:
    """Trace this process (Django, Celery publishing, psycopg2, Redis, requests, botocore) into memory, synchronously,
    through the same redaction as production; undone afterwards."""
    exporter = InMemorySpanExporter()
    provider = provider_build(
        exporter=exporter, service_name="ecap-test", ratio=ratio, component="test", environment="test", batch=False
    )
    instrumentors = instrument(provider)
    try:
        yield Traced(provider, exporter)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        provider.shutdown()


@dataclass
class OtlpReceiver:
    """``http://127.0.0.1:<port>`` accepting OTLP/HTTP protobuf exports at ``/v1/traces``; ``spans()`` decodes them."""

    requests: list[ExportTraceServiceRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def spans(self) -> list[SpanRecord]:
        with self._lock:
            requests = list(self.requests)
        records = []
        for request in requests:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        texts = [span.status.message]
                        for event in span.events:
                            texts += [str(_otlp_value(a.value)) for a in event.attributes]
                        records.append(
                            SpanRecord(
                                name=span.name,
                                kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex() or None,
                                attributes={a.key: _otlp_value(a.value) for a in span.attributes},
                                texts=tuple(texts),
                            )
                        )
        return records


def _receiver_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.add(request)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
