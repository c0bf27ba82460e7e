"""Sign-in limits: the portal login, the admin login and API token authentication refuse further attempts with 429
and ``Retry-After`` once a username or a client address has too many recent failures; the right password does not
get in while locked; the sliding window lets attempts through again once the failures have aged out (the limiter's
clock is advanced, never slept on)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from apps.common import security
from apps.common.services import api_token_create

PASSWORD = "correct-horse-battery"  # the test factory's password
WINDOW = 300

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("tight_limits"),
]


class Clock:
    """The limiter's clock, moved by hand."""

    def __init__(self, start: float) -> None:
        self.moment = start

    def __call__(self) -> float:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += seconds


@pytest.fixture
def tight_limits() -> Any:
    with override_settings(
        LOGIN_FAILURE_LIMIT_PER_USERNAME=3, LOGIN_FAILURE_LIMIT_PER_IP=5, LOGIN_FAILURE_WINDOW_SECONDS=WINDOW
    ):
        yield


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # A start no earlier run used, so failures another run left in the shared cache never count.
    fake = Clock(1_000_000_000 + secrets.randbelow(10**8) * 1000)
    monkeypatch.setattr(security, "now", fake)
    return fake


def fresh_ip() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def sign_in(client: Client, url: str, username: str, password: str, ip: str) -> Any:
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_a_username_is_locked_after_too_many_failures_until_the_window_passes(
    client: Client, make_user: Callable[..., Any], clock: Clock, url: str
) -> None:
    person = make_user(is_staff=True)
    ip = fresh_ip()
    for _ in range(3):
        assert sign_in(client, url, person.username, "wrong-password", ip).status_code == 200
        clock.advance(10)
    locked = sign_in(client, url, person.username, PASSWORD, ip)
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    assert "Too many sign-in attempts" in locked.content.decode()
    assert int(locked["Retry-After"]) == WINDOW - 30
    assert "_auth_user_id" not in client.session
    # From another address the username is still locked.
    assert sign_in(client, url, person.username, PASSWORD, fresh_ip()).status_code == 429
    clock.advance(WINDOW - 30 - 1)
    assert sign_in(client, url, person.username, PASSWORD, ip).status_code == 429
    clock.advance(2)  # the oldest failure has left the window
    admitted = sign_in(client, url, person.username, PASSWORD, ip)
    assert admitted.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_an_address_is_locked_after_failures_across_usernames(
    client: Client, make_user: Callable[..., Any], clock: Clock
) -> None:
    ip = fresh_ip()
    for _ in range(5):
        assert sign_in(client, "/login/", make_user().username, "wrong-password", ip).status_code == 200
    person = make_user()
    assert sign_in(client, "/login/", person.username, PASSWORD, ip).status_code == 429
    assert sign_in(client, "/login/", person.username, PASSWORD, fresh_ip()).status_code == 302


def test_a_successful_sign_in_forgets_the_usernames_failures(
    client: Client, make_user: Callable[..., Any], clock: Clock
) -> None:
    person = make_user()
    ip = fresh_ip()
    for _ in range(2):
        sign_in(client, "/login/", person.username, "wrong-password", ip)
    assert sign_in(client, "/login/", person.username, PASSWORD, ip).status_code == 302
    client.logout()
    for _ in range(2):
        assert sign_in(client, "/login/", person.username, "wrong-password", ip).status_code == 200
    assert sign_in(client, "/login/", person.username, PASSWORD, ip).status_code == 302


def test_failed_api_tokens_lock_the_address_with_a_json_429(make_user: Callable[..., Any], clock: Clock) -> None:
    ip = fresh_ip()
    _, raw = api_token_create(user=make_user(), name="valid")
    bad = APIClient(REMOTE_ADDR=ip)
    bad.credentials(HTTP_AUTHORIZATION="Bearer ecap_not-a-real-token")
    for _ in range(5):
        assert bad.get("/api/v1/common/me/").status_code == 401
        clock.advance(1)
    good = APIClient(REMOTE_ADDR=ip)
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    locked = good.get("/api/v1/common/me/")
    assert locked.status_code == 429
    assert set(locked.json()) == {"code", "detail", "fields"}
    assert locked.json()["code"] == "throttled"
    assert int(locked["Retry-After"]) == WINDOW - 5
    elsewhere = APIClient(REMOTE_ADDR=fresh_ip())
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert elsewhere.get("/api/v1/common/me/").status_code == 200
    clock.advance(WINDOW)
    assert good.get("/api/v1/common/me/").status_code == 200


def test_production_defaults_are_ten_per_username_and_fifty_per_address() -> None:
    from ecap_site.settings import base

    assert base.LOGIN_FAILURE_LIMIT_PER_USERNAME == 10
    assert base.LOGIN_FAILURE_LIMIT_PER_IP == 50
    assert base.LOGIN_FAILURE_WINDOW_SECONDS == 300
