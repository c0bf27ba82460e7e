"""Signals of Spark runs, sent after the change they announce has committed."""

from __future__ import annotations

from django.dispatch import Signal

# A run reached a final state (succeeded, failed, cancelled, timed out); keyword argument ``run`` (a SparkRun).
spark_run_finished = Signal()

# A run is about to be submitted; keyword argument ``run``. A receiver returns a dict of environment variables the
# job needs and must not receive in its arguments (keys, secrets): the local backend passes them to the process
# environment and records only their names; the EMR backend refuses secret-looking names.
spark_run_environment = Signal()
