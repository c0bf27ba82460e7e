"""Sign-in failure limits and denial records.

Failed sign-ins (the portal's login, the admin's login) and failed API token authentication are counted per client
address and per username in a sliding window kept in the cache (Redis in production): over
``LOGIN_FAILURE_LIMIT_PER_USERNAME`` failures for one username, or ``LOGIN_FAILURE_LIMIT_PER_IP`` from one address,
within ``LOGIN_FAILURE_WINDOW_SECONDS``, further attempts are refused with 429 and ``Retry-After`` until the oldest
failure leaves the window, even with the right password.

``denial_record`` writes the audit event of a refused request (401, 403, 429): actor, address, the URL pattern (never
the raw path, which may carry a signed token), method and reason. Denials anyone can cause at will (anonymous ones,
429s) are recorded once per ``DENIAL_AUDIT_REPEAT_SECONDS`` per address, route, status and reason, the next record
counting those left out.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import replace

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import Resolver404, resolve

from apps.audit.choices import ActorType, AuditAction, Outcome
from apps.audit.context import current_context
from apps.audit.services import audit_record

KEY_PREFIX = "security:login-failures"
DENIAL_KEY_PREFIX = "security:denials"


def now() -> float:
    """The limiter's clock (seconds since the epoch)."""
    return time.time()


def client_ip(request: HttpRequest) -> str:
    """The caller's address, as the audit log records it."""
    from ipware import get_client_ip

    ip, _ = get_client_ip(request)
    return ip or ""


def _window() -> int:
    return int(settings.LOGIN_FAILURE_WINDOW_SECONDS)


def _key(kind: str, value: str) -> str:
    # Usernames and addresses are hashed: cache keys are not a place for personal data.
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{kind}:{digest}"


def _recent(key: str, moment: float) -> list[float]:
    try:
        stamps = cache.get(key) or []
    except Exception:  # the cache is down: no lock (fails open), so intake keeps working during a Redis outage
        return []
    return [t for t in stamps if t > moment - _window()]


def _subjects(ip: str, username: str) -> list[tuple[str, int]]:
    subjects = [(_key("ip", ip), int(settings.LOGIN_FAILURE_LIMIT_PER_IP))] if ip else []
    if username:
        subjects.append((_key("user", username), int(settings.LOGIN_FAILURE_LIMIT_PER_USERNAME)))
    return subjects


def login_failure_add(*, ip: str, username: str = "") -> None:
    """Count one failed attempt against the address and the username."""
    moment = now()
    for key, limit in _subjects(ip, username):
        # Only the newest ``limit`` failures decide when the lock lifts; older ones are dropped.
        stamps = [*_recent(key, moment), moment][-limit:]
        with contextlib.suppress(Exception):  # the cache is down: the failure goes uncounted
            cache.set(key, stamps, timeout=_window() + 1)


def login_locked_for(*, ip: str, username: str = "") -> int:
    """Seconds until another attempt is accepted from ``ip`` for ``username`` (0 when not locked)."""
    moment = now()
    wait = 0.0
    for key, limit in _subjects(ip, username):
        stamps = _recent(key, moment)
        if len(stamps) >= limit:
            wait = max(wait, stamps[-limit] + _window() - moment)
    return math.ceil(wait) if wait > 0 else 0


def login_failures_clear(*, username: str) -> None:
    """A successful sign-in forgets the username's failures (the address keeps its count)."""
    if username:
        with contextlib.suppress(Exception):  # the cache is down: nothing to forget
            cache.delete(_key("user", username))


def _route(request: HttpRequest) -> str:
    """The URL pattern the request matched (``/privacy/verify/<str:token>/``), never the path with its values."""
    match = getattr(request, "resolver_match", None)
    if match is None:  # refused by a middleware, before URL resolution
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return ""
    return "/" + match.route.replace("^", "").replace("$", "") if match.route else ""


def _repeats(*, ip: str, route: str, status: int, reason: str) -> int | None:
    """For a denial that anyone can cause at will (anonymous, or 429): None when the same one (address, route,
    status, reason) was recorded less than ``DENIAL_AUDIT_REPEAT_SECONDS`` ago (it is counted instead), else how many
    were counted since the last one recorded. Keeps a flood of refused requests from flooding the audit log."""
    window = int(settings.DENIAL_AUDIT_REPEAT_SECONDS)
    if window <= 0:
        return 0
    digest = hashlib.sha256(f"{ip}|{route}|{status}|{reason}".encode()).hexdigest()[:32]
    recent, counted = f"{DENIAL_KEY_PREFIX}:recent:{digest}", f"{DENIAL_KEY_PREFIX}:repeats:{digest}"
    try:
        if not cache.add(recent, 1, timeout=window):
            if not cache.add(counted, 1, timeout=window * 60):
                cache.incr(counted)
            return None
        repeats = int(cache.get(counted) or 0)
        cache.delete(counted)
        return repeats
    except Exception:  # the cache is down: every denial is recorded
        return 0


def denial_record(request: HttpRequest, *, status: int, reason: str) -> None:
    """One audit event for a refused request. Records no body, query string or raw path. Anonymous denials and 429s
    repeated from one address on one route are recorded once per ``DENIAL_AUDIT_REPEAT_SECONDS``, the next record
    carrying how many were left out (``repeats``)."""
    user = getattr(request, "user", None)
    context = current_context()
    anonymous = user is None or not user.is_authenticated
    if anonymous:
        context = replace(context, actor_type=ActorType.ANONYMOUS, actor_id="", actor_label="")
    if not context.ip:
        context = replace(context, ip=client_ip(request))
    route = _route(request)
    repeats = 0
    if anonymous or status == 429:
        counted = _repeats(ip=context.ip or "", route=route, status=status, reason=reason)
        if counted is None:
            return
        repeats = counted
    audit_record(
        action=AuditAction.DENY,
        outcome=Outcome.DENIED,
        target_type="http.request",
        target_label=route[:200],
        context=context,
        details={
            "status": status,
            "method": request.method or "",
            "route": route,
            "reason": reason[:100],
            **({"repeats": repeats} if repeats else {}),
        },
    )
