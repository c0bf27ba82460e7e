"""Reading deliveries: Prometheus Alertmanager's webhook (version 4) and the portal's generic webhook body.

Validation runs twice: at the endpoint (a bad delivery gets 400 naming what is wrong) and again when a stored
payload is processed, which turns it into ``Delivery`` objects. Error messages name fields and problems but never
echo values: Alertmanager logs response bodies, and labels may carry secrets.

Generic webhook body (JSON object)::

    {
      "title": "Checkout latency above SLO",          required, at most 300 characters
      "status": "firing" | "resolved",                 default "firing"
      "severity": "critical" | "error" | "warning" | "info",  default "warning"
      "dedup_key": "checkout-latency",                 groups deliveries; needed to resolve; default: title+labels
      "description": "p95 3.4 s for 10 minutes",       optional, at most 5,000 characters
      "service": "checkout",                           optional (also read from labels.service)
      "labels": {"team": "web", "tier": "business-critical"},   optional, string values
      "links": [{"href": "https://grafana/...", "text": "Dashboard"}],   optional, http(s) only
      "occurred_at": "2026-11-26T10:00:00Z"            optional, RFC 3339
    }
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apps.common.errors import DomainError
from apps.incidents.choices import AlertStatus, IntegrationKind, Severity

MAX_ALERTS = 1000
MAX_LABELS = 64
MAX_LABEL_NAME = 100
MAX_LABEL_VALUE = 2000
MAX_TEXT = 5000
MAX_LINKS = 20
ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadInvalid(DomainError):
    """The delivery is not a valid payload for its integration."""

    code = "invalid_payload"
    status = 400


@dataclass
class AlertIn:
    """One alert of a delivery, normalised."""

    fingerprint: str
    name: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str = ""
    group_key: str = ""


@dataclass
class Delivery:
    """A delivery read from a payload: its alerts and the group key the sender gave (if any)."""

    status: str
    alerts: list[AlertIn] = field(default_factory=list)
    group_key: str = ""
    truncated: int = 0


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            first = next(iter(self.fields))
            raise PayloadInvalid(f"The payload is not valid: {first}: {self.fields[first][0]}", fields=self.fields)


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (``Z`` or offset, fractional seconds of any length); ``0001-01-01…`` means "not set"."""
    if not isinstance(value, str) or not value:
        raise ValueError("must be an RFC 3339 time")
    if value.startswith("0001-01-01"):
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Go sends nanoseconds; Python takes at most microseconds
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("must carry a time zone")
    return moment.astimezone(UTC)


def _string_map(value: Any, name: str, errors: _Errors, *, limit: int = MAX_LABEL_VALUE) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(name, "must be an object of strings")
        return {}
    if len(value) > MAX_LABELS:
        errors.add(name, f"must have at most {MAX_LABELS} entries")
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_LABEL_NAME:
            errors.add(name, f"has a key that is empty or longer than {MAX_LABEL_NAME} characters")
            continue
        if not isinstance(item, str):
            errors.add(f"{name}.{key}", "must be a string")
            continue
        if len(item) > limit:
            errors.add(f"{name}.{key}", f"must be at most {limit} characters")
            continue
        out[key] = item.replace("\x00", "")
    return out


def labels_fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit fingerprint of a label set (for senders that do not send one)."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _status(value: Any, name: str, errors: _Errors, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if value not in (AlertStatus.FIRING, AlertStatus.RESOLVED):
        errors.add(name, 'must be "firing" or "resolved"')
        return AlertStatus.FIRING
    return str(value)


