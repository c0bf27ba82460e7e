"""App configuration of catalog."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed
from apps.common.periodic import PeriodicTaskSpec


class CatalogConfig(AppConfig):
    """Datasets and fields, classification, privacy taxonomy, owners, glossary, schema versions, PII review."""

    name = "apps.catalog"
    label = "catalog"
    verbose_name = "Catalog"
    audited_models = [
        Governed(
            "catalog.Dataset",
            ignored=(
                "updated_at",
                "search_text",
                "row_count",
                "size_bytes",
                "file_count",
                "last_profiled_at",
                "last_pii_scan_at",
                "last_modified_at",
                "pii_status",
                "schema_version",
            ),
        ),
        Governed("catalog.Field", ignored=("statistics", "ordinal")),
        Governed("catalog.Field", field="glossary_terms"),
        Governed("catalog.FieldCategory", sensitivity=15),
        Governed("catalog.GlossaryTerm", ignored=("updated_at",)),
        Governed("catalog.RetentionPolicy", sensitivity=20),
        Governed("catalog.DataCategory"),
        Governed("catalog.DataUse"),
        Governed("catalog.DataSubjectType"),
    ]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="catalog.run_discovery",
            task="catalog.run_discovery",
            crontab="30 2 * * *",
            description="Profile and PII-scan the lake once a day; the catalog consumes both runs when they finish.",
        ),
        PeriodicTaskSpec(
            name="catalog.consume_pending_runs",
            task="catalog.consume_pending_runs",
            every_seconds=600,
            description="Consume finished profile and PII-scan runs whose consumption task was lost.",
        ),
        PeriodicTaskSpec(
            name="catalog.recompute_propagation",
            task="catalog.recompute_propagation",
            crontab="0 3 * * *",
            description="Recompute inherited data categories from the current column lineage.",
        ),
    ]

    def ready(self) -> None:
        from apps.catalog.receivers import on_spark_run_finished
        from apps.sparkruns.signals import spark_run_finished

        spark_run_finished.connect(on_spark_run_finished, dispatch_uid="catalog.consume_spark_runs")
