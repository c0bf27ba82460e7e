"""App configuration of quality."""

from __future__ import annotations

from django.apps import AppConfig


class QualityConfig(AppConfig):
    """Quality rules, Spark-executed scans, results, scores and failing-row samples."""

    name = "apps.quality"
    label = "quality"
    verbose_name = "Data quality"
