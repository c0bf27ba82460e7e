"""The one API error format ``{"code", "detail", "fields"}``: DRF errors, domain errors and Django-level 404/500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from rest_framework.exceptions import ErrorDetail
from rest_framework.test import APIClient

from apps.common.api import views as common_api_views
from apps.common.api.errors import (
    api_exception_handler,
    flatten_field_errors,
    json_not_found,
    json_server_error,
)
from apps.common.models import ApiToken, User
from apps.common.services import api_token_create, api_token_revoke
from apps.configuration.services import config_override_set

TokenClient = Callable[..., tuple[APIClient, User]]

ERROR_KEYS = {"code", "detail", "fields"}


def assert_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """The response is a JSON error of exactly the shared shape, with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].split(";")[0].strip() == "application/json"
    body = json.loads(response.content)
    assert set(body) == ERROR_KEYS
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["fields"], dict)
    return body


def token_list_url() -> str:
    return reverse("api:common:token-list")


def token_detail_url(token_id: uuid.UUID | str) -> str:
    return reverse("api:common:token-detail", kwargs={"id": token_id})


def token_revoke_url(token: ApiToken) -> str:
    return reverse("api:common:token-revoke", kwargs={"id": token.public_id})


# --- flatten_field_errors -----------------------------------------------------------------------------------------


def test_flatten_field_errors_uses_dotted_keys_for_nested_lists_and_dicts() -> None:
    errors = {
        "items": [
            {"name": [ErrorDetail("This field is required.", code="required")]},
            {},
            {"qty": ["Must be positive."], "tags": {0: ["Not a valid string."]}},
        ],
        "address": {"city": ["Too long."]},
    }

    assert flatten_field_errors(errors) == {
        "items.0.name": ["This field is required."],
        "items.2.qty": ["Must be positive."],
        "items.2.tags.0": ["Not a valid string."],
        "address.city": ["Too long."],
    }


def test_flatten_field_errors_maps_top_level_all_and_bare_messages_to_non_field_errors() -> None:
    assert flatten_field_errors({"__all__": ["Dates overlap."]}) == {"non_field_errors": ["Dates overlap."]}
    assert flatten_field_errors(["First.", "Second."]) == {"non_field_errors": ["First.", "Second."]}
    assert flatten_field_errors("Just a message.") == {"non_field_errors": ["Just a message."]}


def test_flatten_field_errors_keeps_nested_non_field_errors_under_their_prefix() -> None:
    errors = {"items": [{"non_field_errors": ["Pair is inconsistent."]}]}

    assert flatten_field_errors(errors) == {"items.0.non_field_errors": ["Pair is inconsistent."]}


def test_flatten_field_errors_returns_plain_strings() -> None:
    flat = flatten_field_errors({"name": [ErrorDetail("Required.", code="required")]})

    assert flat == {"name": ["Required."]}
    assert type(flat["name"][0]) is str


def test_exception_handler_turns_django_validation_error_into_validation_error_with_fields() -> None:
    response = api_exception_handler(DjangoValidationError({"name": ["Bad name."]}), {})

    assert response.status_code == 400
    assert response.data == {
        "code": "validation_error",
        "detail": "The input is not valid.",
        "fields": {"name": ["Bad name."]},
    }


# --- 400 ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_malformed_json_body_answers_400_parse_error(token_client: TokenClient) -> None:
    client, _ = token_client()

    response = client.post(token_list_url(), data='{"name": ', content_type="application/json")

    assert_error(response, 400, "parse_error")


@pytest.mark.django_db
def test_missing_required_field_answers_400_validation_error_naming_the_field(token_client: TokenClient) -> None:
    client, owner = token_client()

    response = client.post(token_list_url(), data={"expires_days": 5}, format="json")

    body = assert_error(response, 400, "validation_error")
    assert list(body["fields"]) == ["name"]
    assert all(isinstance(message, str) for message in body["fields"]["name"])
    assert ApiToken.objects.filter(user=owner).count() == 1  # only the client's own token


@pytest.mark.django_db
@pytest.mark.parametrize("expires_days", [0, 100000])
def test_out_of_range_expiry_answers_400_validation_error_naming_expires_days(
    token_client: TokenClient, expires_days: int
) -> None:
    client, owner = token_client()

    response = client.post(token_list_url(), data={"name": "ci", "expires_days": expires_days}, format="json")

    body = assert_error(response, 400, "validation_error")
    assert list(body["fields"]) == ["expires_days"]
    assert not ApiToken.objects.filter(user=owner, name="ci").exists()


# --- 401 ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unauthenticated_request_answers_401_not_authenticated_with_www_authenticate(api_client: APIClient) -> None:
    response = api_client.get(reverse("api:common:me"))

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_unknown_token_answers_401_authentication_failed(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer ecap_" + "x" * 43)

    response = api_client.get(reverse("api:common:me"))

    assert_error(response, 401, "authentication_failed")
    assert response.has_header("WWW-Authenticate")


# --- 403 / 404 ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_revoking_another_users_token_answers_403_permission_denied(
    token_client: TokenClient, make_user: Callable[..., User]
) -> None:
    token, _ = api_token_create(user=make_user(), name="someone else's")
    auditor_client, _ = token_client(role="auditor")
    assert auditor_client.get(token_detail_url(token.public_id)).status_code == 200  # the auditor can see it

    response = auditor_client.post(token_revoke_url(token))

    assert_error(response, 403, "permission_denied")
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
def test_unknown_token_id_answers_404_not_found(token_client: TokenClient) -> None:
    client, _ = token_client()

    response = client.get(token_detail_url(uuid.uuid4()))

    assert_error(response, 404, "not_found")


