"""Reads of the incidents app (the public read surface for other apps)."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Incident


def incident_list() -> QuerySet[Incident]:
    """Incidents with what their list shows, newest first."""
    return Incident.objects.select_related(
        "integration", "runbook", "assignee", "acknowledged_by", "resolved_by", "merged_into", "classification_rule"
    ).order_by("-triggered_at", "-id")


def incident_open_list() -> QuerySet[Incident]:
    """Open incidents (triggered, acknowledged or silenced)."""
    return incident_list().filter(status__in=OPEN_STATUSES)
