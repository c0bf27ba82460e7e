"""App configuration of lineage."""

from __future__ import annotations

from django.apps import AppConfig


class LineageConfig(AppConfig):
    """OpenLineage intake, jobs and runs, dataset and column lineage, impact analysis."""

    name = "apps.lineage"
    label = "lineage"
    verbose_name = "Lineage"
