"""Structured JSON logging: the request id on responses and log lines, and redaction of secrets and e-mails."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.common.logging import MASK, build_logging_config, scrub_text
from apps.common.models import User
from apps.common.services import api_token_create

TokenClient = Callable[..., tuple[APIClient, User]]

CAPTURED_LOGGERS = ("django_structlog", "test")


class LogCapture:
    """What the project's JSON formatter wrote while the test ran."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """A handler on the root logger with the project's ``structured`` JSON formatter; request logs at INFO."""
    formatter_config = build_logging_config(level="INFO", fmt="json")["formatters"]["structured"]
    formatter_class = formatter_config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_class(**formatter_config))
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    saved_levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.INFO)
    try:
        yield LogCapture(stream)
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, saved_levels, strict=True):
            lg.setLevel(level)


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


# --- request id ---------------------------------------------------------------------------------------------------


def test_response_carries_a_generated_uuid_request_id_when_none_is_sent(client: Client) -> None:
    first = client.get(reverse("healthz"))
    second = client.get(reverse("healthz"))

    assert is_uuid(first["X-Request-ID"])
    assert is_uuid(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming",
    ["req-12345678", "3f2a9c1e-7b4d-4e8a-9f0c-2d6b5a1e8c47", "01HV7Z2K8Q4M6N9P3R5T7W1Y0A", "lb:trace.42_abc"],
)
def test_well_formed_incoming_request_id_is_echoed_back_unchanged(client: Client, incoming: str) -> None:
    response = client.get(reverse("healthz"), headers={"X-Request-ID": incoming})

    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["has spaces in it", "abcdefgh\nlevel=critical", "a" * 300, "short", "semi;colon;id", ""],
)
def test_malformed_incoming_request_id_is_replaced_by_a_uuid(client: Client, incoming: str) -> None:
    response = client.get(reverse("healthz"), headers={"X-Request-ID": incoming})

    assert response["X-Request-ID"] != incoming
    assert is_uuid(response["X-Request-ID"])


def test_request_id_reaches_the_request_log_lines(client: Client, log_capture: LogCapture) -> None:
    response = client.get(reverse("healthz"), headers={"X-Request-ID": "req-12345678"})

    assert response["X-Request-ID"] == "req-12345678"
    started = log_capture.events("request_started")
    finished = log_capture.events("request_finished")
    assert [line["request_id"] for line in started] == ["req-12345678"]
    assert [line["request_id"] for line in finished] == ["req-12345678"]
    assert finished[0]["code"] == 200
    assert finished[0]["logger"] == "django_structlog.middlewares.request"


def test_malformed_request_id_never_reaches_the_log_lines(client: Client, log_capture: LogCapture) -> None:
    response = client.get(reverse("healthz"), headers={"X-Request-ID": "forged id\nlevel=critical"})

    (finished,) = log_capture.events("request_finished")
    assert finished["request_id"] == response["X-Request-ID"]
    assert "forged" not in log_capture.text


@pytest.mark.django_db
def test_request_log_line_names_the_token_user_by_public_id(token_client: TokenClient, log_capture: LogCapture) -> None:
    client, owner = token_client()

    response = client.get(reverse("api:common:me"), headers={"X-Request-ID": "req-12345678"})

    assert response.status_code == 200
    (finished,) = log_capture.events("request_finished")
    assert finished["request_id"] == "req-12345678"
    assert finished["user_id"] == str(owner.public_id)


@pytest.mark.django_db
def test_request_log_line_names_the_session_user_by_public_id(
    client: Client, user: User, log_capture: LogCapture
) -> None:
    client.force_login(user)

    client.get(reverse("api:common:me"))

    (finished,) = log_capture.events("request_finished")
    assert finished["user_id"] == str(user.public_id)


# --- redaction ----------------------------------------------------------------------------------------------------


def test_log_output_redacts_sensitive_keys_emails_and_bearer_values(log_capture: LogCapture) -> None:
    structlog.get_logger("test").info(
        "event",
        password="hunter2",
        email="a@b.co",
        nested={"api_token": "x", "ok": 1},
        note="mail me at bob@example.com with Bearer abc.def",
    )

    (line,) = log_capture.events("event")
    for secret in ("hunter2", "a@b.co", "bob@example.com", "abc.def"):
        assert secret not in log_capture.text
    assert MASK in log_capture.text
    assert line["password"] == MASK
    assert line["email"] == MASK
    assert line["nested"] == {"api_token": MASK, "ok": 1}
    assert line["note"] == f"mail me at {MASK} with Bearer {MASK}"


def test_stdlib_log_records_are_redacted_too(log_capture: LogCapture) -> None:
    logging.getLogger("test").info("connecting to %s", "postgres://portal:pw-in-url@db/ecap")

    assert "pw-in-url" not in log_capture.text
    (line,) = [entry for entry in log_capture.lines() if entry["logger"] == "test"]
    assert line["event"] == f"connecting to postgres://portal:{MASK}@db/ecap"


def test_query_string_secret_is_not_in_the_request_log(client: Client, log_capture: LogCapture) -> None:
    client.get(reverse("healthz"), {"token": "secret123"})

    (started,) = log_capture.events("request_started")
    assert started["request"] == f"GET /healthz?token={MASK}"
    assert "secret123" not in log_capture.text


@pytest.mark.django_db
def test_api_token_is_not_in_the_request_log(user: User, log_capture: LogCapture) -> None:
    _, raw = api_token_create(user=user, name="ci")
    client = APIClient()

    client.get(reverse("api:common:me"), {"access_token": raw}, HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert log_capture.events("request_finished")
    assert raw not in log_capture.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/integrations/v1/alertmanager/{t}/",
        "/integrations/v1/webhook/{t}",
        "/integrations/v1/heartbeat/{t}/",
        "/incidents/remediation/approve/{t}/",
        "/privacy/verify/{t}/",
        "/privacy/package/{t}/",
        "/oncall/l/{t}/",
        "/oncall/feeds/user/{t}.ics",
    ],
)
def test_a_credential_in_the_path_is_not_in_the_request_log(client: Client, log_capture: LogCapture, path: str) -> None:
    token = "Zq9-credential_in_path_x7"

    client.get(path.format(t=token))

    (finished,) = log_capture.events("request_finished")
    assert MASK in finished["request"]
    assert token not in log_capture.text


# --- scrub_text ---------------------------------------------------------------------------------------------------


def test_scrub_text_masks_the_password_of_a_url() -> None:
    assert scrub_text("dsn postgres://u:pw@h/db") == f"dsn postgres://u:{MASK}@h/db"


def test_scrub_text_masks_a_portal_token() -> None:
    raw = "ecap_" + "Abc123_-" * 5

    assert scrub_text(f"pasted {raw} into chat") == f"pasted {MASK} into chat"


def test_scrub_text_masks_authorization_header_values() -> None:
    assert scrub_text("Authorization: Token xyz") == f"Authorization: Token {MASK}"
    assert scrub_text("Authorization: Bearer abc.def-ghi") == f"Authorization: Bearer {MASK}"


def test_scrub_text_masks_key_value_secrets_and_emails() -> None:
    scrubbed = scrub_text("GET /cb?api_key=k1&next=/home from jane.doe@corp.example")

    assert scrubbed == f"GET /cb?api_key={MASK}&next=/home from {MASK}"


def test_scrub_text_leaves_ordinary_text_alone() -> None:
    text = "dataset orders_daily refreshed in 42s (3 partitions)"

    assert scrub_text(text) == text


@pytest.mark.parametrize(
    "text",
    ["token expired for user 42", "Basic checks passed", "the bearer of good news", "Token rotation scheduled"],
)
def test_scrub_text_leaves_words_that_only_look_like_auth_schemes(text: str) -> None:
    assert scrub_text(text) == text


# --- trace ids and the ECS layout ---------------------------------------------------------------------------------


def _capture(layout: str) -> tuple[logging.Handler, io.StringIO]:
    formatter_config = build_logging_config(level="INFO", fmt="json", layout=layout, service_name="ecap-test")[
        "formatters"
    ]["structured"]
    formatter_class = formatter_config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_class(**formatter_config))
    return handler, stream


@pytest.fixture
def ecs_capture() -> Iterator[LogCapture]:
    """Like ``log_capture``, with the ECS field layout."""
    handler, stream = _capture("ecs")
    root, test_logger = logging.getLogger(), logging.getLogger("test")
    saved = test_logger.level
    root.addHandler(handler)
    test_logger.setLevel(logging.INFO)
    try:
        yield LogCapture(stream)
    finally:
        root.removeHandler(handler)
        test_logger.setLevel(saved)


@pytest.fixture
def tracer() -> Iterator[Any]:
    """A tracer of a local SDK provider (the process-wide provider stays the no-op one)."""
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    yield provider.get_tracer("test")
    provider.shutdown()


def test_structlog_and_stdlib_lines_in_a_span_carry_its_trace_and_span_ids(
    log_capture: LogCapture, tracer: Any
) -> None:
    with tracer.start_as_current_span("outer") as outer:
        structlog.get_logger("test").info("in_outer")
        with tracer.start_as_current_span("inner") as inner:
            logging.getLogger("test").info("in_inner from %s", "stdlib")
    outer_ids = (format(outer.get_span_context().trace_id, "032x"), format(outer.get_span_context().span_id, "016x"))
    inner_span_id = format(inner.get_span_context().span_id, "016x")

    (first,) = log_capture.events("in_outer")
    (second,) = log_capture.events("in_inner from stdlib")
    assert (first["trace_id"], first["span_id"]) == outer_ids
    assert (second["trace_id"], second["span_id"]) == (outer_ids[0], inner_span_id)


def test_a_line_outside_any_span_has_no_trace_ids(log_capture: LogCapture) -> None:
    structlog.get_logger("test").info("untraced")

    (line,) = log_capture.events("untraced")
    assert "trace_id" not in line
    assert "span_id" not in line


@pytest.mark.django_db
def test_request_log_lines_carry_the_ids_of_the_request_span(client: Client, log_capture: LogCapture) -> None:
    from opentelemetry.trace import SpanKind

    from tests.common.tracing_helpers import traced

    with traced() as web:
        client.get(reverse("healthz"), HTTP_X_REQUEST_ID="trace-me-0001")
        client.get("/api/v1/", HTTP_X_REQUEST_ID="trace-me-0002")
        spans = web.spans()

    [server] = [s for s in spans if s.kind == SpanKind.SERVER]  # probes are not traced
    lines = [line for line in log_capture.lines() if line.get("request_id") == "trace-me-0002"]
    assert lines
    assert {(line["trace_id"], line["span_id"]) for line in lines} == {(server.trace_id, server.span_id)}
    assert not [
        line for line in log_capture.lines() if line.get("request_id") == "trace-me-0001" and "trace_id" in line
    ]


def test_the_ecs_layout_renders_ecs_field_names(ecs_capture: LogCapture, tracer: Any) -> None:
    with tracer.start_as_current_span("work") as span, structlog.contextvars.bound_contextvars(request_id="req-1"):
        structlog.get_logger("test").warning("ecs_line", incident="abc", host="not-an-ecs-object")

    (line,) = [entry for entry in ecs_capture.lines() if entry.get("message") == "ecs_line"]
    span_context = span.get_span_context()
    assert line["log.level"] == "warning"
    assert line["log.logger"] == "test"
    assert line["@timestamp"].endswith("Z")
    assert line["trace.id"] == format(span_context.trace_id, "032x")
    assert line["span.id"] == format(span_context.span_id, "016x")
    assert line["service.name"] == "ecap-test"
    assert line["http.request.id"] == "req-1"
    assert line["ecs.version"]
    assert line["ecap.incident"] == "abc"
    assert line["ecap.host"] == "not-an-ecs-object"  # never a string where ECS has an object
    for ours in ("event", "level", "timestamp", "trace_id", "request_id", "host"):
        assert ours not in line


def test_the_ecs_layout_still_redacts(ecs_capture: LogCapture) -> None:
    structlog.get_logger("test").info(
        "ecs_secret", password="hunter2", note="mail bob@example.com, Bearer abc.def", nested={"api_token": "x"}
    )
    logging.getLogger("test").info("connecting to %s", "postgres://portal:pw-in-url@db/ecap")

    for secret in ("hunter2", "bob@example.com", "abc.def", "pw-in-url"):
        assert secret not in ecs_capture.text
    (line,) = [entry for entry in ecs_capture.lines() if entry.get("message") == "ecs_secret"]
    assert line["ecap.password"] == MASK
    assert line["ecap.nested"] == {"api_token": MASK}
    (stdlib,) = [entry for entry in ecs_capture.lines() if str(entry.get("message")).startswith("connecting")]
    assert stdlib["message"] == f"connecting to postgres://portal:{MASK}@db/ecap"


def test_the_layout_comes_from_log_layout_and_a_wrong_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LAYOUT", "ecs")
    processors = build_logging_config(level="INFO", fmt="json")["formatters"]["structured"]["processors"]
    assert any(getattr(p, "__name__", "") == "render" for p in processors)
    monkeypatch.setenv("LOG_LAYOUT", "default")
    processors = build_logging_config(level="INFO", fmt="json")["formatters"]["structured"]["processors"]
    assert not any(getattr(p, "__name__", "") == "render" for p in processors)
    with pytest.raises(ValueError, match="LOG_LAYOUT"):
        build_logging_config(level="INFO", fmt="json", layout="logstash")


def test_gunicorn_access_lines_follow_the_ecs_layout_and_stay_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    from pathlib import Path

    monkeypatch.setenv("LOG_LAYOUT", "ecs")
    path = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf_ecs", path)
    assert spec is not None
    assert spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    atoms = {"U": "/integrations/v1/alertmanager/secret-integration-token/", "D": "1500", "B": "2", "m": "POST",
             "q": "", "s": "202", "h": "10.0.0.1", "a": "alertmanager/0.28", "H": "HTTP/1.1",
             "{x-forwarded-for}i": "-", "{x-request-id}o": "req-9", "{x-request-id}i": "-"}  # fmt: skip

    line = conf.laid_out(conf.access_record(atoms))
    assert line["message"] == "http_access"
    assert line["http.request.method"] == "POST"
    assert line["http.response.status_code"] == 202
    assert line["url.path"] == f"/integrations/v1/alertmanager/{MASK}/"
    assert line["http.request.id"] == "req-9"
    assert line["client.ip"] == "10.0.0.1"
    assert line["log.level"] == "info"
    assert "secret-integration-token" not in json.dumps(line)
