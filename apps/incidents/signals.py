"""Signals the incidents app sends after commit, for the on-call engine (paging) and metrics.

Each carries ``incident_id``; receivers re-fetch the incident. Sent only once the change is committed.
"""

from __future__ import annotations

from django.dispatch import Signal

incident_triggered = Signal()  # opened or reopened, outside maintenance: start paging
incident_acknowledged = Signal()  # someone took it: stop escalating
incident_unacknowledged = Signal()  # back to triggered: escalate again
incident_resolved = Signal()  # over: stop everything
incident_escalate_requested = Signal()  # escalate now, to the next step (with ``actor_id``)
incident_reassigned = Signal()  # a new assignee (with ``assignee_id``): page them
incident_silenced = Signal()  # silenced until a time: stop paging until then
