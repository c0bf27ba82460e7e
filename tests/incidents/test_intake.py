"""The intake endpoints: store first and answer 202, clear 400s that echo no values, 404 for a wrong token, 429 with
Retry-After, no redirect on a missing trailing slash, bearer tokens, and the Alertmanager/webhook formats."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.incidents.choices import IntegrationKind, PayloadStatus
from apps.incidents.models import AlertPayload, Incident
from tests.incidents.conftest import am_alert, am_payload

pytestmark = pytest.mark.django_db


def post(client: Client, url: str, body: object, **headers: str):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **headers)


def test_alertmanager_delivery_is_stored_before_the_202(client: Client, alertmanager) -> None:
    integration, token = alertmanager
    payload = am_payload(am_alert(), am_alert(instance="payments-1"))
    response = post(client, f"/integrations/v1/alertmanager/{token}/", payload)
    assert response.status_code == 202
    assert response.json()["alerts"] == 2
    stored = AlertPayload.objects.get(pk=response.json()["payload"])
    assert stored.integration == integration
    assert stored.status == PayloadStatus.PENDING
    assert stored.body == payload
    assert stored.request_id == response["X-Request-ID"]


def test_missing_trailing_slash_is_served_not_redirected(client: Client, alertmanager) -> None:
    _, token = alertmanager
    response = post(client, f"/integrations/v1/alertmanager/{token}", am_payload())
    assert response.status_code == 202
    assert AlertPayload.objects.count() == 1


def test_bearer_token_works_instead_of_the_url_token(client: Client, alertmanager) -> None:
    _, token = alertmanager
    response = post(client, "/integrations/v1/alertmanager/", am_payload(), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 202


@pytest.mark.parametrize("token", ["wrong", "ecapi_" + "x" * 43])
def test_wrong_token_is_404_in_the_error_format(client: Client, alertmanager, token: str) -> None:
    response = post(client, f"/integrations/v1/alertmanager/{token}/", am_payload())
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such integration.", "fields": {}}
    assert AlertPayload.objects.count() == 0


def test_token_of_another_kind_is_404(client: Client, make_integration) -> None:
    _, token = make_integration(IntegrationKind.WEBHOOK, "hooks")
    assert post(client, f"/integrations/v1/alertmanager/{token}/", am_payload()).status_code == 404


def test_disabled_integration_is_404(client: Client, alertmanager) -> None:
    integration, token = alertmanager
    integration.enabled = False
    integration.save()
    assert post(client, f"/integrations/v1/alertmanager/{token}/", am_payload()).status_code == 404


def test_malformed_payload_names_the_fields_without_echoing_values(client: Client, alertmanager) -> None:
    _, token = alertmanager
    secret = "s3cr3t-password-value"
    bad = am_payload(am_alert(extra={"password": secret}))
    bad["alerts"][0]["startsAt"] = "yesterday"
    bad["alerts"][0]["labels"]["count"] = 5
    bad["status"] = "burning"
    del bad["groupKey"]
    response = post(client, f"/integrations/v1/alertmanager/{token}/", bad)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_payload"
    assert set(body["fields"]) == {"groupKey", "status", "alerts.0.startsAt", "alerts.0.labels.count"}
    assert secret not in response.content.decode()
    assert token not in response.content.decode()
    assert AlertPayload.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        ("[]", "invalid_payload"),
        ('{"a": ' + "[" * 30 + "1" + "]" * 30 + "}", "invalid_payload"),
    ],
)
def test_unreadable_bodies_are_400(client: Client, alertmanager, body: bytes | str, code: str) -> None:
    _, token = alertmanager
    response = post(client, f"/integrations/v1/alertmanager/{token}/", body)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_get_is_405(client: Client, alertmanager) -> None:
    _, token = alertmanager
    assert client.get(f"/integrations/v1/alertmanager/{token}/").status_code == 405


def test_rate_limit_answers_429_with_retry_after(client: Client, make_integration) -> None:
    _, token = make_integration(IntegrationKind.ALERTMANAGER, "noisy", rate_limit_per_minute=3)
    codes = [post(client, f"/integrations/v1/alertmanager/{token}/", am_payload()).status_code for _ in range(5)]
    assert codes[:3] == [202, 202, 202]
    assert codes[3:] == [429, 429]
    limited = post(client, f"/integrations/v1/alertmanager/{token}/", am_payload())
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["code"] == "rate_limited"
    assert AlertPayload.objects.count() == 3


def test_webhook_body_is_validated_and_accepted(client: Client, make_integration) -> None:
    _, token = make_integration(IntegrationKind.WEBHOOK, "ci")
    ok = {
        "title": "Checkout latency above SLO",
        "severity": "error",
        "dedup_key": "checkout-latency",
        "labels": {"service": "checkout"},
        "links": [{"href": "https://grafana.example/d/1", "text": "Dashboard"}],
    }
    assert post(client, f"/integrations/v1/webhook/{token}/", ok).status_code == 202
    bad = {"severity": "apocalyptic", "status": "resolved", "links": [{"href": "javascript:alert(1)"}]}
    response = post(client, f"/integrations/v1/webhook/{token}", bad)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"title", "severity", "dedup_key", "links.0.href"}


def test_heartbeat_ping_records_the_heartbeat(client: Client, make_integration) -> None:
    integration, token = make_integration(IntegrationKind.WEBHOOK, "cron", heartbeat_interval_seconds=60)
    assert client.get(f"/integrations/v1/heartbeat/{token}/").status_code == 200
    integration.refresh_from_db()
    assert integration.last_heartbeat_at is not None
    assert integration.heartbeat_state == "healthy"
    assert client.get("/integrations/v1/heartbeat/nope/").status_code == 404


def test_oversized_body_is_413(client: Client, alertmanager, settings) -> None:
    _, token = alertmanager
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = am_payload(*[am_alert(instance=f"i-{n}") for n in range(20)])
    response = post(client, f"/integrations/v1/alertmanager/{token}/", big)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert Incident.objects.count() == 0
