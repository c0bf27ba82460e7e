"""Who is acting, for every audit event of the current request or task.

The middleware sets it per request (and the API token authentication refines it); Celery tasks set it per task.
On PostgreSQL the context also travels with every write statement (``ecap.audit_context``), so row changes captured
by database triggers (bulk updates and raw SQL included) name the same actor and request.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from apps.audit.choices import ActorType


@dataclass(frozen=True)
class AuditContext:
    """The acting party and where the action came from."""

    actor_type: str = ActorType.SYSTEM
    actor_id: str = ""
    actor_label: str = ""
    actor_token: str = ""
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    purpose: str = ""
    time_zone: str = "UTC"

    def as_setting(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


# AuditContext is a frozen dataclass: sharing the default instance is safe.
_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audit_context",
    default=AuditContext(),  # noqa: B039
)


def current_context() -> AuditContext:
    """The context of the running request or task (the system when none)."""
    return _current.get()


def set_context(context: AuditContext) -> contextvars.Token[AuditContext]:
    return _current.set(context)


def reset_context(token: contextvars.Token[AuditContext]) -> None:
    _current.reset(token)


def update_context(**changes: Any) -> None:
    """Refine the current context (e.g. once token authentication has identified the caller)."""
    _current.set(replace(_current.get(), **changes))


def context_for_user(user: Any, **extra: Any) -> AuditContext:
    """The context of an authenticated person (or service account)."""
    actor_type = ActorType.SERVICE if getattr(user, "is_service_account", False) else ActorType.USER
    return replace(
        current_context(),
        actor_type=actor_type,
        actor_id=str(user.public_id),
        actor_label=user.get_username(),
        time_zone=getattr(user, "time_zone", "UTC") or "UTC",
        **extra,
    )


@contextmanager
def acting_as(context: AuditContext) -> Iterator[AuditContext]:
    """Run a block under another context (management commands, tests)."""
    token = set_context(context)
    try:
        yield context
    finally:
        reset_context(token)


# --- carrying the context into PostgreSQL for the capture triggers ---------------------------------------------
_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "WITH")
SET_CONTEXT_SQL = "SELECT set_config('ecap.audit_context', %s, false); "


def execute_with_context(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    """Django execute wrapper: a write statement carries the audit context in the same round trip."""
    head = sql.lstrip()[:6].upper()
    if not head.startswith(_WRITES) or "audit_auditevent" in sql[:200]:
        return execute(sql, params, many, context)
    setting = current_context().as_setting()
    if many or params is None or isinstance(params, dict):
        context["cursor"].execute("SELECT set_config('ecap.audit_context', %s, false)", [setting])
        return execute(sql, params, many, context)
    return execute(SET_CONTEXT_SQL + sql, [setting, *(params or ())], many, context)


def install_on_connection(sender: Any, connection: Any, **_: Any) -> None:
    """connection_created receiver: add the wrapper to every new PostgreSQL connection."""
    if connection.vendor == "postgresql" and execute_with_context not in connection.execute_wrappers:
        connection.execute_wrappers.append(execute_with_context)
