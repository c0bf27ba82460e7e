"""Audit events of catalog decisions, written in the caller's transaction under the deciding user's identity."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.audit.context import context_for_user, current_context
from apps.audit.services import audit_record
from apps.common.models import User


def audit_decision(
    *, action: str, target: models.Model, actor: User | None, details: dict[str, Any] | None = None
) -> None:
    """Record one decision (accept, reject, role change); the actor is named even outside a request."""
    context = current_context()
    if actor is not None and context.actor_id != str(actor.public_id):
        # A Celery task or a management command acting for a person: the event names that person.
        context = context_for_user(actor)
    audit_record(action=action, target=target, details=details or {}, context=context)
