"""Security headers: every HTML page carries a strict Content-Security-Policy (and the pages need nothing it forbids),
nosniff, a Referrer-Policy, frame denial and a Cross-Origin-Opener-Policy; API answers are never cached; and the
production settings pass ``manage.py check --deploy`` without a warning."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.common.test_access import concrete_paths, sample

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)
STYLE_TAG = re.compile(r"<style\b", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def csp_directives(response: Any) -> dict[str, list[str]]:
    out = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def assert_page_headers(url: str, response: Any) -> None:
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"], url
    assert directives["script-src"] == ["'self'"], url
    assert directives["style-src"] == ["'self'"], url
    assert directives["object-src"] == ["'none'"], url
    assert directives["frame-ancestors"] == ["'none'"], url
    assert response["X-Content-Type-Options"] == "nosniff", url
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), url
    assert response["X-Frame-Options"] == "DENY", url
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", url


def assert_page_fits_policy(url: str, html: str) -> None:
    """Nothing in the page that ``script-src 'self'; style-src 'self'`` would block."""
    for attributes, body in SCRIPT_TAG.findall(html):
        if 'type="application/json"' in attributes:
            continue  # data for a script, never executed
        assert "src=" in attributes, f"{url} has an inline script"
        assert not body.strip(), f"{url} has an inline script"
        assert re.search(r"""src=["']/""", attributes), f"{url} loads a script from another origin"
    assert not STYLE_TAG.search(html), f"{url} has an inline <style> element"
    assert not EVENT_HANDLER.search(html), f"{url} has an inline event handler"
    assert not re.search(r"""(href|src)=["']https?://""", html), f"{url} loads an asset from another origin"


@pytest.mark.django_db
def test_every_html_page_carries_the_security_headers_and_fits_the_policy(
    client: Client, make_user: Callable[..., Any]
) -> None:
    client.force_login(make_user(role="admin", is_staff=True, is_superuser=True))
    checked = 0
    for pattern in concrete_paths():
        url = sample(pattern)
        if url.startswith("/api/v1/") or "logout" in url:
            continue
        response = client.get(url)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        assert_page_headers(url, response)
        if response.status_code == 200:
            checked += 1
            assert_page_fits_policy(url, response.content.decode())
    assert checked > 15


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/admin/login/", "/no-such-page/"])
def test_anonymous_pages_carry_the_security_headers(client: Client, url: str) -> None:
    response = client.get(url)
    assert response["Content-Type"].startswith("text/html")
    assert_page_headers(url, response)
    assert_page_fits_policy(url, response.content.decode())


@pytest.mark.django_db
def test_swagger_ui_runs_without_inline_script(client: Client, make_user: Callable[..., Any]) -> None:
    client.force_login(make_user())
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert_page_headers("/api/docs/", page)
    assert_page_fits_policy("/api/docs/", page.content.decode())
    # The initialising script the page loads is served by the portal itself, as JavaScript.
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "url"),
    [
        ("compliance_officer", "/api/v1/catalog/datasets/"),
        ("oncall_engineer", "/api/v1/oncall/contact-methods/"),
        ("auditor", "/api/v1/audit/events/"),
        (None, "/api/v1/common/me/"),
    ],
)
def test_api_answers_are_nosniff_and_never_cached(token_client: Callable[..., Any], role: str | None, url: str) -> None:
    client, _ = token_client(role=role)
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    denied = client.get("/api/v1/configuration/entries/")
    assert denied.status_code == 403
    assert "no-store" in denied["Cache-Control"]


@pytest.mark.slow
def test_production_settings_pass_the_deployment_checks() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecap_site.settings.prod",
        "DJANGO_ALLOWED_HOSTS": "portal.ecap.example",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecap"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
