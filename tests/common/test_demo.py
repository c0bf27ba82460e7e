"""``make run`` setup: demo users per role whose printed logins work, and idempotent demo data."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from apps.common.models import User
from apps.common.roles import ROLE_RULES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path


def printed_logins() -> dict[str, tuple[str, str]]:
    out = io.StringIO()
    call_command("create_demo_users", stdout=out)
    rows = re.findall(r"^\s+(\w+)\s+(\w+)\s+(\S+)$", out.getvalue(), re.MULTILINE)
    return {username: (role, password) for username, role, password in rows if username != "username"}


def test_one_demo_user_per_role_and_printed_logins_work_in_the_admin() -> None:
    logins = printed_logins()
    assert {role for role, _ in logins.values()} == set(ROLE_RULES)
    for username in ("admin", "steward", "auditor"):
        client = Client()
        response = client.post(
            "/admin/login/?next=/admin/", {"username": username, "password": logins[username][1]}, follow=True
        )
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == "/admin/", username
        assert User.objects.get(username=username).groups.get().name == logins[username][0]


def test_demo_users_keep_their_passwords_across_runs() -> None:
    assert printed_logins() == printed_logins()


def test_seed_demo_is_idempotent() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    counts = User.objects.count()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert User.objects.count() == counts
    bot = User.objects.get(username="svc-lineage-push")
    assert bot.is_service_account
    assert not bot.has_usable_password()
    assert "[common]" in out.getvalue()


def test_demo_data_is_refused_in_production(settings) -> None:
    settings.PORTAL_ENVIRONMENT = "production"
    with pytest.raises(Exception, match="not"):
        call_command("seed_demo", stdout=io.StringIO())
    with pytest.raises(Exception, match="not"):
        call_command("create_demo_users", stdout=io.StringIO())


def test_every_demo_user_signs_in_on_the_portal_login_page() -> None:
    """Compliance officers and on-call engineers are not staff: they sign in on the portal's page, not the admin's."""
    logins = printed_logins()
    for username, (_, password) in logins.items():
        client = Client()
        response = client.post("/login/?next=/", {"username": username, "password": password, "next": "/"})
        assert response.status_code == 302, username
        assert response["Location"] == "/", username
    compliance = Client()
    compliance.post("/login/", {"username": "compliance", "password": logins["compliance"][1]})
    assert compliance.get("/privacy/").status_code == 200
    assert Client().post("/login/", {"username": "compliance", "password": "wrong"}).status_code == 200
