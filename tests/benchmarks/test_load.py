"""The portal under a mixed load over real HTTP: gunicorn with gthread workers sized for two cores (as
``deploy/gunicorn.conf.py`` sizes them: five workers, here of four threads, none recycled during the run) on the
benchmark database seeded with the demo data plus a few hundred datasets, lineage runs, incidents, data-subject
requests and consent decisions, and the real Redis broker (the work writes queue is left there: no worker runs).

``LOAD_CLIENTS`` clients (default 100), each a thread with its own keep-alive ``requests.Session``, with the API
tokens of five roles, run for ``LOAD_SECONDS`` (default 60) a weighted mix of list and detail reads across the
catalog, the lineage graph, incidents, on-call, quality and privacy, and writes: OpenLineage events (a new runId
each), alert deliveries to the Alertmanager integration, incident acknowledgements and data-subject requests. Every
response is recorded; a 5xx, a connection error or any status other than the one the operation expects fails the
benchmark, and so does an accepted write that is not stored. The baseline is the same mix from one client for
``LOAD_BASELINE_SECONDS`` (default 10) on the same server, after a warm-up of ``LOAD_WARMUP_SECONDS`` (default 5)
that is checked but not measured. Figures: requests, throughput, latency percentiles overall and per operation, and
each p99 against the baseline's.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from apps.catalog.models import Dataset
from apps.common.services import api_token_create
from apps.incidents.choices import IncidentStatus
from apps.incidents.models import AlertPayload, Incident
from apps.incidents.services import integration_create, payload_accept, payloads_sweep
from apps.lineage.models import LineageEvent
from apps.lineage.services.intake import lineage_ingest_events
from apps.privacy.models import DataSubjectRequest
from apps.privacy.requests import request_create
from apps.privacy.services import ConsentIn, consent_record_many
from tests.incidents.conftest import am_alert, am_payload
from tests.support import free_port, percentile, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "100"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
BASELINE_SECONDS = float(os.environ.get("LOAD_BASELINE_SECONDS", "10"))
WARMUP_SECONDS = float(os.environ.get("LOAD_WARMUP_SECONDS", "5"))
CORES = 2
WORKERS, THREADS = 2 * CORES + 1, 4
# Seeded on top of the demo data.
PIPELINES = 150  # raw → curated → mart lineage, with schemas: 300+ datasets, 150 jobs and runs
INCIDENTS = 400  # open incidents, most of them acknowledged during the run
REQUESTS = 40
CONSENTS = 300
API = "/api/v1"
LAKE = "file:///lake"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.1.0"
FACET_BASE = "https://openlineage.io/spec/facets"


def ol_dataset(name: str, *columns: str) -> dict[str, Any]:
    """An OpenLineage dataset of the lake, with its schema facet when ``columns`` are given."""
    out: dict[str, Any] = {"namespace": LAKE, "name": name}
    if columns:
        out["facets"] = {
            "schema": {
                "_producer": PRODUCER,
                "_schemaURL": f"{FACET_BASE}/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                "fields": [{"name": c, "type": "string"} for c in columns],
            }
        }
    return out


def ol_event(event_type: str, *, job: str, run_id: str, inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    """A RunEvent as an Airflow producer sends it."""
    return {
        "eventType": event_type,
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "airflow", "name": job, "facets": {}},
        "inputs": inputs,
        "outputs": outputs,
    }


def database_url() -> str:
    """DATABASE_URL pointing at the benchmark database pytest-django created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


@dataclass
class Sample:
    """One response (or failure to get one)."""

    kind: str
    seconds: float
    status: int
    detail: str = ""


@dataclass
class Operation:
    """A kind of request in the mix: who sends it, how often, and the status that means it worked."""

    kind: str
    weight: int
    role: str
    build: Callable[[random.Random], tuple[str, str, dict[str, Any] | None]]
    expect: int


