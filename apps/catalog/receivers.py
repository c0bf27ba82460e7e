"""What the catalog does when other apps announce something: consume finished profile and PII-scan runs."""

from __future__ import annotations

from typing import Any

import structlog

from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun

logger = structlog.get_logger(__name__)


def on_spark_run_finished(sender: Any, run: SparkRun, **kwargs: Any) -> None:
    """Queue the consumption of a succeeded profile or PII-scan run (the sweeper catches it if the broker is down)."""
    from apps.catalog.discovery import CONSUMED_JOBS
    from apps.catalog.tasks import consume_run

    if run.job not in CONSUMED_JOBS or run.state != RunState.SUCCEEDED:
        return
    try:
        consume_run.apply_async(args=[run.pk], retry=False)
    except Exception as exc:  # the run is stored; catalog.consume_pending_runs consumes it later
        logger.warning("catalog.consume_enqueue_failed", run=run.pk, error=type(exc).__name__)
