"""PostgreSQL going away under a running portal: a gunicorn server (as in production, persistent connections with
health checks) on a private PostgreSQL cluster that the tests stop, start and restart, never restarting the app.

Proves that ``/readyz`` answers 503 naming the database while PostgreSQL is down and 200 again once it is back; that
API and intake requests during the outage answer 503 ``database_unavailable`` in the error format (JSON
``{code, detail, fields}`` with ``Retry-After``), never a 500; and that under concurrent writes across
``pg_ctl restart -m fast`` every request answered 2xx was stored, the others got 503 rather than a 500 or no answer,
and writes succeed again by themselves after the restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2  # type: ignore[import-untyped]
import pytest
import requests

from tests.faults.conftest import HOST, ROOT, PrivateCluster, PrivateRedis, services
from tests.lineage.conftest import dataset, run_event

pytestmark = pytest.mark.slow

LINEAGE_TABLE = "lineage_lineageevent"
REQUEST_TIMEOUT = 15.0  # far above any answer the portal gives, outage or not; a request that hangs fails the test
SETUP = """
from django.contrib.auth.models import Group
from apps.common.models import User
from apps.common.services import api_token_create
from apps.incidents.services import integration_create

user = User.objects.create_user(username="faults-integrator")
user.groups.add(Group.objects.get(name="integrator"))
token = api_token_create(user=user, name="faults")[1]
print("credentials", token, integration_create(kind="alertmanager", name="faults-alertmanager")[1])
"""


@dataclass
class Portal:
    """The running server, the credentials it knows, and the cluster under it."""

    base_url: str
    token: str
    integration_token: str
    cluster: PrivateCluster
    server: subprocess.Popen[bytes]
    log_file: Path

    def post_event(self, run_id: str | None = None) -> requests.Response:
        event = run_event("COMPLETE", run_id=run_id, inputs=[dataset("raw/orders")], outputs=[dataset("cur/orders")])
        return requests.post(
            f"{self.base_url}/api/v1/lineage",
            json=event,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=REQUEST_TIMEOUT,
        )

    def stored_run_ids(self) -> set[str]:
        with psycopg2.connect(self.cluster.url()) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT run_id::text FROM {LINEAGE_TABLE}")  # noqa: S608 - a fixed table name
            return {run_id for (run_id,) in cursor.fetchall()}


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def portal(private_cluster: PrivateCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """Gunicorn (one worker, four threads, connections kept 60 s) on the private cluster, migrated, with an
    integrator's token and an Alertmanager integration; its broker and cache are a private Redis."""
    base = tmp_path_factory.mktemp("portal")
    redis = PrivateRedis(Path(services.make_tempdir("faults-redis")))
    redis.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecap_site.settings.test",
        "DATABASE_URL": private_cluster.url(),
        "REDIS_URL": redis.url(),
        "DATABASE_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }
    server: subprocess.Popen[bytes] | None = None
    try:
        _manage(env, "migrate", "--noinput", "-v", "0")
        output = _manage(env, "shell", "-c", SETUP).splitlines()
        _, token, integration_token = next(line for line in output if line.startswith("credentials ")).split()
        port = services.free_port()
        log_file = base / "gunicorn.log"
        command = [
            sys.executable, "-m", "gunicorn", "ecap_site.wsgi:application", "--bind", f"{HOST}:{port}",
            "--workers", "1", "--threads", "4", "--worker-class", "gthread", "--timeout", "30",
            "--graceful-timeout", "5", "--log-level", "warning",
        ]  # fmt: skip
        with log_file.open("wb") as out:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base_url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_file.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Portal(base_url, token, integration_token, private_cluster, server, log_file)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        redis.stop(signal.SIGKILL)
        shutil.rmtree(redis.base, ignore_errors=True)


@pytest.fixture
def cluster_up(portal: Portal) -> Iterator[Portal]:
    """The cluster answers when the test starts and when it ends, whatever the test did to it."""
    if not portal.cluster.answering:
        portal.cluster.start()
    yield portal
    if not portal.cluster.answering:
        portal.cluster.start()


def _readyz(portal: Portal) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{portal.base_url}/readyz", timeout=REQUEST_TIMEOUT)
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.json()


def _assert_database_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    assert body["code"] == "database_unavailable"
    assert body["fields"] == {}
    assert int(response.headers["Retry-After"]) > 0


def test_readyz_names_the_database_while_postgresql_is_down_and_recovers_without_a_restart(
    cluster_up: Portal,
) -> None:
    portal = cluster_up
    for _ in range(4):  # every thread of the worker holds a connection now
        assert _readyz(portal)[0] == 200

    portal.cluster.stop()
    status, body = _readyz(portal)
    assert status == 503
    assert body["status"] == "unavailable"
    assert "database" in body["failing"]
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["redis"]["ok"] is True

    portal.cluster.start()
    for _ in range(8):  # each thread's dead connection is replaced on its next request, none answers 503
        status, body = _readyz(portal)
        assert status == 200, body
        assert body["checks"]["database"]["ok"] is True
    assert portal.server.poll() is None


def test_requests_during_the_outage_answer_503_database_unavailable_never_500(cluster_up: Portal) -> None:
    portal = cluster_up
    assert portal.post_event().status_code == 201

    portal.cluster.stop()
    _assert_database_unavailable(portal.post_event())
    _assert_database_unavailable(
        requests.get(
            f"{portal.base_url}/api/v1/lineage/jobs/",
            headers={"Authorization": f"Bearer {portal.token}"},
            timeout=REQUEST_TIMEOUT,
        )
    )
    _assert_database_unavailable(
        requests.post(
            f"{portal.base_url}/integrations/v1/alertmanager/{portal.integration_token}/",
            json={"version": "4", "status": "firing", "alerts": []},
            timeout=REQUEST_TIMEOUT,
        )
    )

    portal.cluster.start()
    run_id = str(uuid.uuid4())
    assert portal.post_event(run_id).status_code == 201
    assert run_id in portal.stored_run_ids()
    assert portal.server.poll() is None


def test_writes_across_a_postgresql_restart_are_stored_when_acknowledged_and_recover_by_themselves(
    cluster_up: Portal,
) -> None:
    portal = cluster_up
    answers: list[tuple[str, int, bool]] = []
    before = portal.stored_run_ids()
    failures: list[str] = []
    restarted = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        after_restart = 0
        while after_restart < 10:  # keep writing until ten requests were sent after the restart finished
            run_id, began_after_restart = str(uuid.uuid4()), restarted.is_set()
            try:
                status = portal.post_event(run_id).status_code
            except requests.RequestException as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            with lock:
                answers.append((run_id, status, began_after_restart))
            after_restart += began_after_restart

    clients = [threading.Thread(target=client) for _ in range(2)]
    for thread in clients:
        thread.start()
    while len(answers) < 10 and all(thread.is_alive() for thread in clients):
        time.sleep(0.05)
    portal.cluster.restart()
    restarted.set()
    for thread in clients:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in clients), "a client hung"

    assert failures == []
    statuses = {status for _, status, _ in answers}
    assert statuses <= {201, 503}, statuses
    acknowledged = {run_id for run_id, status, _ in answers if status == 201}
    stored = portal.stored_run_ids() - before
    assert acknowledged <= stored  # nothing answered 201 was lost
    assert stored <= {run_id for run_id, _, _ in answers}
    # Every request sent once the restart finished succeeded: the app needed no restart of its own.
    assert [status for _, status, after in answers if after] == [201] * 20
    assert portal.server.poll() is None
