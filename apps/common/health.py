"""Readiness checks: each returns ``(ok, detail)``; ``/readyz`` runs them all and answers 503 naming the failures.

Other apps add checks with ``register_readiness_check`` (e.g. Vault reachability) in their AppConfig.ready().
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one readiness check. ``degraded`` means working but impaired: not a reason to answer 503."""

    name: str
    ok: bool
    detail: str
    duration_ms: float
    degraded: bool = False


class Degraded(Exception):
    """Raised by a check whose dependency still serves, impaired (e.g. values served from a cache)."""


Check = Callable[[], tuple[bool, str]]
_CHECKS: dict[str, Check] = {}


def register_readiness_check(name: str, check: Check) -> None:
    """Add a named readiness check; registering the same name again replaces it."""
    _CHECKS[name] = check


def check_database() -> tuple[bool, str]:
    """The default database answers a query."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, connections[DEFAULT_DB_ALIAS].vendor


def check_migrations() -> tuple[bool, str]:
    """Every migration in the code has been applied."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return False, f"{len(plan)} unapplied migration(s): {names}"
    return True, "all applied"


def check_redis() -> tuple[bool, str]:
    """Redis (broker and cache) answers PING. Skipped in the embedded mode, which runs without Redis."""
    if not settings.REDIS_URL:
        return True, "not configured (embedded mode)"
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return True, "pong"


register_readiness_check("database", check_database)
register_readiness_check("migrations", check_migrations)
register_readiness_check("redis", check_redis)


def run_readiness_checks() -> list[CheckResult]:
    """Run every registered check; an exception is a failure whose detail names the error (not its secrets)."""
    results = []
    for name, check in _CHECKS.items():
        started = time.perf_counter()
        degraded = False
        try:
            ok, detail = check()
        except Degraded as exc:
            ok, detail, degraded = True, str(exc), True
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"
        if name == "database" and not ok:
            connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        results.append(CheckResult(name, ok, detail[:300], elapsed, degraded))
    return results
