"""``/metrics``: Prometheus exposition of request counters, optionally behind a scraper bearer token."""

from __future__ import annotations

import json

from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

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
