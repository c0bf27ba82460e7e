"""Every refused request writes exactly one audit event (action ``deny``, outcome ``denied``) naming the actor (or
anonymous), the client address, the URL pattern, the method, the status and the reason: 401, 403 and 429 from the
API, 403 from the admin, 403 (CSRF, missing permission) and 429 from the portal. The event carries no personal data
from the request: no query string, no posted credentials, no signed token from the path."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.catalog.models import Dataset
from apps.common import roles, security
from tests.catalog.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def make_dataset(**fields: Any) -> Dataset:
    return cast("Dataset", DatasetFactory(**fields))


IP = "198.51.100.23"


@contextmanager
def one_denial() -> Iterator[list[AuditEvent]]:
    """Yields a list that holds, after the block, the one denial event the block caused."""
    before = set(AuditEvent.objects.filter(action="deny").values_list("id", flat=True))
    found: list[AuditEvent] = []
    yield found
    new = list(AuditEvent.objects.filter(action="deny").exclude(id__in=before))
    assert len(new) == 1, f"expected one denial event, got {len(new)}"
    found.extend(new)


def event_text(event: AuditEvent) -> str:
    return json.dumps(
        {f.name: getattr(event, f.name) for f in AuditEvent._meta.fields if f.name != "occurred_at"}, default=str
    )


def test_an_anonymous_api_call_is_recorded_as_a_401_without_its_query_string(api_client: APIClient) -> None:
    with one_denial() as events:
        response = api_client.get("/api/v1/catalog/datasets/?search=ana@example.com", REMOTE_ADDR=IP)
    assert response.status_code == 401
    event = events[0]
    assert event.outcome == "denied"
    assert event.actor_type == "anonymous"
    assert event.actor_id == ""
    assert event.ip == IP
    assert event.details["status"] == 401
    assert event.details["method"] == "GET"
    assert event.details["reason"] == "not_authenticated"
    assert "datasets" in event.details["route"]
    assert "ana@example.com" not in event_text(event)


def test_a_forbidden_api_call_names_the_token_user(token_client: Callable[..., Any]) -> None:
    client, integrator = token_client(role=roles.INTEGRATOR)
    dataset = make_dataset()
    with one_denial() as events:
        response = client.patch(
            f"/api/v1/catalog/datasets/{dataset.public_id}/", {"description": "x"}, format="json", REMOTE_ADDR=IP
        )
    assert response.status_code == 403
    event = events[0]
    assert event.actor_type == "token"
    assert event.actor_id == str(integrator.public_id)
    assert event.actor_token
    assert event.ip == IP
    assert (event.details["status"], event.details["method"], event.details["reason"]) == (
        403,
        "PATCH",
        "permission_denied",
    )


def test_a_throttled_api_call_is_recorded_as_a_429(
    token_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = token_client()
    monkeypatch.setattr(security, "login_locked_for", lambda **_: 30)
    with one_denial() as events:
        response = client.get("/api/v1/common/me/", REMOTE_ADDR=IP)
    assert response.status_code == 429
    assert events[0].details["status"] == 429
    assert events[0].details["reason"] == "throttled"
    assert events[0].ip == IP


def test_a_forbidden_admin_page_names_the_staff_user(client: Client, make_user: Callable[..., Any]) -> None:
    staff = make_user(is_staff=True)
    client.force_login(staff)
    with one_denial() as events:
        response = client.get("/admin/catalog/dataset/", REMOTE_ADDR=IP)
    assert response.status_code == 403
    event = events[0]
    assert event.actor_type == "user"
    assert event.actor_id == str(staff.public_id)
    assert event.details["route"].startswith("/admin/")
    assert event.details["reason"] == "permission_denied"


def test_a_forbidden_portal_page_is_recorded(client: Client, make_user: Callable[..., Any]) -> None:
    integrator = make_user(role=roles.INTEGRATOR)
    client.force_login(integrator)
    with one_denial() as events:
        assert client.get("/privacy/", REMOTE_ADDR=IP).status_code == 403
    assert events[0].actor_id == str(integrator.public_id)
    assert events[0].details["route"] == "/privacy/"


def test_a_csrf_failure_is_recorded_without_the_signed_token_of_the_path() -> None:
    client = Client(enforce_csrf_checks=True)
    secret = "signed-token-value-0123456789"
    with one_denial() as events:
        response = client.post(f"/privacy/verify/{secret}/", {"code": "1"}, REMOTE_ADDR=IP)
    assert response.status_code == 403
    event = events[0]
    assert event.actor_type == "anonymous"
    assert event.details["reason"] == "csrf_failed"
    assert event.details["route"] == "/privacy/verify/<str:token>/"
    assert secret not in event_text(event)


def test_a_locked_sign_in_is_recorded_without_the_credentials(
    client: Client, make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    person = make_user()
    monkeypatch.setattr(security, "login_locked_for", lambda **_: 30)
    with one_denial() as events:
        response = client.post(
            "/login/", {"username": person.username, "password": "correct-horse-battery"}, REMOTE_ADDR=IP
        )
    assert response.status_code == 429
    event = events[0]
    assert event.actor_type == "anonymous"
    assert event.ip == IP
    assert event.details["reason"] == "login_rate_limited"
    assert event.details["route"] == "/login/"
    text = event_text(event)
    assert person.username not in text
    assert "correct-horse-battery" not in text


def test_repeated_anonymous_denials_are_recorded_once_a_window_and_counted(api_client: APIClient, settings) -> None:
    settings.DENIAL_AUDIT_REPEAT_SECONDS = 1
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"  # fresh counts
    before = set(AuditEvent.objects.filter(action="deny").values_list("id", flat=True))
    for _ in range(5):
        assert api_client.get("/api/v1/catalog/datasets/", REMOTE_ADDR=address).status_code == 401
    assert api_client.get("/api/v1/lineage/jobs/", REMOTE_ADDR=address).status_code == 401  # another route
    new = list(AuditEvent.objects.filter(action="deny").exclude(id__in=before).order_by("id"))
    assert [(e.details["route"], e.details.get("repeats")) for e in new] == [
        ("/api/v1/catalog/datasets/", None),
        ("/api/v1/lineage/jobs/", None),
    ]
    time.sleep(1.2)  # the window passes: the next one is recorded with the count of those left out
    with one_denial() as events:
        assert api_client.get("/api/v1/catalog/datasets/", REMOTE_ADDR=address).status_code == 401
    assert events[0].details["repeats"] == 4


def test_denials_of_a_known_actor_are_each_recorded(token_client: Callable[..., Any], settings) -> None:
    settings.DENIAL_AUDIT_REPEAT_SECONDS = 60
    client, _ = token_client(role=roles.INTEGRATOR)
    dataset = make_dataset()
    before = AuditEvent.objects.filter(action="deny").count()
    for _ in range(3):
        response = client.patch(f"/api/v1/catalog/datasets/{dataset.public_id}/", {}, format="json", REMOTE_ADDR=IP)
        assert response.status_code == 403
    assert AuditEvent.objects.filter(action="deny").count() == before + 3
