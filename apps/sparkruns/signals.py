"""Signals of Spark runs, sent after the change they announce has committed."""

from __future__ import annotations

from django.dispatch import Signal

# A run reached a final state (succeeded, failed, cancelled, timed out); keyword argument ``run`` (a SparkRun).
spark_run_finished = Signal()
