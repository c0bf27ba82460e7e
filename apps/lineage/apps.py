"""App configuration of lineage."""

from __future__ import annotations

from django.apps import AppConfig

from apps.common.periodic import PeriodicTaskSpec


class LineageConfig(AppConfig):
    """OpenLineage intake, jobs and runs, dataset and column lineage, impact analysis.

    No lineage model is audited by the capture triggers: the raw events are a high-volume, append-mostly record of
    their own (who submitted each is kept on the row), and jobs, runs and edges are derived from them and rebuilt on
    every event, so capturing them would flood the audit log with machine changes. Re-processing a failed event, the
    one human action here, is recorded with ``audit_record``.
    """

    name = "apps.lineage"
    label = "lineage"
    verbose_name = "Lineage"
    periodic_tasks = [
        PeriodicTaskSpec(
            name="lineage.sweep_events",
            task="lineage.sweep_events",
            every_seconds=30,
            description="Process OpenLineage events left pending (broker down at intake, worker lost).",
        ),
        PeriodicTaskSpec(
            name="lineage.purge_graph_changes",
            task="lineage.purge_graph_changes",
            every_seconds=3600,
            description="Delete graph change-log rows past LINEAGE_GRAPH_CHANGE_RETENTION_SECONDS.",
        ),
    ]

    def ready(self) -> None:
        from apps.lineage.metrics import register_collector

        register_collector()
