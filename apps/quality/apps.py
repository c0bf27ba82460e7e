"""App configuration of quality."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed
from apps.common.periodic import PeriodicTaskSpec


class QualityConfig(AppConfig):
    """Quality rules, Spark-executed scans, results, scores and failing-row samples."""

    name = "apps.quality"
    label = "quality"
    verbose_name = "Data quality"
    audited_models = [
        Governed("quality.QualityRule", ignored=("updated_at", "last_outcome", "last_result_at", "alert_open")),
        Governed("quality.ScanSchedule", ignored=("updated_at", "last_partition")),
    ]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="quality.check_partitions",
            task="quality.check_partitions",
            every_seconds=300,
            description="Scan the new partitions of datasets scheduled on new partitions.",
        ),
        PeriodicTaskSpec(
            name="quality.consume_pending_scans",
            task="quality.consume_pending_scans",
            every_seconds=600,
            description="Record finished quality scans whose consumption task was lost.",
        ),
    ]

    def ready(self) -> None:
        from apps.quality.metrics import register_collector
        from apps.quality.receivers import on_spark_run_finished
        from apps.sparkruns.signals import spark_run_finished

        register_collector()
        spark_run_finished.connect(on_spark_run_finished, dispatch_uid="quality.consume_spark_runs")