def parse_alertmanager(body: Any, *, now: datetime) -> Delivery:
    """Alertmanager's webhook payload, version 4."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise PayloadInvalid("The payload must be a JSON object.", fields={"non_field_errors": ["must be an object"]})
    version = body.get("version", "4")
    if str(version) != "4":
        errors.add("version", 'must be "4"')
    group_key = body.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        errors.add("groupKey", "is required and must be a non-empty string")
        group_key = ""
    status = _status(body.get("status"), "status", errors)
    for name in ("receiver", "externalURL"):
        if name in body and not isinstance(body[name], str):
            errors.add(name, "must be a string")
    common = _string_map(body.get("commonLabels"), "commonLabels", errors)
    _string_map(body.get("groupLabels"), "groupLabels", errors)
    _string_map(body.get("commonAnnotations"), "commonAnnotations", errors, limit=MAX_TEXT)
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        errors.add("truncatedAlerts", "must be a non-negative integer")
        truncated = 0
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        errors.add("alerts", "is required and must be a non-empty list")
        raw_alerts = []
    elif len(raw_alerts) > MAX_ALERTS:
        errors.add("alerts", f"must have at most {MAX_ALERTS} alerts")
        raw_alerts = []
    alerts = []
    for index, raw in enumerate(raw_alerts):
        prefix = f"alerts.{index}"
        if not isinstance(raw, dict):
            errors.add(prefix, "must be an object")
            continue
        labels = {**common, **_string_map(raw.get("labels"), f"{prefix}.labels", errors)}
        annotations = _string_map(raw.get("annotations"), f"{prefix}.annotations", errors, limit=MAX_TEXT)
        alert_status = _status(raw.get("status"), f"{prefix}.status", errors)
        starts_at = _time(raw.get("startsAt"), f"{prefix}.startsAt", errors, required=True) or now
        ends_at = _time(raw.get("endsAt", ZERO_TIME), f"{prefix}.endsAt", errors, required=False)
        generator = raw.get("generatorURL", "")
        if not isinstance(generator, str) or len(generator) > 1000:
            errors.add(f"{prefix}.generatorURL", "must be a string of at most 1000 characters")
            generator = ""
        fingerprint = raw.get("fingerprint")
        if fingerprint is None:
            fingerprint = labels_fingerprint(labels)
        elif not isinstance(fingerprint, str) or not fingerprint or len(fingerprint) > 64:
            errors.add(f"{prefix}.fingerprint", "must be a non-empty string of at most 64 characters")
            fingerprint = labels_fingerprint(labels)
        alerts.append(
            AlertIn(
                fingerprint=fingerprint,
                name=labels.get("alertname", "") or "alert",
                status=alert_status,
                labels=labels,
                annotations=annotations,
                starts_at=starts_at,
                ends_at=ends_at,
                generator_url=generator if generator.startswith(("http://", "https://")) else "",
                group_key=group_key,
            )
        )
    errors.raise_if_any()
    return Delivery(status=status, alerts=alerts, group_key=group_key, truncated=truncated)


def _time(value: Any, name: str, errors: _Errors, *, required: bool) -> datetime | None:
    if value is None and not required:
        return None
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        errors.add(name, "must be an RFC 3339 time")
        return None


def parse_webhook(body: Any, *, now: datetime) -> Delivery:
    """The generic webhook body documented in this module."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise PayloadInvalid("The payload must be a JSON object.", fields={"non_field_errors": ["must be an object"]})
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.add("title", "is required and must be a non-empty string")
        title = ""
    elif len(title) > 300:
        errors.add("title", "must be at most 300 characters")
    status = _status(body.get("status"), "status", errors, default=AlertStatus.FIRING)
    severity = body.get("severity", Severity.WARNING)
    if severity not in Severity.values:
        errors.add("severity", f"must be one of {', '.join(Severity.values)}")
        severity = Severity.WARNING
    labels = _string_map(body.get("labels"), "labels", errors)
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_TEXT:
        errors.add("description", f"must be a string of at most {MAX_TEXT} characters")
        description = ""
    service = body.get("service", labels.get("service", ""))
    if not isinstance(service, str) or len(service) > 100:
        errors.add("service", "must be a string of at most 100 characters")
        service = ""
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key or len(dedup_key) > 255):
        errors.add("dedup_key", "must be a non-empty string of at most 255 characters")
        dedup_key = None
    if status == AlertStatus.RESOLVED and not dedup_key:
        errors.add("dedup_key", "is required to resolve an alert")
    links = body.get("links", [])
    annotations: dict[str, str] = {"summary": title[:300]}
    if description:
        annotations["description"] = description
    if not isinstance(links, list) or len(links) > MAX_LINKS:
        errors.add("links", f"must be a list of at most {MAX_LINKS} links")
        links = []
    for index, link in enumerate(links):
        href = link.get("href") if isinstance(link, dict) else None
        text = link.get("text", "") if isinstance(link, dict) else ""
        if not isinstance(href, str) or not href.startswith(("http://", "https://")) or len(href) > 1000:
            errors.add(f"links.{index}.href", "must be an http(s) URL of at most 1000 characters")
        elif not isinstance(text, str) or len(text) > 200:
            errors.add(f"links.{index}.text", "must be a string of at most 200 characters")
        else:
            annotations[f"link_{index}"] = json.dumps({"href": href, "text": text})
    occurred = _time(body["occurred_at"], "occurred_at", errors, required=True) if "occurred_at" in body else now
    errors.raise_if_any()
    labels = {"alertname": labels.get("alertname", title[:200]), **labels, "severity": str(severity)}
    if service:
        labels["service"] = service
    key = dedup_key or labels_fingerprint({**labels, "title": title})
    alert = AlertIn(
        fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16],
        name=labels["alertname"][:200],
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=occurred or now,
        ends_at=now if status == AlertStatus.RESOLVED else None,
        group_key=key,
    )
    return Delivery(status=status, alerts=[alert], group_key=key)


def parse_delivery(kind: str, body: Any, *, now: datetime) -> Delivery:
    """Read a delivery of an integration of ``kind`` (internal alerts use the webhook body)."""
    if kind == IntegrationKind.ALERTMANAGER:
        return parse_alertmanager(body, now=now)
    return parse_webhook(body, now=now)
