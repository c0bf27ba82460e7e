"""What the on-call engine does when an incident changes: the incidents app's signals (sent after commit, each with
``incident_id``) start, stop, restart or hurry its escalation, or page a new assignee.

A receiver never raises into the code that changed the incident (that change is committed already): a failure is
logged, and the beat sweeper starts escalations whose trigger was missed and claims steps that are due.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from apps.incidents import signals
from apps.oncall import engine
from apps.oncall.choices import StopReason

logger = structlog.get_logger(__name__)


def _guarded(name: str, action: Callable[..., Any]) -> Callable[..., None]:
    def receiver(sender: Any, incident_id: int, **extra: Any) -> None:
        try:
            action(incident_id=incident_id, **extra)
        except Exception:
            logger.exception("oncall_signal_failed", signal=name, incident_id=incident_id)

    receiver.__name__ = f"oncall_on_{name}"
    return receiver


def _stop(reason: str) -> Callable[..., Any]:
    def stop(*, incident_id: int, **_: Any) -> Any:
        return engine.escalation_stop(incident_id=incident_id, reason=reason)

    return stop


def _reassigned(*, incident_id: int, assignee_id: int | None = None, **_: Any) -> Any:
    if assignee_id is None:
        return None
    return engine.assignee_page(incident_id=incident_id, assignee_id=assignee_id)


RECEIVERS = {
    "triggered": (
        signals.incident_triggered,
        lambda *, incident_id, **_: engine.escalation_start(incident_id=incident_id),
    ),
    "acknowledged": (signals.incident_acknowledged, _stop(StopReason.ACKNOWLEDGED)),
    "resolved": (signals.incident_resolved, _stop(StopReason.RESOLVED)),
    "silenced": (signals.incident_silenced, _stop(StopReason.SILENCED)),
    "unacknowledged": (
        signals.incident_unacknowledged,
        lambda *, incident_id, **_: engine.escalation_restart(incident_id=incident_id),
    ),
    "escalate_requested": (
        signals.incident_escalate_requested,
        lambda *, incident_id, **_: engine.escalation_escalate_now(incident_id=incident_id),
    ),
    "reassigned": (signals.incident_reassigned, _reassigned),
}

_connected: list[Callable[..., None]] = []  # signals hold receivers weakly: keep them alive here


def connect() -> None:
    """Connect every receiver once (``dispatch_uid``), from ``OncallConfig.ready``."""
    for name, (signal, action) in RECEIVERS.items():
        receiver = _guarded(name, action)
        _connected.append(receiver)
        signal.connect(receiver, dispatch_uid=f"oncall.{name}", weak=False)


connect()
