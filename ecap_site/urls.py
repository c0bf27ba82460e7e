"""URL configuration.

Public without login (the explicit allow-list): ``/healthz``, ``/readyz``, ``/metrics`` (bearer-protected when
METRICS_TOKEN is set), the login pages (the portal's, for every role, and the admin's), static files, alert intake
under ``/integrations/v1/`` (the integration's token is the credential), signed remediation approval links and the
signed links e-mailed to data subjects, the on-call iCal feeds (a secret token in the URL) and the signed
acknowledge and resolve links in pages. Everything else needs a session or an API token.
Each domain app that has an ``api/urls.py`` is mounted under ``/api/v1/<app>/``.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.common import views as common_views
from apps.common.api.errors import json_not_found, json_server_error
from apps.common.api.views import ApiRootView
from apps.lineage.api import views as lineage_views


def _api_patterns() -> list[URLPattern | URLResolver]:
    """``/api/v1/<label>/`` for common and every domain app that has ``api/urls.py``, plus the index at ``/api/v1/``."""
    mounted = ["common"]
    patterns: list[URLPattern | URLResolver] = [path("common/", include("apps.common.api.urls"))]
    for label in settings.ECAP_DOMAIN_APPS:
        module = f"apps.{label}.api.urls"
        if find_spec(f"apps.{label}.api") is not None and find_spec(module) is not None:
            patterns.append(path(f"{label}/", include(import_module(module))))
            mounted.append(label)
    return [path("", ApiRootView.as_view(mounted=tuple(mounted)), name="root"), *patterns]


admin.site.site_header = "ECAP Governance Portal"
admin.site.site_title = "ECAP Governance"
admin.site.index_title = "Data governance and operations"

urlpatterns = [
    path("", common_views.portal_home, name="portal-home"),
    path("healthz", common_views.healthz, name="healthz"),
    path("readyz", common_views.readyz, name="readyz"),
    path("metrics", common_views.metrics, name="metrics"),
    path(
        "login/", LoginView.as_view(template_name="portal/login.html", redirect_authenticated_user=True), name="login"
    ),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("apps.incidents.urls")),
    path("catalog/", include("apps.catalog.urls")),
    path("privacy/", include("apps.privacy.urls")),
    path("quality/", include("apps.quality.urls")),
    path("oncall/", include("apps.oncall.urls")),
    # Where OpenLineage clients post (no trailing slash, never redirected); /api/v1/lineage/ is the app's own root.
    path("api/v1/lineage", lineage_views.LineageIntakeView.as_view(), name="lineage-intake"),
    path("api/v1/", include((_api_patterns(), "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]

handler404 = json_not_found
handler500 = json_server_error
