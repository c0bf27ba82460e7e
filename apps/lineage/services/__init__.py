"""Writes of lineage. The public surface for other apps: ``lineage_ingest_events`` (store and process OpenLineage
events given in-process, e.g. a local Spark run's event file).

``intake`` stores events first and processes each exactly once; ``processing`` applies one event to jobs, runs, the
catalog (through its services) and the current graph.
"""

from __future__ import annotations

from apps.lineage.services.graph_changes import graph_changes_purge
from apps.lineage.services.intake import (
    MAX_ATTEMPTS,
    StoreResult,
    event_process,
    event_reprocess,
    events_process,
    events_store,
    events_sweep,
    lineage_ingest_events,
)
from apps.lineage.services.processing import event_apply

__all__ = [
    "MAX_ATTEMPTS",
    "StoreResult",
    "event_apply",
    "event_process",
    "event_reprocess",
    "events_process",
    "events_store",
    "events_sweep",
    "graph_changes_purge",
    "lineage_ingest_events",
]
