"""What privacy does when other apps announce something: give its Spark jobs their plan file and key, and record
their finished runs."""

from __future__ import annotations

from typing import Any

import structlog

from apps.sparkruns.choices import Job
from apps.sparkruns.models import SparkRun

logger = structlog.get_logger(__name__)

PRIVACY_JOBS = (Job.DSR_ERASE, Job.DSR_EXPORT, Job.RETENTION)


def on_spark_run_environment(sender: Any, run: SparkRun, **kwargs: Any) -> dict[str, str]:
    from apps.privacy.execution import run_environment
    from apps.privacy.retention import retention_environment

    if run.job == Job.RETENTION:
        return retention_environment(run)
    return run_environment(run)


def on_spark_run_finished(sender: Any, run: SparkRun, **kwargs: Any) -> None:
    """Queue the recording of a finished privacy run (the ``privacy.sweep_runs`` beat task catches a lost one)."""
    from apps.privacy.tasks import consume_run

    if run.job not in PRIVACY_JOBS:
        return
    try:
        consume_run.apply_async(args=[run.pk], retry=False)
    except Exception as exc:
        logger.warning("privacy.consume_enqueue_failed", run=run.pk, error=type(exc).__name__)
