"""Hostile request bodies and query strings get a 4xx in the API's error format, never a 500, on the API, the
OpenLineage intake (``POST /api/v1/lineage``) and the alert intake (``/integrations/v1/...``):

- a body over its path's limit is refused with 413 before anything reads it or touches the database (by its
  Content-Length, or by the bytes read when there is none), while the OpenLineage intake keeps its larger limit;
- JSON nested 100,000 levels deep is a 400, not a RecursionError, and nesting beyond the documented depth is refused;
- bodies that are not UTF-8, NUL characters and lone surrogates in JSON strings, query strings and form fields are a
  400 naming the field (PostgreSQL cannot store them; they used to fail as a 500 when the row was written).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from rest_framework.test import APIClient

from apps.common.api.parsers import MAX_JSON_DEPTH
from apps.common.models import ApiToken
from apps.incidents.models import AlertPayload
from apps.lineage.models import LineageEvent
from tests.hostile.conftest import assert_error, dataset, run_event

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/common/tokens/"
LINEAGE = "/api/v1/lineage"
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


def post_json(client: Client, url: str, body: Any) -> Any:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=raw, content_type="application/json")


def claimed_length(client: Client, url: str, length: int, content_type: str = "application/json") -> Any:
    """A POST whose Content-Length claims ``length`` bytes while only two are sent: reading the body would fail."""
    return client.generic("POST", url, "{}", content_type=content_type, CONTENT_LENGTH=str(length))


# --- size ----------------------------------------------------------------------------------------------------------
def test_an_api_body_over_the_limit_is_413_before_authentication_or_any_query(
    api_client: APIClient, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = claimed_length(api_client, TOKENS, settings.REQUEST_BODY_MAX_BYTES + 1)
    body = assert_error(response, 413, "payload_too_large")
    assert str(settings.REQUEST_BODY_MAX_BYTES) in body["detail"]


def test_an_api_body_over_the_ordinary_limit_is_413_even_when_sent(admin_api: APIClient) -> None:
    name = "n" * (settings.REQUEST_BODY_MAX_BYTES + 10)
    response = post_json(admin_api, TOKENS, {"name": name, "expires_days": 5})
    assert_error(response, 413, "payload_too_large")
    assert not ApiToken.objects.filter(name__startswith="nnnn").exists()


def test_the_lineage_intake_keeps_its_larger_limit(integrator: APIClient) -> None:
    padding = "y" * (settings.REQUEST_BODY_MAX_BYTES + 100 * 1024)  # over the ordinary limit, under the lineage one
    event = run_event("COMPLETE", run_facets={"blob": {"_producer": "p", "_schemaURL": "s", "x": padding}})
    raw = json.dumps(event)
    assert settings.REQUEST_BODY_MAX_BYTES < len(raw) < settings.REQUEST_BODY_MAX_BYTES_BY_PATH[LINEAGE]
    response = post_json(integrator, LINEAGE, raw)
    assert response.status_code == 201, response.content[:300]
    assert response.json()["stored"] == 1


def test_a_lineage_body_over_its_limit_is_413_before_any_query(
    integrator: APIClient, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = claimed_length(integrator, LINEAGE, settings.REQUEST_BODY_MAX_BYTES_BY_PATH[LINEAGE] + 1)
    assert_error(response, 413, "payload_too_large")
    assert LineageEvent.objects.count() == 0


def test_an_alert_delivery_over_the_limit_is_413_before_the_token_is_looked_up(
    client: Client, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = claimed_length(client, "/integrations/v1/webhook/no-such-token/", 64 * 1024 * 1024)
    assert_error(response, 413, "payload_too_large")


def test_a_page_form_over_the_limit_is_413_not_a_400_page(client: Client) -> None:
    response = claimed_length(
        client, "/login/", settings.REQUEST_BODY_MAX_BYTES + 1, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"larger than" in response.content


def test_a_bad_content_length_is_400(api_client: APIClient) -> None:
    response = api_client.generic("POST", TOKENS, "{}", content_type="application/json", CONTENT_LENGTH="-5")
    assert_error(response, 400, "bad_request")


@pytest.fixture
def _keep_test_connection() -> Iterator[None]:
    """Requests through the ASGI handler run inside the test's transaction: Django must not close its connection at
    request start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def asgi_post_without_length(path: str, content_type: str, chunks: list[bytes]) -> tuple[int, bytes, dict[str, str]]:
    """POST through Django's ASGI handler with the body in chunks and no Content-Length (as a chunked upload)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-type", content_type.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected until the response is sent
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    async_to_sync(ASGIHandler())(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], body, headers


@pytest.mark.usefixtures("_keep_test_connection")
def test_a_body_without_content_length_is_cut_off_at_the_limit(webhook_url: str) -> None:
    chunk = b" " * (256 * 1024)
    count = settings.REQUEST_BODY_MAX_BYTES_BY_PATH["/integrations/v1/"] // len(chunk) + 2
    status, body, headers = asgi_post_without_length(
        webhook_url, "application/json", [b'{"title": "x"}', *[chunk] * count]
    )
    assert status == 413, body[:300]
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] == "payload_too_large"
    assert AlertPayload.objects.count() == 0

    form = b"username=a&password=" + b"p" * (settings.REQUEST_BODY_MAX_BYTES + 1)
    status, body, _ = asgi_post_without_length("/login/", "application/x-www-form-urlencoded", [form])
    assert status == 413, body[:300]


# --- depth ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_json_nested_100k_levels_is_400_everywhere(
    raw: str, admin_api: APIClient, integrator: APIClient, client: Client, webhook_url: str
) -> None:
    assert_error(post_json(admin_api, TOKENS, raw), 400, "parse_error")
    assert_error(post_json(integrator, LINEAGE, raw), 400, "parse_error")
    assert_error(post_json(client, webhook_url, raw), 400, "invalid_json")
    assert LineageEvent.objects.count() == 0
    assert AlertPayload.objects.count() == 0


def test_json_parsed_but_nested_deeper_than_the_bound_is_refused_with_its_field(
    admin_api: APIClient, integrator: APIClient
) -> None:
    deep = nested(MAX_JSON_DEPTH + 100)
    body = assert_error(post_json(admin_api, TOKENS, {"name": "ok", "extra": deep}), 400, "validation_error")
    (field,) = body["fields"]
    assert field.startswith("extra.x.x")
    assert body["fields"][field] == [f"Nested deeper than {MAX_JSON_DEPTH} levels."]

    event = run_event("COMPLETE", run_facets={"deep": {"_producer": "p", "_schemaURL": "s", "x": deep}})
    body = assert_error(post_json(integrator, LINEAGE, event), 400, "validation_error")
    assert next(iter(body["fields"])).startswith("run.facets.deep.x.x")
    assert LineageEvent.objects.count() == 0


# --- encoding ------------------------------------------------------------------------------------------------------
def test_a_body_that_is_not_utf8_is_400_everywhere(
    admin_api: APIClient, integrator: APIClient, client: Client, webhook_url: str
) -> None:
    raw = b'{"name": "\xff\xfe caf\xe9"}'
    assert_error(post_json(admin_api, TOKENS, raw), 400, "parse_error")
    assert_error(post_json(integrator, LINEAGE, raw), 400, "parse_error")
    assert_error(post_json(client, webhook_url, raw), 400, "invalid_json")


@pytest.mark.parametrize(
    ("escaped", "message"),
    [("\\u0000", "Null characters are not allowed."), ("\\ud800", "Surrogate characters are not allowed: U+D800.")],
    ids=["nul", "lone-surrogate"],
)
def test_nul_and_lone_surrogates_in_json_strings_are_400_naming_the_field(
    escaped: str, message: str, admin_api: APIClient, integrator: APIClient, client: Client, webhook_url: str
) -> None:
    # A serializer's text field.
    raw = '{"name": "ci' + escaped + '", "expires_days": 5}'
    body = assert_error(post_json(admin_api, TOKENS, raw), 400, "validation_error", "name")
    assert body["fields"]["name"] == [message]
    # Free-form JSON stored as jsonb: OpenLineage facets and dataset names.
    facet = json.dumps(run_event("COMPLETE", run_facets={"x": {"_producer": "p", "_schemaURL": "s", "v": "@@"}}))
    body = assert_error(post_json(integrator, LINEAGE, facet.replace("@@", escaped)), 400, "validation_error")
    assert body["fields"] == {"run.facets.x.v": [message]}
    name = json.dumps(run_event("COMPLETE", outputs=[dataset("raw/@@")]))
    body = assert_error(post_json(integrator, LINEAGE, name.replace("@@", escaped)), 400, "validation_error")
    assert body["fields"] == {"outputs.0.name": [message]}
    assert LineageEvent.objects.count() == 0
    # An alert delivery: labels, keys of labels and the title.
    for template, field in (
        ('{"title": "t", "labels": {"team": "a@@"}}', "labels.team"),
        ('{"title": "t", "labels": {"te@@am": "a"}}', "labels"),
        ('{"title": "disk@@full"}', "title"),
    ):
        body = assert_error(post_json(client, webhook_url, template.replace("@@", escaped)), 400, "invalid_payload")
        assert list(body["fields"]) == [field], body
    assert AlertPayload.objects.count() == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("search=a%00b", "Null characters are not allowed."),
        ("search=caf%E9", "Not valid UTF-8."),
        ("search=%ED%A0%80", "Not valid UTF-8."),  # U+D800 encoded as if it were a character
    ],
    ids=["nul", "latin-1", "surrogate"],
)
def test_bad_query_strings_are_400_naming_the_parameter(query: str, message: str, admin_api: APIClient) -> None:
    for path in ("/api/v1/catalog/datasets/", "/api/v1/incidents/incidents/", "/api/v1/lineage/graph/"):
        body = assert_error(admin_api.get(f"{path}?page=1&{query}"), 400, "validation_error", "search")
        assert body["fields"]["search"] == [message]
    response = admin_api.get("/api/v1/lineage/graph/?namespace=file%00&name=raw/orders")
    assert_error(response, 400, "validation_error", "namespace")


def test_bad_query_strings_on_pages_are_a_plain_400(make_user: Any) -> None:
    browser = Client()
    browser.force_login(make_user(role="admin"))
    for query in ("q=%00", "q=%FF", "week=2026-W01%00"):
        response = browser.get(f"/catalog/?{query}")
        assert response.status_code == 400, query
        assert response["Content-Type"].startswith("text/plain")


def test_nul_or_bad_bytes_in_form_fields_are_400_naming_the_field(client: Client) -> None:
    for raw, field, message in (
        (b"username=adm%00in&password=x", "username", "Null characters are not allowed."),
        (b"username=admin&password=%FF%FE", "password", "Not valid UTF-8."),
        (b"user%00name=admin", "query", "Null characters are not allowed."),
    ):
        response = client.generic("POST", "/login/", raw, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, raw
        assert response.content.decode() == f"{field}: {message}"
    response = client.post("/login/", {"username": "adm\x00in", "password": "x"})  # multipart/form-data
    assert response.status_code == 400
    assert response.content.decode() == "username: Null characters are not allowed."


def test_a_multipart_form_that_cannot_be_read_is_400(client: Client) -> None:
    response = client.generic(
        "POST", "/login/", b"--x\r\nnot a part", content_type="multipart/form-data; boundary=\x00\xff"
    )
    assert response.status_code == 400
    assert response.content.decode() == "The multipart form cannot be read."
