"""Alert intake endpoints: ``/integrations/v1/alertmanager/<token>/``, ``/integrations/v1/webhook/<token>/`` and the
heartbeat ping ``/integrations/v1/heartbeat/<token>/``.

They are on the authentication allow-list: the integration's secret token (in the URL or as a bearer token) is the
credential. A wrong token is 404 whatever the reason, so tokens cannot be enumerated; the trailing slash is optional
and never redirected (a redirect would lose the POST body). Accepted deliveries are stored before the 202 answer.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import structlog
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import Counter

from apps.audit.choices import ActorType
from apps.audit.context import update_context
from apps.common.api.errors import error_body
from apps.common.api.parsers import json_problem
from apps.incidents.choices import IntegrationKind
from apps.incidents.intake import PayloadInvalid, parse_delivery
from apps.incidents.models import Integration
from apps.incidents.services import heartbeat_record, integration_by_token, payload_accept

logger = structlog.get_logger(__name__)

ALERTS_RECEIVED = Counter(
    "ecap_alert_deliveries_total", "Alert deliveries answered by the intake endpoints.", ["kind", "outcome"]
)
MAX_DEPTH = 20


def _error(code: str, detail: str, status: int, fields: dict[str, list[str]] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, detail, fields), status=status)


def _token(request: HttpRequest, token: str | None) -> str:
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _rate_limited(integration: Integration) -> int:
    """Seconds until the next window when over the integration's per-minute limit, else 0 (fails open)."""
    now = time.time()
    window = int(now // 60)
    key = f"incidents:intake:{integration.pk}:{window}"
    try:
        cache.add(key, 0, timeout=120)
        count = cache.incr(key)
    except Exception:  # the cache being down must never lose an alert
        return 0
    if count > integration.rate_limit_per_minute:
        return max(1, math.ceil((window + 1) * 60 - now))
    return 0


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def _intake(request: HttpRequest, kind: str, token: str | None) -> JsonResponse:
    if request.method != "POST":
        return _error("method_not_allowed", "Send the delivery with POST.", 405)
    integration = integration_by_token(_token(request, token), kind=kind)
    if integration is None:
        ALERTS_RECEIVED.labels(kind, "unknown_token").inc()
        return _error("not_found", "No such integration.", 404)
    update_context(
        actor_type=ActorType.SERVICE,
        actor_id=str(integration.public_id),
        actor_label=f"integration:{integration.name}"[:150],
    )
    wait = _rate_limited(integration)
    if wait:
        ALERTS_RECEIVED.labels(kind, "rate_limited").inc()
        response = _error("rate_limited", f"More than {integration.rate_limit_per_minute} deliveries a minute.", 429)
        response["Retry-After"] = str(wait)
        return response
    try:
        raw = request.body
    except RequestDataTooBig:
        return _error("payload_too_large", "The delivery is larger than the portal accepts.", 413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        ALERTS_RECEIVED.labels(kind, "invalid").inc()
        return _error("invalid_json", "The body is not valid UTF-8 JSON.", 400)
    if _depth(body) > MAX_DEPTH:
        return _error("invalid_payload", f"The payload nests deeper than {MAX_DEPTH} levels.", 400)
    found = json_problem(body)
    if found:  # the delivery is stored as jsonb: PostgreSQL refuses NUL, UTF-8 cannot hold a lone surrogate
        ALERTS_RECEIVED.labels(kind, "invalid").inc()
        return _error("invalid_payload", f"{found[0]}: {found[1]}", 400, {found[0]: [found[1]]})
    try:
        delivery = parse_delivery(integration.kind, body, now=timezone.now())
    except PayloadInvalid as exc:
        ALERTS_RECEIVED.labels(kind, "invalid").inc()
        logger.info("alert_payload_refused", integration=integration.name, fields=sorted(exc.fields))
        return _error(exc.code, exc.detail, exc.status, exc.fields)
    payload = payload_accept(integration=integration, body=body, request_id=getattr(request, "request_id", ""))
    ALERTS_RECEIVED.labels(kind, "accepted").inc()
    return JsonResponse({"status": "accepted", "payload": payload.pk, "alerts": len(delivery.alerts)}, status=202)


@csrf_exempt
@login_not_required
def alertmanager_intake(request: HttpRequest, token: str | None = None) -> JsonResponse:
    """Prometheus Alertmanager webhook receiver (payload version 4)."""
    return _intake(request, IntegrationKind.ALERTMANAGER, token)


@csrf_exempt
@login_not_required
def webhook_intake(request: HttpRequest, token: str | None = None) -> JsonResponse:
    """Generic webhook (body documented in ``apps.incidents.intake``)."""
    return _intake(request, IntegrationKind.WEBHOOK, token)


@csrf_exempt
@login_not_required
def heartbeat_ping(request: HttpRequest, token: str | None = None) -> JsonResponse:
    """A heartbeat ping from any integration that expects one (GET or POST)."""
    if request.method not in ("GET", "POST"):
        return _error("method_not_allowed", "Ping with GET or POST.", 405)
    integration = integration_by_token(_token(request, token))
    if integration is None:
        return _error("not_found", "No such integration.", 404)
    heartbeat_record(integration=integration)
    return JsonResponse({"status": "ok", "integration": integration.name})
