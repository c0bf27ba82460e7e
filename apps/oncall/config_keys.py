"""Configuration keys of the on-call app."""

from __future__ import annotations

from typing import Any

from apps.configuration.registry import ConfigValueError, declare

KINDS = ("email", "slack", "webhook", "sms")


def _throttles(value: Any) -> None:
    if not isinstance(value, dict):
        raise ConfigValueError("expected an object of contact kind to {count, minutes}")
    for kind, limit in value.items():
        if kind not in KINDS:
            raise ConfigValueError(f"unknown contact kind {kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(limit, dict) or set(limit) != {"count", "minutes"}:
            raise ConfigValueError(f"{kind}: expected {{count, minutes}}")
        if not all(isinstance(limit[k], int) and limit[k] > 0 for k in ("count", "minutes")):
            raise ConfigValueError(f"{kind}: count and minutes must be positive integers")


declare(
    "oncall.default_policy",
    "str",
    "critical",
    "Escalation policy used when an incident names none, or one that does not exist.",
)
declare(
    "oncall.link_ttl_minutes",
    "int",
    24 * 60,
    "Minutes the signed acknowledge and resolve links in a page stay valid.",
    min_value=5,
    max_value=7 * 24 * 60,
)
declare(
    "oncall.step_lease_seconds",
    "int",
    60,
    "Seconds a claimed escalation step (or delivery) may take before the sweeper claims it again.",
    min_value=10,
    max_value=3600,
)
declare(
    "oncall.delivery_max_tries",
    "int",
    5,
    "Tries of one delivery (with exponential backoff) before it is marked failed.",
    min_value=1,
    max_value=20,
)
declare(
    "oncall.delivery_backoff_seconds",
    "int",
    10,
    "Wait before the first retry of a failed delivery; doubled at every further try.",
    min_value=1,
    max_value=3600,
)
declare(
    "oncall.http_timeout_seconds",
    "float",
    5.0,
    "Timeout of one HTTP notification (Slack, webhook, SMS gateway).",
    min_value=0.5,
    max_value=60.0,
)
declare(
    "oncall.throttles",
    "json",
    {"sms": {"count": 5, "minutes": 15}, "email": {"count": 30, "minutes": 15}},
    "Most messages per contact method in a sliding window, by contact kind; further ones are throttled.",
    validator=_throttles,
)
declare(
    "oncall.sms_gateway_url",
    "str",
    "",
    "URL the SMS gateway takes messages at (POST JSON {to, message}); empty disables SMS.",
)
declare(
    "secrets.sms_gateway_token",
    "str",
    "",
    "Bearer token for the SMS gateway.",
    secret=True,
)
declare(
    "oncall.gap_horizon_days",
    "int",
    14,
    "Days ahead the schedules are checked for gaps (nobody on call).",
    min_value=1,
    max_value=90,
)
declare(
    "oncall.handoff_notice_minutes",
    "int",
    60,
    "Minutes before a shift starts that its user is sent a hand-off notice.",
    min_value=5,
    max_value=24 * 60,
)
