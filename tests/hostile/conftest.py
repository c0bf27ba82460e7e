"""Fixtures of the hostile-input tests: clients of the API, the OpenLineage intake and the alert intake."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.common.models import User
from apps.incidents.choices import IntegrationKind
from apps.incidents.services import integration_create
from tests.oncall.conftest import make_incident  # noqa: F401 - an incident made with the ORM
from tests.quality.conftest import lake, lake_datasets  # noqa: F401 - the lake and its catalogued datasets

TokenClient = Callable[..., tuple[APIClient, User]]
LAKE = "file:///srv/lake"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.1.0"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def dataset(name: str, namespace: str = LAKE) -> dict[str, Any]:
    """An OpenLineage dataset reference."""
    return {"namespace": namespace, "name": name}


def run_event(
    event_type: str = "COMPLETE",
    *,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A RunEvent as an OpenLineage producer sends it."""
    return {
        "eventType": event_type,
        "eventTime": "2026-11-26T10:00:00.000Z",
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": "airflow", "name": "orders_curation", "facets": {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is the API's error format with this status and code (and, if given, an error on ``field``)."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}, body
    assert body["code"] == code, body
    if field is not None:
        assert field in body["fields"], body
        assert body["fields"][field], body
    return body


@pytest.fixture
def admin_api(token_client: TokenClient) -> APIClient:
    """An administrator's API client (every permission)."""
    client, _ = token_client("admin")
    return client


@pytest.fixture
def integrator(token_client: TokenClient) -> APIClient:
    """An integrator's API client: may post OpenLineage events."""
    client, _ = token_client("integrator")
    return client


@pytest.fixture
def webhook_url(db: None) -> str:
    """The intake URL of a generic webhook integration (its token in the path)."""
    _, token = integration_create(kind=IntegrationKind.WEBHOOK, name="hostile-webhook")
    return f"/integrations/v1/webhook/{token}/"
