"""Web URLs of the incidents app outside the API: alert intake, heartbeat pings, remediation approval links."""

from __future__ import annotations

from django.urls import include, path, re_path

from apps.incidents import views

TOKEN = r"(?P<token>[A-Za-z0-9_\-]{1,200})"  # noqa: S105 - the URL pattern of a token, not a secret

urlpatterns = [
    # Trailing slash optional and never redirected: a redirect would drop the POST body.
    re_path(rf"^integrations/v1/alertmanager/{TOKEN}/?$", views.alertmanager_intake, name="intake-alertmanager"),
    re_path(r"^integrations/v1/alertmanager/?$", views.alertmanager_intake, name="intake-alertmanager-bearer"),
    re_path(rf"^integrations/v1/webhook/{TOKEN}/?$", views.webhook_intake, name="intake-webhook"),
    re_path(r"^integrations/v1/webhook/?$", views.webhook_intake, name="intake-webhook-bearer"),
    re_path(rf"^integrations/v1/heartbeat/{TOKEN}/?$", views.heartbeat_ping, name="heartbeat-ping"),
    path("incidents/remediation/", include("apps.incidents.remediation.urls")),
]
