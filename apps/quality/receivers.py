"""What data quality does when other apps announce something: record finished quality_scan runs."""

from __future__ import annotations

from typing import Any

import structlog

from apps.sparkruns.choices import Job
from apps.sparkruns.models import SparkRun

logger = structlog.get_logger(__name__)


def on_spark_run_finished(sender: Any, run: SparkRun, **kwargs: Any) -> None:
    """Queue the recording of a finished quality scan, failed ones included (the sweeper catches a lost task)."""
    from apps.quality.tasks import consume_run

    if run.job != Job.QUALITY_SCAN:
        return
    try:
        consume_run.apply_async(args=[run.pk], retry=False)
    except Exception as exc:  # the run is stored; quality.consume_pending_scans records it later
        logger.warning("quality.consume_enqueue_failed", run=run.pk, error=type(exc).__name__)
