"""The incident timeline: one append-only entry per thing that happened, with who did it and when."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.common.models import User
from apps.incidents.models import Incident, TimelineEntry

SYSTEM = "system"


def timeline_add(
    *,
    incident: Incident,
    kind: str,
    message: str,
    actor: User | None = None,
    actor_label: str = "",
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append one entry (inside the caller's transaction)."""
    label = actor_label or (actor.get_username() if actor is not None else SYSTEM)
    return TimelineEntry.objects.create(
        incident=incident,
        at=timezone.now(),
        kind=kind,
        actor=actor,
        actor_label=label[:150],
        message=message[:500],
        data=data or {},
    )
