"""``manage.py spark_run <job> [--backend local|emr] [--timeout S] [--no-wait] [job arguments]``.

Records a run, submits it from this process and follows it with a progress line until it ends; the exit status is
0 when the job succeeded. Job arguments follow the options (``-- --as-of 2026-11-01``); the lake root, run id and
lineage transport are added by the portal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.common.errors import DomainError
from apps.sparkruns.choices import FINAL_STATES, Backend, Job, RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import backend_get, spark_run_poll, spark_run_request, spark_run_submit

POLL_SECONDS = 2.0


class Command(BaseCommand):
    help = "Run a Spark job (generate, validate, rfm, profile, pii_scan) and follow it to the end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job", choices=Job.values)
        parser.add_argument("--backend", choices=Backend.values, default=None)
        parser.add_argument("--timeout", type=int, default=None, help="Seconds before the run is cancelled.")
        parser.add_argument("--no-wait", action="store_true", help="Submit and return (the poller follows it).")
        parser.add_argument("job_args", nargs=argparse.REMAINDER, help="Arguments of the job.")

    def handle(self, *args: Any, **options: Any) -> None:
        job_args = [a for a in options["job_args"] if a != "--"] if options["job_args"] else []
        try:
            run = spark_run_request(
                job=options["job"],
                args=job_args,
                backend=options["backend"],
                timeout_seconds=options["timeout"],
                submit=False,
            )
            submitted = spark_run_submit(run_pk=run.pk)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        run = submitted or run
        self.stderr.write(f"{run.job} run {run.run_id} on {run.backend}: {run.state}")
        if options["no_wait"] or run.state in FINAL_STATES:
            return self._end(run)
        started = time.monotonic()
        while run.state not in FINAL_STATES:
            time.sleep(POLL_SECONDS)
            run = spark_run_poll(run=run)
            self._progress(run, time.monotonic() - started)
        self.stderr.write("")
        return self._end(run)

    def _progress(self, run: SparkRun, elapsed: float) -> None:
        last = ""
        if run.handle:
            try:
                tail = backend_get(run.backend).logs(run.handle, tail=1).strip().splitlines()
                last = tail[-1][:80] if tail else ""
            except Exception:  # the progress line is best effort
                last = ""
        if sys.stderr.isatty():
            self.stderr.write(f"\r{run.state:<10} {elapsed:6.0f}s  {last:<80}", ending="")
        else:
            self.stderr.write(f"{run.state:<10} {elapsed:6.0f}s  {last}")

    def _end(self, run: SparkRun) -> None:
        run.refresh_from_db()
        took = run.duration_seconds
        self.stderr.write(
            f"{run.job} {run.state}"
            + (f" in {took:.1f} s" if took is not None else "")
            + f" at {timezone.now():%H:%M:%S}"
        )
        if run.summary is not None:
            self.stdout.write(json.dumps(run.summary, indent=2, sort_keys=True, default=str))
        if run.state not in (
            RunState.SUCCEEDED,
            RunState.QUEUED,
            RunState.PENDING,
            RunState.RUNNING,
            RunState.SUBMITTING,
        ):
            raise CommandError(f"the run {run.state}: {run.error[-500:]}")
