"""``/metrics``: Prometheus exposition of request counters, optionally behind a scraper bearer token; Celery queue
depth and task latency; the shared histograms; and the catalogue check: every metric is used by a dashboard or an
alert rule, and every name a dashboard or a rule uses is exported by a portal with seeded data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ecap_site.celery import QUEUES, app

ROOT = Path(__file__).resolve().parents[2]

REQUESTS_BY_VIEW = "django_http_requests_total_by_view_transport_method_total"
SCRAPER_TOKEN = "scrape-me-0123456789"


def scrape(client: Client, **headers: str) -> str:
    response = client.get(reverse("metrics"), headers=headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def requests_counted_for_view(exposition: str, view: str) -> float:
    """The sum over transports and methods of the per-view request counter."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == REQUESTS_BY_VIEW and sample.labels.get("view") == view
    )


def test_metrics_is_served_without_login_in_prometheus_text_format(client: Client) -> None:
    response = client.get(reverse("metrics"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert "django_http_requests_total_by_view_transport_method" in names


def test_metrics_counts_each_request_by_view(client: Client) -> None:
    before = requests_counted_for_view(scrape(client), "healthz")

    for _ in range(3):
        assert client.get(reverse("healthz")).status_code == 200
    after = requests_counted_for_view(scrape(client), "healthz")

    assert after - before == 3


@override_settings(METRICS_TOKEN=SCRAPER_TOKEN)
def test_metrics_with_token_configured_answers_401_json_without_authorization(client: Client) -> None:
    response = client.get(reverse("metrics"))

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"code", "detail", "fields"}
    assert body["code"] == "not_authenticated"
    assert b"django_http_requests" not in response.content


@override_settings(METRICS_TOKEN=SCRAPER_TOKEN)
def test_metrics_with_token_configured_answers_401_json_to_a_wrong_bearer(client: Client) -> None:
    response = client.get(reverse("metrics"), headers={"Authorization": "Bearer not-the-scraper-token"})

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["code"] == "not_authenticated"


@override_settings(METRICS_TOKEN=SCRAPER_TOKEN)
def test_metrics_with_token_configured_answers_401_to_the_token_without_bearer_scheme(client: Client) -> None:
    response = client.get(reverse("metrics"), headers={"Authorization": f"Token {SCRAPER_TOKEN}"})

    assert response.status_code == 401


@override_settings(METRICS_TOKEN=SCRAPER_TOKEN)
def test_metrics_with_token_configured_answers_200_to_the_right_bearer(client: Client) -> None:
    exposition = scrape(client, Authorization=f"Bearer {SCRAPER_TOKEN}")

    assert REQUESTS_BY_VIEW in exposition


# --- the portal's business metrics: shared helpers, Celery queue depth and task latency, the catalogue ------------


def samples(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of one scrape, by name and label set."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(scrape(client))
        for sample in family.samples
    }


def value(client: Client, name: str, **labels: str) -> float | None:
    """One sample of a fresh scrape (None when it is not exported)."""
    return samples(client).get((name, frozenset(labels.items())))


def test_queue_depth_reflects_the_messages_waiting_in_the_real_redis_queue(client: Client, db: None) -> None:
    """Nothing consumes here: tasks published to the spark queue wait in its Redis list."""
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("spark")
    try:
        assert value(client, "ecap_celery_queue_length", queue="spark") == 0.0
        for _ in range(3):
            app.send_task("spark.metrics_probe", queue="spark")
        app.send_task("incidents.metrics_probe")  # routed by prefix to critical

        assert value(client, "ecap_celery_queue_length", queue="spark") == 3.0
        assert value(client, "ecap_celery_queue_length", queue="critical") >= 1.0
        # The queue the metric reads is the one in this run's key prefix, not an unprefixed namesake.
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
        client_redis = redis.Redis.from_url(settings.REDIS_URL)
        assert client_redis.llen(f"{prefix}spark") == 3
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("spark")
            connection.default_channel.queue_purge("critical")


def test_every_declared_queue_is_reported_even_when_empty(client: Client, db: None) -> None:
    exported = {dict(labels)["queue"] for (name, labels) in samples(client) if name == "ecap_celery_queue_length"}

    assert exported == set(QUEUES)


def test_a_shared_histogram_counts_observations_made_in_another_process(client: Client, db: None) -> None:
    """A web pod reports what a worker observed: the buckets live in Redis, not in the observing process."""
    name = "ecap_celery_task_latency_seconds"
    before = {
        key: count for key, count in samples(client).items() if key[0].startswith(name) and ("queue", "spark") in key[1]
    }
    code = (
        "import django; django.setup()\n"
        "from apps.common.metrics import TASK_LATENCY_HISTOGRAM as h\n"
        "h.observe(0.3, 'spark'); h.observe(7.0, 'spark')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=os.environ.copy())

    def delta(sample_name: str, **labels: str) -> float:
        key = (sample_name, frozenset({"queue": "spark", **labels}.items()))
        return (value(client, sample_name, queue="spark", **labels) or 0.0) - before.get(key, 0.0)

    assert delta(f"{name}_bucket", le="0.25") == 0
    assert delta(f"{name}_bucket", le="0.5") == 1
    assert delta(f"{name}_bucket", le="5.0") == 1
    assert delta(f"{name}_bucket", le="10.0") == 2
    assert delta(f"{name}_bucket", le="+Inf") == 2
    assert delta(f"{name}_count") == 2
    assert delta(f"{name}_sum") == pytest.approx(7.3)


def test_an_unknown_queue_is_reported_as_other_never_as_its_name() -> None:
    from apps.common.metrics import queue_label

    assert queue_label("critical") == "critical"
    assert queue_label("celery.pidbox-user-42") == "other"
    assert queue_label(None) == "other"


@pytest.mark.slow
def test_task_latency_is_observed_per_queue_from_publication_to_start_on_a_real_worker(
    celery_worker_process: Path, client: Client
) -> None:
    count = "ecap_celery_task_latency_seconds_count"
    before = value(client, count, queue="default") or 0.0

    result = app.send_task("common.api_tokens_purge")  # routed to default, run by the worker subprocess
    assert result.get(timeout=30) == 0

    assert value(client, count, queue="default") == before + 1
    assert (value(client, "ecap_celery_task_latency_seconds_bucket", queue="default", le="+Inf") or 0) >= 1


def test_metrics_under_multiprocess_mode_still_serve_the_portal_collectors(
    client: Client, db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (gunicorn), django-prometheus' own view would drop every custom collector."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    names = {family.name for family in text_string_to_metric_families(scrape(client))}

    assert {"ecap_incidents_open", "ecap_celery_queue_length", "ecap_privacy_requests_overdue"} <= names


# --- every metric used by a dashboard or an alert rule, every name they use exported -------------------------------
RULES_FILE = ROOT / "helm" / "ecap-portal" / "files" / "rules" / "portal.rules.yaml"
DASHBOARDS = ROOT / "helm" / "ecap-portal" / "files" / "dashboards"
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "le",
    "inf", "nan", "e",
}  # fmt: skip
# Series Prometheus makes itself (not exported by any target).
SYNTHETIC = {"up"}


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert rule and every dashboard query."""
    found = [
        (f"rule {rule['alert']}", rule["expr"])
        for group in yaml.safe_load(RULES_FILE.read_text())["groups"]
        for rule in group["rules"]
    ]
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            found += [(f"{path.name}: {panel['title']}", t["expr"]) for t in panel.get("targets", [])]
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers not inside {…} matchers, [ranges] or "strings", that are
    neither functions (followed by a parenthesis) nor PromQL keywords, labels of by/without or durations."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_are_found_in_expressions() -> None:
    assert metric_names(
        'histogram_quantile(0.95, max by (namespace, le) (rate(ecap_x_bucket{queue="a b"}[10m]))) > 30'
    ) == {"ecap_x_bucket"}
    assert metric_names("time() - max by (namespace) (ecap_ts) > 2 * 86400") == {"ecap_ts"}
    assert metric_names('sum(a{x="1"}) / clamp_min(sum(b), 1e-9) and on (ns) c') == {"a", "b", "c"}


def seed_every_app(make_user: Any) -> None:
    """Data for every family that has no sample until something happened (labelled histograms, verification)."""
    from apps.audit.services import audit_verify_run
    from apps.catalog.models import Dataset
    from apps.common.metrics import TASK_LATENCY_HISTOGRAM
    from apps.lineage.models import LineageEvent
    from apps.oncall.metrics import ESCALATION_LAG
    from apps.privacy.models import DataSubjectRequest
    from apps.privacy.requests import request_create
    from apps.quality.models import QualityScan
    from apps.sparkruns.models import SparkRun

    now = timezone.now()
    TASK_LATENCY_HISTOGRAM.observe(0.2, "default")
    ESCALATION_LAG.observe(3.0)
    request = request_create(kind="email", value="seed@example.test", request_type="gdpr.erasure", channel="web")
    DataSubjectRequest.objects.filter(pk=request.pk).update(status="completed", closed_at=now)
    dataset = Dataset.objects.create(namespace="file:///lake", name="raw/seeded")
    QualityScan.objects.create(
        dataset=dataset, state="succeeded", quality_score=90.0, trust_score=80.0, finished_at=now
    )
    LineageEvent.objects.create(
        kind="run", event_type="COMPLETE", event_time=now - timedelta(seconds=3), dedup_key="seed", payload={},
        status="processed", processed_at=now,
    )  # fmt: skip
    SparkRun.objects.create(
        job="rfm", lake_root="file:///lake", backend="local", state="succeeded", started_at=now - timedelta(minutes=2),
        finished_at=now,
    )  # fmt: skip
    audit_verify_run()


def test_every_metric_is_used_by_a_dashboard_or_an_alert_and_every_name_they_use_is_exported(
    client: Client, make_user: Any
) -> None:
    seed_every_app(make_user)
    assert client.get(reverse("healthz")).status_code == 200  # a response for the per-status counters
    # An alert delivery refused for its token, for the per-process intake counter.
    assert (
        client.post("/integrations/v1/alertmanager/not-a-token", "{}", content_type="application/json").status_code
        == 404
    )
    exposition = scrape(client)
    exported = {s.name for family in text_string_to_metric_families(exposition) for s in family.samples}
    families = {family.name for family in text_string_to_metric_families(exposition)}
    used: dict[str, list[str]] = {}
    for where, expr in expressions():
        for name in metric_names(expr):
            used.setdefault(name, []).append(where)

    missing = {name: places for name, places in used.items() if name not in exported and name not in SYNTHETIC}
    assert missing == {}, f"used by rules or dashboards but not on /metrics: {missing}"
    unused = sorted(
        family
        for family in families
        # prometheus_client's *_created timestamps of in-process counters come out as families of their own.
        if family.startswith("ecap_")
        and not family.endswith("_created")
        and not any(name.startswith(family) for name in used)
    )
    assert unused == [], f"exported but used by no dashboard panel or alert rule: {unused}"
    # The metric names the chart's alerts were written against before the metrics existed.
    assert {
        "ecap_celery_queue_length", "ecap_oncall_escalation_lag_seconds_bucket", "ecap_privacy_requests_overdue",
        "ecap_audit_chain_verified", "ecap_audit_chain_last_verified_timestamp_seconds", "ecap_quality_scans_total",
    } <= exported  # fmt: skip


def test_no_metric_label_carries_personal_data_or_an_unbounded_value(client: Client, make_user: Any) -> None:
    seed_every_app(make_user)
    ecap = [
        sample
        for family in text_string_to_metric_families(scrape(client))
        if family.name.startswith("ecap_")
        for sample in family.samples
    ]
    labels = {key for sample in ecap for key in sample.labels}
    assert labels <= {
        "priority", "status", "kind", "outcome", "queue", "type", "regime", "severity", "event_type", "job", "state",
        "le",
    }  # fmt: skip
    assert not [s for s in ecap if any("@" in v or "seed" in v for v in s.labels.values())]