@dataclass
class Workload:
    """What the clients read and write: tokens per role, the seeded rows to address, and what was accepted."""

    port: int
    tokens: dict[str, str]
    alert_token: str
    datasets: list[str]
    graph_roots: list[str]
    incidents: list[str]
    requests: list[str]
    to_acknowledge: deque[str]
    acknowledged: list[str] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)
    sequence: itertools.count[int] = field(default_factory=itertools.count)

    def operations(self) -> list[Operation]:
        def get(path: str) -> Callable[[random.Random], tuple[str, str, None]]:
            return lambda rng: ("GET", path, None)

        def pick(values: list[str], template: str) -> Callable[[random.Random], tuple[str, str, None]]:
            return lambda rng: ("GET", template.format(rng.choice(values)), None)

        def lineage_event(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
            n = rng.randrange(PIPELINES)
            event = ol_event(
                "COMPLETE",
                job=f"load_pipeline_{n}",
                run_id=str(uuid.uuid4()),
                inputs=[ol_dataset(f"raw/load_{n}")],
                outputs=[ol_dataset(f"curated/load_{n}")],
            )
            return "POST", "/api/v1/lineage", event

        def alert(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
            instance = f"load-{next(self.sequence) % 500}"
            body = am_payload(am_alert("DataPipelineBacklog", instance=instance), group_key=instance)
            return "POST", f"/integrations/v1/alertmanager/{self.alert_token}/", body

        def dsr(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
            body = {
                "kind": "email",
                "value": f"load-{uuid.uuid4().hex[:12]}@example.com",
                "request_type": rng.choice(["gdpr.access", "gdpr.erasure", "ccpa.know"]),
                "jurisdiction": "DE",
            }
            return "POST", f"{API}/privacy/requests/", body

        report = f"{API}/privacy/consent/report/?since=2026-01-01T00:00:00Z&until=2027-01-01T00:00:00Z"
        return [
            Operation("catalog: datasets list", 8, "data_steward", get(f"{API}/catalog/datasets/?page_size=20"), 200),
            Operation("catalog: dataset detail", 8, "data_steward",
                      pick(self.datasets, f"{API}/catalog/datasets/{{}}/"), 200),
            Operation("catalog: fields list", 3, "auditor", get(f"{API}/catalog/fields/?page_size=50"), 200),
            Operation("lineage: graph, both ways, 3 hops", 6, "data_steward",
                      pick(self.graph_roots, f"{API}/lineage/graph/?namespace={LAKE}&name={{}}&direction=both&depth=3"),
                      200),
            Operation("lineage: runs list", 3, "auditor", get(f"{API}/lineage/runs/?page_size=20"), 200),
            Operation("incidents: list", 8, "oncall_engineer", get(f"{API}/incidents/incidents/?page_size=20"), 200),
            Operation("incidents: detail", 6, "oncall_engineer",
                      pick(self.incidents, f"{API}/incidents/incidents/{{}}/"), 200),
            Operation("oncall: now", 4, "oncall_engineer", get(f"{API}/oncall/now/"), 200),
            Operation("oncall: schedules list", 3, "oncall_engineer", get(f"{API}/oncall/schedules/"), 200),
            Operation("quality: datasets list", 4, "data_steward", get(f"{API}/quality/datasets/?page_size=20"), 200),
            Operation("quality: rules list", 3, "data_steward", get(f"{API}/quality/rules/?page_size=20"), 200),
            Operation("privacy: request detail", 3, "compliance_officer",
                      pick(self.requests, f"{API}/privacy/requests/{{}}/"), 200),
            Operation("privacy: consent report", 2, "compliance_officer", lambda rng: ("GET", report, None), 200),
            Operation("write: OpenLineage event", 8, "integrator", lineage_event, 201),
            Operation("write: Alertmanager delivery", 8, "", alert, 202),
            Operation("write: incident acknowledge", 4, "oncall_engineer", lambda rng: ("POST", "", None), 200),
            Operation("write: data-subject request", 2, "integrator", dsr, 201),
        ]  # fmt: skip


def call(session: requests.Session, work: Workload, op: Operation, rng: random.Random) -> Sample:
    """Send one request of ``op`` and record what came back."""
    kind, expect, acknowledging = op.kind, op.expect, None
    if op.kind == "write: incident acknowledge":
        try:
            acknowledging = work.to_acknowledge.popleft()
        except IndexError:  # every seeded incident is acknowledged: read one instead
            kind, expect = "incidents: detail", 200
        if acknowledging:
            method, path, body = "POST", f"{API}/incidents/incidents/{acknowledging}/acknowledge/", None
        else:
            method, path, body = "GET", f"{API}/incidents/incidents/{rng.choice(work.incidents)}/", None
    else:
        method, path, body = op.build(rng)
    headers = {"Authorization": f"Bearer {work.tokens[op.role]}"} if op.role else {}
    began = time.perf_counter()
    try:
        response = session.request(method, f"http://127.0.0.1:{work.port}{path}", json=body, headers=headers,
                                   timeout=60)  # fmt: skip
    except requests.RequestException as exc:
        return Sample(kind, time.perf_counter() - began, 0, f"{type(exc).__name__}: {exc}"[:300])
    seconds = time.perf_counter() - began
    if response.status_code != expect:
        return Sample(kind, seconds, response.status_code, f"{method} {path}: {response.text[:300]}")
    with work.lock:
        work.accepted[kind] += 1
        if acknowledging:
            work.acknowledged.append(acknowledging)
    return Sample(kind, seconds, response.status_code)


def run_load(work: Workload, clients: int, seconds: float, seed: int) -> tuple[list[Sample], float]:
    """Every sample of ``clients`` threads running the mix for ``seconds``, and the elapsed time."""
    operations = work.operations()
    weights = [op.weight for op in operations]
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def client(n: int) -> list[Sample]:
        rng = random.Random(seed * 1000 + n)
        samples = []
        with requests.Session() as session:
            start.wait()
            while time.monotonic() < stop_at[0]:
                samples.append(call(session, work, rng.choices(operations, weights)[0], rng))
        return samples

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, n) for n in range(clients)]
        stop_at.append(time.monotonic() + seconds)
        began = time.monotonic()
        start.wait()
        samples = [s for f in futures for s in f.result()]
    return samples, time.monotonic() - began


def start_gthread_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """The production gunicorn configuration, gthread workers for two cores, on the benchmark database."""
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "ecap_site.settings.test", "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING", "DATABASE_CONN_MAX_AGE": "60",
        "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(WORKERS), "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_MAX_REQUESTS": "0", "GUNICORN_LOG_LEVEL": "warning",
    }  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ecap_site.wsgi:application", "--config", "deploy/gunicorn.conf.py",
             "--worker-class", "gthread", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for_http(proc, port, log, timeout=90)
    return proc


