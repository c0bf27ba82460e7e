"""A change made in one process reaches another running process within seconds, without a restart."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apps.configuration.services import config_override_set, get_store
from tests.conftest import ROOT, _test_database_url

WATCHER = """
import os, sys, time
import django
django.setup()
from apps.configuration.services import config_get, config_subscribe
print("start", repr(config_get("app.maintenance_banner")), flush=True)
config_subscribe("app.maintenance_banner", lambda key, old, new: print("changed", repr(old), repr(new), flush=True))
time.sleep(60)
"""


def line_reader(proc: subprocess.Popen) -> queue.Queue[str]:
    """Lines the process prints, as they come."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_override_reaches_another_running_process_within_seconds(make_user, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecap_site.settings.test",
        "DATABASE_URL": _test_database_url(),
        "CONFIG_RELOAD_INTERVAL_SECONDS": "0.5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHER], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    lines = line_reader(proc)
    try:
        assert lines.get(timeout=60) == "start ''"
        changed_at = time.monotonic()
        config_override_set(key="app.maintenance_banner", value="Maintenance at 22:00 UTC", actor=make_user())
        assert lines.get(timeout=5) == "changed '' 'Maintenance at 22:00 UTC'"
        assert time.monotonic() - changed_at < 5
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.django_db(transaction=True)
def test_subscribers_in_this_process_hear_changes_made_elsewhere(make_user, settings) -> None:
    from apps.configuration.models import ConfigEntry
    from apps.configuration.services import config_subscribe, config_version_bump

    store = get_store()
    heard: list[tuple[str, object, object]] = []
    settings.CONFIG_RELOAD_INTERVAL_SECONDS = None  # no watcher thread in this test: reloads are driven by reads
    config_subscribe("remediation.kill_switch", lambda key, old, new: heard.append((key, old, new)))
    assert store.get("remediation.kill_switch") is False
    # Another process writes the override and bumps the version (simulated here with plain writes).
    ConfigEntry.objects.update_or_create(key="remediation.kill_switch", defaults={"override": True})
    config_version_bump()
    settings.CONFIG_RELOAD_INTERVAL_SECONDS = 0
    assert store.get("remediation.kill_switch") is True
    assert heard == [("remediation.kill_switch", False, True)]
