"""App configuration of Spark runs."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed
from apps.common.periodic import PeriodicTaskSpec


class SparkRunsConfig(AppConfig):
    """Spark jobs submitted from the portal (locally or to EMR), polled, recorded and alerted on."""

    name = "apps.sparkruns"
    label = "sparkruns"
    verbose_name = "Spark runs"
    audited_models = [Governed("sparkruns.SparkRun", ignored=("summary", "log_location", "lineage_events"))]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="spark.poll_runs",
            task="spark.poll_runs",
            every_seconds=10,
            description="Poll submitted Spark runs; submit queued ones a worker lost; time out stuck ones.",
        ),
    ]

    def ready(self) -> None:
        from apps.sparkruns.metrics import register_collector

        register_collector()
