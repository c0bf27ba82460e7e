"""Receivers that turn authentication and task events into audit events and context."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from apps.audit.choices import ActorType, AuditAction, Outcome
from apps.audit.context import AuditContext, context_for_user, current_context, set_context, update_context
from apps.audit.services import audit_record


def _client(request: HttpRequest | None) -> dict[str, str]:
    if request is None:
        return {}
    from ipware import get_client_ip

    ip, _ = get_client_ip(request)
    return {
        "ip": ip or "",
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        "request_id": request.META.get("HTTP_X_REQUEST_ID", ""),
    }


def on_login(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    context = context_for_user(user, **_client(request))
    set_context(context)
    audit_record(action=AuditAction.LOGIN, target=user, context=context)


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    context = AuditContext(actor_type=ActorType.ANONYMOUS, actor_label=username, **_client(request))
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        target_type="common.user",
        target_label=username,
        outcome=Outcome.FAILED,
        context=context,
    )


def on_logout(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if user is not None:
        audit_record(action=AuditAction.LOGOUT, target=user, context=context_for_user(user, **_client(request)))


def on_task_prerun(sender: Any = None, task: Any = None, **_: Any) -> None:
    """A task acts as the service that runs it, keeping the request id that enqueued it when there is one."""
    import structlog

    bound = structlog.contextvars.get_contextvars()
    name = getattr(task, "name", "task")
    set_context(
        AuditContext(
            actor_type=ActorType.SERVICE,
            actor_id=f"celery:{name}"[:64],
            actor_label=f"celery:{name}",
            request_id=str(bound.get("request_id", "")),
        )
    )


def on_task_postrun(**_: Any) -> None:
    set_context(AuditContext())


def connect() -> None:
    from celery.signals import task_postrun, task_prerun

    user_logged_in.connect(on_login, dispatch_uid="audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.login_failed")
    user_logged_out.connect(on_logout, dispatch_uid="audit.logout")
    task_prerun.connect(on_task_prerun, dispatch_uid="audit.task_prerun", weak=False)
    task_postrun.connect(on_task_postrun, dispatch_uid="audit.task_postrun", weak=False)


__all__ = ["connect", "current_context", "update_context"]
