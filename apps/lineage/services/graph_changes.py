"""Housekeeping of the graph change log (``GraphChange``), which the in-memory graph index reads to know it is
current."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.lineage.models import GraphChange


def graph_changes_purge(*, now: datetime | None = None) -> int:
    """Delete change rows older than ``LINEAGE_GRAPH_CHANGE_RETENTION_SECONDS`` (never younger than twice the
    index's maximum age, so an index still answering always sees the changes made since its snapshot); returns how
    many."""
    keep = max(settings.LINEAGE_GRAPH_CHANGE_RETENTION_SECONDS, 2 * settings.LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS)
    cutoff = (now or timezone.now()) - timedelta(seconds=keep)
    deleted, _ = GraphChange.objects.filter(recorded_at__lt=cutoff).delete()
    return deleted
