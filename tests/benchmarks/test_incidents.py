"""Alert intake under load, over real HTTP: a gunicorn server (as in production) on the benchmark database and the
real Redis broker, with concurrent clients posting Alertmanager deliveries. Figures: accepted deliveries per second
and latency percentiles, against ``/healthz`` on the same server and clients (the baseline); and how fast stored
deliveries become incidents (processing in one process, as one worker does).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.incidents.models import AlertPayload, Incident
from apps.incidents.services import integration_create, payloads_sweep
from tests.benchmarks.test_audit import child_env
from tests.incidents.conftest import am_alert, am_payload
from tests.support import free_port, percentile, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 8
DURATION = 15.0
PROCESS_COUNT = 1000


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **child_env(), "LOG_LEVEL": "WARNING", "DATABASE_CONN_MAX_AGE": "60"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ecap_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "3", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for_http(proc, port, log)
    return proc


def load(port: int, method: str, path: str, body: bytes | None, expect: int) -> tuple[float, list[float]]:
    """Requests per second and every latency (seconds) for CLIENTS threads over DURATION seconds."""
    stop = time.monotonic() + DURATION
    headers = {"Content-Type": "application/json"} if body else {}

    def client(_: int) -> list[float]:
        latencies = []
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            began = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - began)
            assert response.status == expect, response.status
            conn.close()
        return latencies

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = [lat for batch in pool.map(client, range(CLIENTS)) for lat in batch]
    return len(latencies) / (time.monotonic() - started), sorted(latencies)


@pytest.mark.django_db(transaction=True)
def test_alert_intake_rate_and_latency(bench, tmp_path: Path) -> None:
    _, token = integration_create(kind="alertmanager", name="bench", rate_limit_per_minute=10**9)
    body = json.dumps(am_payload(am_alert(), am_alert(instance="payments-1"))).encode()
    port = free_port()
    server = start_server(port, tmp_path / "gunicorn.log")
    try:
        health_rate, health_lat = load(port, "GET", "/healthz", None, 200)
        rate, lat = load(port, "POST", f"/integrations/v1/alertmanager/{token}/", body, 202)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert AlertPayload.objects.count() == len(lat)  # every accepted delivery was stored
    base = "incidents: GET /healthz, gunicorn 3 workers, 8 clients"
    bench.record(base, health_rate, "req/s")
    bench.record("incidents: Alertmanager deliveries accepted (stored, 202)", rate, "req/s", baseline=base)
    bench.record("incidents: /healthz latency p99", percentile(health_lat, 0.99) * 1000, "ms")
    bench.record("incidents: intake latency p50", percentile(lat, 0.50) * 1000, "ms")
    bench.record(
        "incidents: intake latency p99", percentile(lat, 0.99) * 1000, "ms", baseline="incidents: /healthz latency p99"
    )


@pytest.mark.django_db(transaction=True)
def test_stored_deliveries_become_incidents(bench) -> None:
    integration, _ = integration_create(kind="alertmanager", name="bench-processing")
    for n in range(PROCESS_COUNT):
        AlertPayload.objects.create(
            integration=integration,
            received_at=timezone.now(),
            body=am_payload(am_alert(instance=f"payments-{n % 50}"), group_key=f"group-{n % 50}"),
        )
    started = time.perf_counter()
    done = payloads_sweep(older_than=timedelta(seconds=-1), limit=PROCESS_COUNT)
    elapsed = time.perf_counter() - started
    assert done == PROCESS_COUNT
    assert Incident.objects.count() == 50
    bench.record("incidents: deliveries processed into incidents (1 process)", done / elapsed, "deliveries/s")
