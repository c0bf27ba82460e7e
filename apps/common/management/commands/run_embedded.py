"""``manage.py run_embedded``: the portal on one machine with no external server.

Starts a Celery worker with an embedded beat (filesystem broker, database schedule) and the development web server,
and stops both together. Used by ``make run``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecap_site.celery import QUEUES, local_broker_folders


class Command(BaseCommand):
    help = "Serve the portal with an in-process Celery worker and beat (embedded mode)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and settings.PORTAL_ENVIRONMENT == "production":
            raise CommandError("The embedded mode is for development; run gunicorn, worker and beat in production.")
        for folder in local_broker_folders():
            os.makedirs(folder, exist_ok=True)
        python = sys.executable
        worker = subprocess.Popen(  # noqa: S603 - fixed argument list
            [
                python,
                "-m",
                "celery",
                "-A",
                "ecap_site",
                "worker",
                "--beat",
                "--pool=solo",
                "--loglevel=INFO",
                "-Q",
                ",".join(QUEUES),
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        )
        web = subprocess.Popen([python, "manage.py", "runserver", options["addrport"], "--noreload"])  # noqa: S603
        children = (web, worker)

        def stop(*_: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            failed = next(child for child in children if child.poll() is not None)
            raise CommandError(f"{'web server' if failed is web else 'worker'} exited with code {failed.returncode}")
        finally:
            stop()
