"""Authentication everywhere except an explicit allow-list; the API index, schema and offline docs."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Paths (regexes over the URL pattern) that answer without login, and why.
ALLOW_LIST = {
    r"^healthz$": "Kubernetes liveness probe",
    r"^readyz$": "Kubernetes readiness probe",
    r"^metrics$": "Prometheus scrape; bearer-protected when METRICS_TOKEN is set",
    r"^admin/login/$": "the admin's login page itself",
    r"^login/$": "the portal's login page itself",
    r"^logout/$": "signing out never needs a login",
    r"^admin/logout/$": "logging out never needs a login",
    r"^integrations/v1/": "alert intake and heartbeat pings: the integration's secret token is the credential",
    r"^incidents/remediation/approve/": "signed, expiring approval links: the signature names the approver",
    r"^privacy/verify/": "signed, expiring identity-verification links e-mailed to a data subject",
    r"^privacy/package/": "signed, expiring package-download links e-mailed to a data subject (POST downloads)",
    r"^oncall/feeds/": "iCal feeds: the secret token in the URL is the credential a calendar client can carry",
    r"^oncall/l/": "signed, expiring acknowledge/resolve links in a page: the signature names the responder",
}


def concrete_paths(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    """Every URL pattern, with path converters filled with sample values."""
    resolver = resolver or get_resolver()
    out = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            out.extend(concrete_paths(entry, pattern))
        elif isinstance(entry, URLPattern):
            out.append(pattern)
    return out


def sample(pattern: str) -> str:
    path = re.sub(r"<(?:(?:int|path|slug|str|uuid):)?(\w+)>", "1", pattern)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    path = re.sub(r"\.\(\?P<format>[^)]*\)/?\??", "", path)
    return "/" + path.replace("?", "")


@pytest.mark.django_db
def test_every_url_outside_the_allow_list_requires_authentication(client: Client) -> None:
    checked = 0
    for pattern in concrete_paths():
        if any(re.match(allowed, pattern.lstrip("^")) for allowed in ALLOW_LIST):
            continue
        url = sample(pattern)
        response = client.get(url)
        if response.status_code == 404:
            continue  # sample values that match no object: nothing was served
        checked += 1
        if url.startswith("/api/"):
            assert response.status_code in (401, 302), f"{url} answered {response.status_code} without login"
        else:
            assert response.status_code == 302, f"{url} answered {response.status_code} without login"
            logins = ("/login/", "/admin/login/") if url.startswith("/admin/") else ("/login/",)
            assert response["Location"].startswith(logins), url
    assert checked > 20


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/healthz", "/metrics", "/admin/login/", "/login/"])
def test_allow_listed_urls_answer_without_login(client: Client, url: str) -> None:
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_api_index_lists_mounted_apps(token_client) -> None:
    api, _ = token_client()
    body = api.get("/api/v1/").json()
    assert body["common"].endswith("/api/v1/common/")
    assert api.get(body["common"]).json()["tokens"].endswith("/api/v1/common/tokens/")


@pytest.mark.django_db
def test_openapi_schema_needs_login_and_describes_the_token_scheme(api_client, token_client) -> None:
    assert api_client.get("/api/schema/", HTTP_ACCEPT="application/json").status_code == 401
    api, _ = token_client()
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["apiToken"]["description"],
    }
    assert "/api/v1/common/tokens/{id}/revoke/" in schema["paths"]


@pytest.mark.django_db
def test_swagger_ui_is_served_from_local_static_files(client: Client, make_user) -> None:
    anonymous = client.get("/api/docs/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")
    client.force_login(make_user())
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert not re.search(r"https?://(cdn|unpkg|fonts)\.", html)
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


@pytest.mark.django_db
def test_portal_home_shows_what_the_role_can_reach(client: Client, make_user) -> None:
    steward = make_user(role="data_steward", is_staff=True)
    client.force_login(steward)
    html = client.get("/").content.decode()
    assert "data_steward" in html
    assert 'href="/admin/"' in html
    client.force_login(make_user(role="integrator"))
    html = client.get("/").content.decode()
    assert 'href="/admin/"' not in html
    assert 'href="/api/docs/"' in html
