"""Reads of Spark runs."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.sparkruns.models import SparkRun


def spark_run_list() -> QuerySet[SparkRun]:
    """Runs, newest first, with who asked for them."""
    return SparkRun.objects.select_related("requested_by", "resubmit_of").order_by("-created_at", "-id")
