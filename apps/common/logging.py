"""Structured JSON logging (structlog) with redaction of secrets and personal data.

Every log line, from our code, Django, Celery or libraries, passes through the same processors; the redaction
processor masks values under sensitive keys (password, token, secret, authorization, cookie, email, …) at any depth
and scrubs credentials and e-mail addresses out of free text. A line written inside a trace carries its ``trace_id``
and ``span_id``. ``LOG_LAYOUT=ecs`` renders the fields under Elastic Common Schema names (``@timestamp``,
``log.level``, ``message``, ``trace.id``, …) for Elasticsearch, OpenSearch or any ECS-aware shipper.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import structlog
from opentelemetry import trace

MASK = "[REDACTED]"
SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|secret|token|authori[sz]ation|cookie|session|csrf|api[_-]?key|private[_-]?key|credential|"
    r"e[-_]?mail|phone|ssn|card[_-]?number|iban|date_of_birth|signature",
    re.IGNORECASE,
)
# Keys whose names contain a sensitive word but whose values are safe and useful to see.
SAFE_KEYS = frozenset({"request_id", "session_id_hash", "token_id", "token_prefix", "task_id", "csrf_failure_reason"})
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# A credential after an Authorization header name, or a long credential-shaped value after a capitalised scheme;
# ordinary words ("token expired", "Basic checks passed") are left alone.
AUTH_HEADER_VALUE = re.compile(
    r"((?i:authorization)[\"']?\s*[:=]\s*[\"']?(?:(?i:bearer|token|basic)\s+)?)[A-Za-z0-9._~+/=\-]+"
)
AUTH_VALUE = re.compile(r"\b(Bearer) [A-Za-z0-9._~+/=\-]+|\b(Token|Basic) [A-Za-z0-9._~+/=\-]{16,}")
KEY_VALUE = re.compile(
    r"\b((?:[\w-]*)(?:password|passwd|secret|token|api[_-]?key|signature|sessionid|csrftoken)[\w-]*)=([^&\s;,\"']+)",
    re.IGNORECASE,
)
PORTAL_TOKEN = re.compile(r"\becap_[A-Za-z0-9_\-]{20,}")
URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+):([^@\s]+)@")
# Paths whose next segment is a credential: integration tokens, signed links, secret iCal feed tokens.
SECRET_PATH = re.compile(
    r"(/(?:integrations/v1/(?:alertmanager|webhook|heartbeat)|incidents/remediation/approve|privacy/(?:verify|package)"
    r"|oncall/l|oncall/feeds/(?:schedule|user))/)[^/?#\s\"']+?(\.ics)?(?=[/?#\s\"']|$)"
)


def scrub_text(text: str) -> str:
    """Remove credentials and e-mail addresses from free text."""
    text = AUTH_HEADER_VALUE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = AUTH_VALUE.sub(lambda m: f"{m.group(1) or m.group(2)} {MASK}", text)
    text = KEY_VALUE.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = PORTAL_TOKEN.sub(MASK, text)
    text = URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    text = mask_secret_paths(text)
    return EMAIL.sub(MASK, text)


def mask_secret_paths(text: str) -> str:
    """``text`` with the credential segment of any integration-token, signed-link or feed path masked."""
    return SECRET_PATH.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2) or ''}", text)


def mask_request_line(sender: Any, request: Any, log_kwargs: dict[str, Any], **_: Any) -> None:
    """django-structlog receiver: its ``request="GET /path"`` field is masked where it is made, so no handler (not
    only ours) ever sees a credential that travels in a path."""
    line = log_kwargs.get("request")
    if isinstance(line, str):
        log_kwargs["request"] = mask_secret_paths(line)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if _is_sensitive(k) and v not in (None, "") else _redact(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, depth + 1) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else would be rendered by its repr (a request object names its path): scrub that text.
    return scrub_text(repr(value))


def _is_sensitive(key: object) -> bool:
    return isinstance(key, str) and key not in SAFE_KEYS and bool(SENSITIVE_KEY.search(key))


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask sensitive keys and scrub free text in every field, the message included."""
    return _redact(event_dict)


def add_trace_context(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the ids of the active OpenTelemetry span, so a log line leads to its trace and back.

    Reads the context through the API only: with tracing off there is never a valid span and nothing is added."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    return event_dict


ECS_VERSION = "8.11.0"
# Our field names and their ECS names; anything else goes under ``ecap.`` so it never collides with an ECS field of
# another type (ECS ``host``, ``url``, ``error`` or ``event`` are objects).
ECS_FIELDS = {
    "timestamp": "@timestamp",
    "level": "log.level",
    "event": "message",
    "logger": "log.logger",
    "trace_id": "trace.id",
    "span_id": "span.id",
    "request_id": "http.request.id",
    "user_id": "user.id",
    "ip": "client.ip",
    "exception": "error.stack_trace",
    "task_id": "ecap.task_id",
}


def ecs_layout(service_name: str, environment: str = "") -> Any:
    """structlog processor (after redaction, before rendering): the line under ECS field names, dotted and flat,
    which Elasticsearch and OpenSearch expand into objects."""

    def render(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "@timestamp": event_dict.pop("timestamp", None),
            "log.level": event_dict.pop("level", None),
            "message": event_dict.pop("event", None),
            "ecs.version": ECS_VERSION,
            "service.name": service_name,
        }
        if environment:
            out["service.environment"] = environment
        for key, value in event_dict.items():
            # A key already in ECS form (``url.path``) stays; ours get their ECS name or go under ``ecap.``.
            out[key if "." in key else ECS_FIELDS.get(key) or f"ecap.{key}"] = value
        return out

    return render


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_context,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def configure_structlog() -> None:
    """Route structlog through the standard library so one formatter (and one redaction) handles everything."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def build_logging_config(
    *, level: str, fmt: str, layout: str | None = None, service_name: str | None = None
) -> dict[str, Any]:
    """``LOGGING`` for Django: ``fmt`` is ``json`` (production) or ``console`` (human-readable, development).

    ``layout`` (JSON only) is ``default`` (our field names) or ``ecs``; unset, it comes from ``LOG_LAYOUT`` so every
    settings module that builds its own ``LOGGING`` honours the variable. ``service_name`` (ECS ``service.name``)
    defaults to ``OTEL_SERVICE_NAME``, the name traces carry."""
    if fmt not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'console', not {fmt!r}")
    layout = layout or os.environ.get("LOG_LAYOUT") or "default"
    if layout not in ("default", "ecs"):
        raise ValueError(f"LOG_LAYOUT must be 'default' or 'ecs', not {layout!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    layout_step: list[Any] = []
    if fmt == "json" and layout == "ecs":
        name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "ecap-portal"
        layout_step = [ecs_layout(name, os.environ.get("PORTAL_ENVIRONMENT", ""))]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_processor,
                    *layout_step,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO", "propagate": True},
            "django.server": {"level": "WARNING", "propagate": True},
            "django_structlog": {"level": level, "propagate": True},
        },
    }
