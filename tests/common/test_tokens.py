"""Personal API tokens: hashed storage, Bearer/Token schemes, expiry, revocation, last use, the API and CLI."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.models import ApiToken, User
from apps.common.services import api_token_create, api_token_purge, api_token_revoke
from apps.common.testing import assert_queries_constant

pytestmark = pytest.mark.django_db

ME = "/api/v1/common/me/"


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_token_is_stored_only_as_sha256_digest(user: User) -> None:
    token, raw = api_token_create(user=user, name="ci")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {getattr(stored, f.attname) for f in ApiToken._meta.concrete_fields}
    assert raw.startswith(stored.prefix)
    assert len(raw) > 40


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_token_is_accepted_in_bearer_and_token_schemes(user: User, scheme: str) -> None:
    _, raw = api_token_create(user=user, name="ci")
    response = client_with(f"{scheme} {raw}").get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_revoked_token_is_rejected(user: User) -> None:
    token, raw = api_token_create(user=user, name="ci")
    assert client_with(f"Bearer {raw}").get(ME).status_code == 200
    api_token_revoke(token=token, actor=user)
    response = client_with(f"Bearer {raw}").get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_expired_token_is_rejected(user: User) -> None:
    token, raw = api_token_create(user=user, name="ci", expires_days=1)
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client_with(f"Bearer {raw}").get(ME).status_code == 401


def test_token_of_inactive_user_is_rejected(user: User) -> None:
    _, raw = api_token_create(user=user, name="ci")
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client_with(f"Bearer {raw}").get(ME).status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer ecap_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxx", "Token ünïcode"],
)
def test_malformed_or_unknown_tokens_are_rejected_with_401(db: None, header: str) -> None:
    response = client_with(header).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_token_use_records_last_used_time_and_address(user: User) -> None:
    token, raw = api_token_create(user=user, name="ci")
    assert token.last_used_at is None
    client_with(f"Bearer {raw}").get(ME, REMOTE_ADDR="10.1.2.3")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(seconds=10)
    assert token.last_used_ip == "10.1.2.3"


def test_last_use_is_written_at_most_once_per_window(user: User) -> None:
    _, raw = api_token_create(user=user, name="ci")
    client = client_with(f"Bearer {raw}")
    with CaptureQueriesContext(connection) as first:
        client.get(ME)
    with CaptureQueriesContext(connection) as second:
        client.get(ME)
    updates = [q["sql"] for q in first.captured_queries if 'UPDATE "common_apitoken"' in q["sql"]]
    assert len(updates) == 1
    assert not [q for q in second.captured_queries if "UPDATE" in q["sql"]]


def test_token_lifetime_is_bounded(user: User, settings) -> None:
    settings.API_TOKEN_MAX_EXPIRY_DAYS = 30
    with pytest.raises(Exception, match="between 1 and 30"):
        api_token_create(user=user, name="ci", expires_days=31)
    token, _ = api_token_create(user=user, name="ci", expires_days=30)
    assert token.expires_at is not None
    assert abs((token.expires_at - token.created_at) - timedelta(days=30)) < timedelta(seconds=1)


def test_api_creates_token_shown_once_and_it_works(token_client) -> None:
    client, owner = token_client()
    response = client.post(reverse("api:common:token-list"), {"name": "airflow lineage", "expires_days": 7})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "airflow lineage"
    assert body["is_active"] is True
    raw = body["token"]
    assert client_with(f"Bearer {raw}").get(ME).json()["username"] == owner.username
    listed = client.get(reverse("api:common:token-detail", kwargs={"id": body["id"]})).json()
    assert "token" not in listed
    assert "digest" not in listed


def test_api_lists_only_own_tokens_for_ordinary_users(token_client, make_user) -> None:
    client, _owner = token_client()
    other = make_user()
    api_token_create(user=other, name="someone else's")
    names = [t["name"] for t in client.get(reverse("api:common:token-list")).json()["results"]]
    assert names == ["test"]


def test_api_revoke_stops_the_token_at_once(token_client) -> None:
    client, owner = token_client()
    token, raw = api_token_create(user=owner, name="to revoke")
    response = client.post(reverse("api:common:token-revoke", kwargs={"id": token.public_id}))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert client_with(f"Bearer {raw}").get(ME).status_code == 401
    token.refresh_from_db()
    assert token.revoked_by == owner


def test_api_filters_tokens_by_active(token_client) -> None:
    client, owner = token_client()
    dead, _ = api_token_create(user=owner, name="dead")
    api_token_revoke(token=dead, actor=owner)
    url = reverse("api:common:token-list")
    assert [t["name"] for t in client.get(url, {"active": "false"}).json()["results"]] == ["dead"]
    assert [t["name"] for t in client.get(url, {"active": "true"}).json()["results"]] == ["test"]


def test_token_list_query_count_does_not_grow_with_rows(token_client) -> None:
    client, owner = token_client(role="admin")
    url = reverse("api:common:token-list")

    def grow(n: int) -> None:
        for i in range(n):
            api_token_create(user=owner, name=f"t{i}")

    assert_queries_constant(lambda: client.get(url, {"page_size": 100}), grow)


def test_purge_deletes_only_long_dead_tokens(user: User) -> None:
    live, _ = api_token_create(user=user, name="live")
    old, _ = api_token_create(user=user, name="old")
    recently_revoked, _ = api_token_create(user=user, name="recent")
    api_token_revoke(token=recently_revoked, actor=user)
    ApiToken.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=400), expires_at=timezone.now() - timedelta(days=91)
    )
    assert api_token_purge() == 1
    assert set(ApiToken.objects.values_list("name", flat=True)) == {"live", "recent"}
    assert live.pk


def test_issue_token_command_prints_a_working_token_once(user: User) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_token", user.username, "--expires-days", "5", "--name", "airflow", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert raw.startswith("ecap_")
    assert raw not in err.getvalue()
    token = ApiToken.objects.get(user=user)
    assert token.name == "airflow"
    assert token.expires_at is not None
    assert timedelta(days=4, hours=23) < token.expires_at - timezone.now() <= timedelta(days=5)
    assert client_with(f"Token {raw}").get(ME).status_code == 200


def test_issue_token_command_names_the_problem(user: User) -> None:
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("issue_token", "ghost")
    with pytest.raises(CommandError, match="between 1 and"):
        call_command("issue_token", user.username, "--expires-days", "0")
