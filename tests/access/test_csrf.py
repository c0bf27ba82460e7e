"""CSRF on the portal: every portal URL (not the admin, not the API) refuses a POST without the CSRF token with 403,
except the views listed in ``CSRF_EXEMPT`` with the reason; every POST form on the portal's pages, sent with the
token its page carries, is not refused. DRF views under /api/ check CSRF only for session callers, through
``SessionAuthentication`` (proved at the end)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from apps.common import roles
from tests.common.test_access import concrete_paths, sample

pytestmark = pytest.mark.django_db

# Portal views that take POSTs without a CSRF token by design, and why.
CSRF_EXEMPT = {
    "apps.incidents.views.alertmanager_intake": "alert intake: machines post with the integration's secret token",
    "apps.incidents.views.webhook_intake": "alert intake: machines post with the integration's secret token",
    "apps.incidents.views.heartbeat_ping": "heartbeat pings from cron jobs, authenticated by the URL's secret token",
}


def portal_patterns() -> list[str]:
    return [p for p in concrete_paths() if not p.lstrip("^").startswith(("admin/", "api/"))]


def view_name(url: str) -> str:
    func = resolve(url).func
    target = getattr(func, "view_class", func)
    return f"{target.__module__}.{target.__qualname__}"


class PostForms(HTMLParser):
    """The action of every ``<form method="post">`` and the CSRF token the page carries."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.token = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and (values.get("method") or "").lower() == "post":
            self.actions.append(values.get("action") or "")
        if tag == "input" and values.get("name") == "csrfmiddlewaretoken":
            self.token = values.get("value") or ""


def portal_views(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, Callable[..., Any]]]:
    """(pattern, view function) of every portal URL."""
    out = []
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = prefix + str(entry.pattern).lstrip("^")
        if pattern.startswith(("admin/", "api/")):
            continue
        if isinstance(entry, URLResolver):
            out.extend(portal_views(entry, pattern))
        elif isinstance(entry, URLPattern):
            out.append((pattern, entry.callback))
    return out


def test_every_csrf_exempt_portal_view_is_on_the_allow_list() -> None:
    views = portal_views()
    assert len(views) > 30
    exempt = {f"{f.__module__}.{f.__qualname__}" for _, f in views if getattr(f, "csrf_exempt", False)}
    assert exempt == set(CSRF_EXEMPT)


def test_every_portal_url_refuses_a_post_without_the_token(make_user: Callable[..., Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(role=roles.ADMIN, is_staff=True, is_superuser=True))
    checked = 0
    for pattern in portal_patterns():
        url = sample(pattern)
        try:
            name = view_name(url)
        except Resolver404:
            continue
        if name in CSRF_EXEMPT:
            continue
        response = client.post(url, {"anything": "x"})
        assert response.status_code == 403, f"POST {url} without a CSRF token answered {response.status_code}"
        assert "could not be accepted" in response.content.decode()
        checked += 1
    assert checked > 20


def test_anonymous_signed_link_pages_refuse_a_post_without_the_token() -> None:
    client = Client(enforce_csrf_checks=True)
    for url in ("/privacy/verify/abc/", "/privacy/package/abc/", "/incidents/remediation/approve/abc/", "/login/"):
        assert client.post(url, {"anything": "x"}).status_code == 403, url


@pytest.mark.parametrize(
    ("role", "pages"),
    [
        (roles.ADMIN, ["/", "/catalog/", "/quality/", "/privacy/", "/privacy/requests/new/", "/privacy/retention/"]),
        (roles.ONCALL_ENGINEER, ["/oncall/", "/oncall/me/contact/", "/oncall/me/incidents/"]),
        (roles.COMPLIANCE_OFFICER, ["/privacy/subjects/lookup/", "/privacy/requests/new/"]),
    ],
)
def test_every_post_form_on_the_portal_pages_is_accepted_with_its_token(
    make_user: Callable[..., Any], role: str, pages: list[str]
) -> None:
    user = make_user(role=role, is_staff=role == roles.ADMIN, is_superuser=role == roles.ADMIN)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    forms = 0
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        parser = PostForms()
        parser.feed(response.content.decode())
        assert parser.actions, f"{page} has no POST form"
        assert parser.token, f"{page} has POST forms but no CSRF token"
        for action in parser.actions:
            target = action or page
            if not target.startswith("/"):
                continue
            without = client.post(target, {})
            assert without.status_code == 403, f"{target} from {page} accepted a POST without the token"
            with_token = client.post(target, {"csrfmiddlewaretoken": parser.token})
            assert with_token.status_code != 403, f"{target} from {page} refused a POST with the token"
            forms += 1
            client.force_login(user)  # the sign-out form signs out
    assert forms >= len(pages)


def test_session_callers_of_the_api_need_the_csrf_token(make_user: Callable[..., Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    refused = client.post("/api/v1/common/tokens/", {"name": "t"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert re.search("CSRF", refused.json()["detail"])
    assert client.get("/").status_code == 200  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        "/api/v1/common/tokens/", {"name": "t"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201, accepted.content
