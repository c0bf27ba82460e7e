"""OpenLineage intake over real HTTP: a gunicorn server (as in production) on the benchmark database and the real
Redis broker. Figures: events stored per second through the array form (100 events a request) and one event per
request, with concurrent clients, against ``/healthz`` on the same server and clients (the baseline); and the real
openlineage-python client posting one event per request from one thread. Targets: ≥ 1,000 events/s (array form),
≥ 200 events/s (one per request)."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from apps.common.services import api_token_create
from apps.lineage.models import LineageEvent
from tests.benchmarks.test_incidents import start_server
from tests.lineage.conftest import dataset, run_event
from tests.support import free_port

CLIENTS = 8
DURATION = 10.0
BATCH = 100
CLIENT_EVENTS = 300


def post_for(port: int, token: str, make_body, expect: tuple[int, ...]) -> tuple[float, int]:
    """Requests per second and events sent, for CLIENTS threads over DURATION seconds."""
    stop = time.monotonic() + DURATION
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def client(_: int) -> tuple[int, int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        requests = events = 0
        while time.monotonic() < stop:
            body, count = make_body()
            conn.request("POST", "/api/v1/lineage", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status in expect, response.status
            requests, events = requests + 1, events + count
        conn.close()
        return requests, events

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    elapsed = time.monotonic() - started
    return sum(r for r, _ in results) / elapsed, sum(e for _, e in results)


def health_rate(port: int) -> float:
    stop = time.monotonic() + DURATION / 2

    def client(_: int) -> int:
        conn, count = http.client.HTTPConnection("127.0.0.1", port, timeout=10), 0
        while time.monotonic() < stop:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            count += 1
        return count

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        total = sum(pool.map(client, range(CLIENTS)))
    return total / (time.monotonic() - started)


def event() -> dict:
    return run_event("COMPLETE", inputs=[dataset("raw/orders")], outputs=[dataset("curated/orders")])


@pytest.mark.django_db(transaction=True)
def test_lineage_intake_rate(bench, make_user, tmp_path: Path) -> None:
    _, token = api_token_create(user=make_user(role="integrator"), name="bench")
    port = free_port()
    server = start_server(port, tmp_path / "gunicorn.log")
    try:
        base = "lineage intake: GET /healthz, gunicorn 3 workers, 8 clients"
        bench.record(base, health_rate(port), "req/s")
        before = LineageEvent.objects.count()
        started = time.monotonic()
        _, sent = post_for(port, token, lambda: (json.dumps([event() for _ in range(BATCH)]), BATCH), (201,))
        array_rate = sent / (time.monotonic() - started)
        assert LineageEvent.objects.count() - before == sent  # every event was stored
        bench.record("lineage intake: events stored/s, arrays of 100 (target ≥ 1,000)", array_rate, "events/s")
        single_rate, sent = post_for(port, token, lambda: (json.dumps(event()), 1), (201,))
        bench.record("lineage intake: events stored/s, one per request (target ≥ 200)", single_rate, "req/s",
                     baseline=base)  # fmt: skip

        config = HttpConfig(url=f"http://127.0.0.1:{port}", timeout=10.0)
        config.auth = ApiKeyTokenProvider({"apiKey": token})
        client = OpenLineageClient(transport=HttpTransport(config))
        started = time.monotonic()
        for _ in range(CLIENT_EVENTS):
            client.emit(
                RunEvent(
                    eventType=RunState.COMPLETE,
                    eventTime=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    run=Run(runId=str(uuid.uuid4())),
                    job=Job(namespace="airflow", name="bench"),
                    producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
                    inputs=[InputDataset(namespace="file:///lake", name="raw/orders")],
                    outputs=[OutputDataset(namespace="file:///lake", name="curated/orders")],
                )
            )
        bench.record(
            "lineage intake: openlineage-python client, 1 thread, one per request",
            CLIENT_EVENTS / (time.monotonic() - started),
            "events/s",
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