@pytest.mark.django_db
def test_token_of_another_user_is_404_to_a_user_without_view_permission(
    token_client: TokenClient, make_user: Callable[..., User]
) -> None:
    token, _ = api_token_create(user=make_user(), name="hidden")
    client, _ = token_client()

    response = client.get(token_detail_url(token.public_id))

    assert_error(response, 404, "not_found")


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_unknown_api_path_answers_404_json_not_found(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/nope/")

    body = assert_error(response, 404, "not_found")
    assert "/api/v1/nope/" in body["detail"]


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_unknown_non_api_path_answers_404_html_page(client: Client, user: User) -> None:
    client.force_login(user)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError, match="Expecting value"):
        json.loads(response.content)


@pytest.mark.django_db  # the page template reads the live maintenance banner
def test_json_not_found_renders_html_outside_api() -> None:
    response = json_not_found(RequestFactory().get("/catalog/nothing"))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- 405 / 409 / 413 / 415 / 429 ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unsupported_method_answers_405_method_not_allowed(token_client: TokenClient) -> None:
    client, _ = token_client()

    response = client.delete(reverse("api:common:me"))

    assert_error(response, 405, "method_not_allowed")


@pytest.mark.django_db
def test_revoking_an_already_revoked_token_answers_409_already_revoked(token_client: TokenClient) -> None:
    client, owner = token_client()
    token, _ = api_token_create(user=owner, name="old")
    api_token_revoke(token=token, actor=owner)

    response = client.post(token_revoke_url(token))

    assert_error(response, 409, "already_revoked")


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_body_larger_than_upload_limit_answers_413_payload_too_large(token_client: TokenClient) -> None:
    client, owner = token_client()

    response = client.post(token_list_url(), data={"name": "n" * 90, "expires_days": 5}, format="json")

    assert_error(response, 413, "payload_too_large")
    assert not ApiToken.objects.filter(user=owner, name="n" * 90).exists()


@pytest.mark.django_db
def test_unsupported_media_type_answers_415_unsupported_media_type(token_client: TokenClient) -> None:
    client, _ = token_client()

    response = client.post(token_list_url(), data="name=ci", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


@pytest.fixture
def throttled_user_rate(make_user) -> None:
    """A user rate of 2 requests a minute, set as a runtime override; rates are read per request."""
    config_override_set(key="api.throttle_user_rate", value="2/min", actor=make_user())


@pytest.mark.django_db
@pytest.mark.usefixtures("throttled_user_rate")
def test_requests_over_the_user_rate_answer_429_throttled_with_retry_after(token_client: TokenClient) -> None:
    client, owner = token_client()
    url = reverse("api:common:me")
    # Only this user's throttle history is cleared: cache.clear() would FLUSHDB the Redis shared with other runs.
    history_key = f"throttle_user_{owner.pk}"
    cache.delete(history_key)
    try:
        assert [client.get(url).status_code for _ in range(2)] == [200, 200]
        response = client.get(url)
    finally:
        cache.delete(history_key)

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


# --- 500 ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unexpected_exception_in_a_view_answers_500_json_server_error(
    token_client: TokenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(**kwargs: object) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(common_api_views, "api_token_create", explode)
    client, _ = token_client()

    response = client.post(token_list_url(), data={"name": "ci"}, format="json")

    assert_error(response, 500, "server_error")
    assert b"must not leak" not in response.content
    assert b"<html" not in response.content.lower()


def test_json_server_error_answers_json_under_api_and_html_elsewhere() -> None:
    factory = RequestFactory()

    api_response = json_server_error(factory.get("/api/v1/common/me/"))
    page_response = json_server_error(factory.get("/"))

    assert_error(api_response, 500, "server_error")
    assert page_response.status_code == 500
    assert page_response["Content-Type"].startswith("text/html")


def test_exception_handler_keeps_the_code_an_exception_was_raised_with(rf: RequestFactory) -> None:
    from rest_framework.exceptions import PermissionDenied as DrfPermissionDenied

    response = api_exception_handler(DrfPermissionDenied("Token scope too narrow.", code="insufficient_scope"), {})
    assert response.status_code == 403
    assert response.data == {"code": "insufficient_scope", "detail": "Token scope too narrow.", "fields": {}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/audit/events/", "occurred_after"),
        ("/api/v1/incidents/incidents/", "triggered_before"),
        ("/api/v1/lineage/events/", "event_after"),
        ("/api/v1/oncall/overrides/", "starts_before"),
        ("/api/v1/quality/scans/", "created_after"),
    ],
)
def test_date_time_filters_take_any_iso_offset_and_refuse_dates_without_a_utc_equivalent(
    token_client: TokenClient, url: str, parameter: str
) -> None:
    admin, _ = token_client("admin")
    # ISO 8601 allows offsets up to ±23:59; PostgreSQL only to ±15:59, so the value must reach it in UTC.
    response = admin.get(url, {parameter: "2020-01-01T00:00:00+22:54"})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0

    response = admin.get(url, {parameter: "0001-01-01T00:00:00+05:00"})  # before year 1 in UTC
    body = assert_error(response, 400, "validation_error")
    assert list(body["fields"]) == [parameter]