def seed(make_user: Callable[..., Any]) -> tuple[dict[str, str], str]:
    """The demo data plus the benchmark's volume; returns API tokens per role and the alert integration's token."""
    call_command("create_demo_users", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    for start in range(0, PIPELINES, 50):
        events = []
        for n in range(start, min(start + 50, PIPELINES)):
            columns = ("order_id", "customer_email", "amount", "created_at")
            raw = ol_dataset(f"raw/load_{n}", *columns)
            curated = ol_dataset(f"curated/load_{n}", *columns)
            mart = ol_dataset(f"mart/load_{n % 10}", "customer_email", "total")
            for job, inputs, outputs in (
                (f"load_pipeline_{n}", [raw], [curated]),
                (f"load_mart_{n}", [curated], [mart]),
            ):
                run = str(uuid.uuid4())
                events += [ol_event(kind, job=job, run_id=run, inputs=inputs, outputs=outputs)
                           for kind in ("START", "COMPLETE")]  # fmt: skip
        lineage_ingest_events(events=events)
    integration, alert_token = integration_create(kind="alertmanager", name="load", rate_limit_per_minute=10**9)
    for n in range(INCIDENTS):
        payload_accept(integration=integration, body=am_payload(am_alert(instance=f"seed-{n}"), group_key=f"seed-{n}"))
    payloads_sweep(older_than=timedelta(seconds=-1), limit=INCIDENTS)
    for n in range(REQUESTS):
        request_create(kind="email", value=f"seeded-{n}@example.com", request_type="gdpr.access", channel="api")
    consent_record_many(
        items=[
            ConsentIn(kind="email", value=f"consent-{n}@example.com", purpose="marketing",
                      decision="opt_in" if n % 3 else "opt_out", source="web", mechanism="cookie banner",
                      notice_version="2026-06")
            for n in range(CONSENTS)
        ]
    )  # fmt: skip
    roles = ("data_steward", "auditor", "oncall_engineer", "compliance_officer", "integrator")
    return {role: api_token_create(user=make_user(role=role), name="load")[1] for role in roles}, alert_token


def summary(samples: list[Sample]) -> dict[str, float]:
    latencies = sorted(s.seconds for s in samples)
    return {
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": latencies[-1] * 1000,
    }


def stored() -> dict[str, int]:
    return {
        "write: OpenLineage event": LineageEvent.objects.count(),
        "write: Alertmanager delivery": AlertPayload.objects.count(),
        "write: data-subject request": DataSubjectRequest.objects.count(),
    }


@pytest.mark.django_db(transaction=True)
def test_mixed_load_answers_without_errors_and_stores_every_write(bench, make_user, settings, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    tokens, alert_token = seed(make_user)
    work = Workload(
        port=free_port(),
        tokens=tokens,
        alert_token=alert_token,
        datasets=[str(p) for p in Dataset.objects.values_list("public_id", flat=True)],
        graph_roots=[f"curated/load_{n}" for n in range(PIPELINES)],
        incidents=[str(p) for p in Incident.objects.values_list("public_id", flat=True)],
        requests=[str(p) for p in DataSubjectRequest.objects.values_list("public_id", flat=True)],
        to_acknowledge=deque(
            str(p) for p in Incident.objects.filter(status=IncidentStatus.TRIGGERED).values_list("public_id", flat=True)
        ),
    )
    before = stored()
    server = start_gthread_server(work.port, tmp_path / "gunicorn.log")
    try:
        # Every worker thread answers its first requests (imports, URL resolvers, connections) before measuring.
        warmup, _ = run_load(work, min(CLIENTS, 2 * WORKERS * THREADS), WARMUP_SECONDS, seed=0)
        baseline, _ = run_load(work, 1, BASELINE_SECONDS, seed=1)
        samples, elapsed = run_load(work, CLIENTS, SECONDS, seed=2)
    finally:
        server.terminate()
        server.wait(timeout=60)

    label = f"load: {CLIENTS} clients x {SECONDS:g} s, gunicorn {WORKERS}x{THREADS} gthread"
    base = f"load: 1 client x {BASELINE_SECONDS:g} s (baseline)"
    overall, base_overall = summary(samples), summary(baseline)
    bench.record(f"{base}: requests/s", len(baseline) / BASELINE_SECONDS, "req/s")
    bench.record(f"{label}: requests", len(samples), "requests")
    bench.record(f"{label}: requests/s", len(samples) / elapsed, "req/s", baseline=f"{base}: requests/s")
    for name in ("p50", "p95", "p99", "max"):
        bench.record(f"{base}: latency {name}", base_overall[name], "ms")
    for name in ("p50", "p95", "p99", "max"):
        bench.record(f"{label}: latency {name}", overall[name], "ms", baseline=f"{base}: latency {name}")
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    base_by_kind: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_kind[s.kind].append(s)
    for s in baseline:
        base_by_kind[s.kind].append(s)
    rows: list[tuple[str, ...]] = [
        ("operation", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "baseline p99 ms", "p99 ratio")
    ]
    for kind in sorted(by_kind):
        figures = summary(by_kind[kind])
        base_p99 = summary(base_by_kind[kind])["p99"] if base_by_kind[kind] else None
        ratio = f"{figures['p99'] / base_p99:.2f}x" if base_p99 else "n/a"
        rows.append((kind, str(len(by_kind[kind])), *(f"{figures[k]:,.1f}" for k in ("p50", "p95", "p99", "max")),
                     f"{base_p99:,.1f}" if base_p99 else "n/a", ratio))  # fmt: skip
        if base_p99:
            bench.record(f"load: {kind}: p99, 1 client", base_p99, "ms")
            bench.record(f"load: {kind}: p99, {CLIENTS} clients", figures["p99"], "ms",
                         baseline=f"load: {kind}: p99, 1 client")  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("\n" + "\n".join(" | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows))

    failures = [s for s in (*warmup, *baseline, *samples) if s.detail or s.status >= 500]
    by_failure: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for s in failures:
        by_failure[(s.kind, s.status)].append(s)
    assert not failures, {key: (len(group), group[0].detail) for key, group in by_failure.items()}

    after = stored()
    for kind, count in before.items():
        assert after[kind] - count == work.accepted[kind], (kind, work.accepted[kind], after[kind] - count)
    acknowledged = Incident.objects.filter(public_id__in=work.acknowledged, acknowledged_at__isnull=False)
    assert acknowledged.count() == len(work.acknowledged) == work.accepted["write: incident acknowledge"]
