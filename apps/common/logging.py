"""Structured JSON logging (structlog) with redaction of secrets and personal data.

Every log line, from our code, Django, Celery or libraries, passes through the same processors; the redaction
processor masks values under sensitive keys (password, token, secret, authorization, cookie, email, …) at any depth
and scrubs credentials and e-mail addresses out of free text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

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


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
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


def build_logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    """``LOGGING`` for Django: ``fmt`` is ``json`` (production) or ``console`` (human-readable, development)."""
    if fmt not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'console', not {fmt!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
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
