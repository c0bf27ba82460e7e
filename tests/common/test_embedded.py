"""The embedded mode of ``make run``: SQLite, no external server, and beat schedules and tasks really run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def is_json(line: bytes) -> bool:
    return line.startswith(b"{") and line.endswith(b"}")


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=180
    ).stdout


@pytest.mark.slow
def test_embedded_mode_serves_and_runs_scheduled_tasks_without_external_servers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_KEY_PREFIX")}
    env |= {"DJANGO_SETTINGS_MODULE": "ecap_site.settings.dev", "PORTAL_VAR_DIR": str(tmp_path), "LOG_FORMAT": "json"}
    manage(env, "migrate", "--noinput")
    manage(
        env,
        "shell",
        "-c",
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask;"
        "every, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds');"
        "PeriodicTask.objects.create(name='purge-every-second', task='common.api_tokens_purge', interval=every)",
    )
    port = free_port()
    log = (tmp_path / "embedded.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        ready = ran = False
        while time.monotonic() < deadline and not (ready and ran):
            assert proc.poll() is None, (tmp_path / "embedded.log").read_text()[-3000:]
            if not ready:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                        body = json.load(response)
                        ready = response.status == 200 and body["checks"]["database"]["detail"] == "sqlite"
                except OSError:
                    pass
            events = [
                json.loads(line) for line in (tmp_path / "embedded.log").read_bytes().splitlines() if is_json(line)
            ]
            sent = [e for e in events if "Sending due task purge-every-second" in e.get("event", "")]
            done = [e for e in events if e.get("event") == "api_tokens_purged"]
            enqueued = [e for e in events if e.get("event") == "task_enqueued"]
            ran = len(sent) >= 2 and len(done) >= 2
            time.sleep(0.5)
        assert ready, "the web server did not answer /readyz"
        assert ran, "beat did not send the task twice, or the worker did not run it"
        assert len({e["child_task_id"] for e in enqueued}) == len(enqueued), "an enqueue was logged twice"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()
    assert proc.returncode == 0
    # The audit trail of the embedded mode (model signals on SQLite) seals and verifies too.
    verified = manage(env, "audit_verify")
    assert verified.startswith("chain intact: events #1..")
    deadline = time.monotonic() + 20
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(proc.pid), "the web server, the worker or its beat outlived the embedded runner"
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


PAGING_SETUP = """
from apps.common.models import User
from apps.oncall.models import ContactMethod, EscalationPolicy, EscalationStep
user = User.objects.create(username="pager", email="pager@example.org")
ContactMethod.objects.create(user=user, kind="email", address="pager@example.org")
policy = EscalationPolicy.objects.create(name="critical")
step = EscalationStep.objects.create(policy=policy, position=0, kind="notify_users")
step.users.add(user)
"""
PAGING_RAISE = """
from apps.incidents.dispatch import drain
from apps.incidents.services import alert_raise
alert_raise(source="embedded-test", name="EmbeddedPage", summary="Embedded mode pages by e-mail", severity="critical")
drain()
"""


def test_embedded_mode_pages_an_alert_by_email(tmp_path: Path) -> None:
    """SQLite has no row locks: the escalation engine and the sender still run there and the page is written."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_KEY_PREFIX")}
    env |= {"DJANGO_SETTINGS_MODULE": "ecap_site.settings.dev", "PORTAL_VAR_DIR": str(tmp_path), "LOG_FORMAT": "json"}
    manage(env, "migrate", "--noinput")
    manage(env, "sync_periodic_tasks")
    manage(env, "shell", "-c", PAGING_SETUP)
    log = (tmp_path / "embedded.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        manage(env, "shell", "-c", PAGING_RAISE)
        deadline = time.monotonic() + 90
        pages: list[str] = []
        while time.monotonic() < deadline and not pages:
            assert proc.poll() is None, (tmp_path / "embedded.log").read_text()[-3000:]
            mail = tmp_path / "mail"
            pages = [p.read_text() for p in mail.glob("*.log")] if mail.exists() else []
            time.sleep(0.5)
        assert pages, "no page was written: " + (tmp_path / "embedded.log").read_text()[-3000:]
        assert "Embedded mode pages by e-mail" in pages[0]
        assert "pager@example.org" in pages[0]
        assert "/oncall/l/" in pages[0]  # the signed acknowledge link
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()
