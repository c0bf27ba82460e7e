"""The admin for users and tokens: roles shown, tokens read-only and revocable."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.common.models import ApiToken
from apps.common.services import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(make_user) -> Client:
    client = Client()
    client.force_login(make_user(role="admin", is_staff=True, is_superuser=True))
    return client


def test_user_list_shows_roles(admin_client_logged_in: Client, make_user) -> None:
    make_user(role="auditor", username="alex")
    html = admin_client_logged_in.get("/admin/common/user/").content.decode()
    assert "alex" in html
    assert "auditor" in html


def test_tokens_cannot_be_added_in_the_admin_and_never_show_the_digest(admin_client_logged_in: Client, user) -> None:
    token, raw = api_token_create(user=user, name="ci")
    assert admin_client_logged_in.get("/admin/common/apitoken/add/").status_code == 403
    html = admin_client_logged_in.get(f"/admin/common/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in html
    assert token.digest not in html
    assert raw not in html


def test_revoke_action_revokes_selected_tokens(admin_client_logged_in: Client, user) -> None:
    first, _ = api_token_create(user=user, name="one")
    second, _ = api_token_create(user=user, name="two")
    response = admin_client_logged_in.post(
        "/admin/common/apitoken/",
        {"action": "revoke_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "Revoked 2 token(s)." in response.content.decode()
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 2


def test_auditor_reads_tokens_in_the_admin_but_cannot_revoke(make_user, user) -> None:
    client = Client()
    client.force_login(make_user(role="auditor", is_staff=True))
    token, _ = api_token_create(user=user, name="one")
    assert client.get("/admin/common/apitoken/").status_code == 200
    client.post("/admin/common/apitoken/", {"action": "revoke_selected", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is None
