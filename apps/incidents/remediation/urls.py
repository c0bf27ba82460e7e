"""Web URLs of remediation, mounted at ``incidents/remediation/``: the signed approval links."""

from __future__ import annotations

from django.urls import path

from apps.incidents.remediation import views

app_name = "remediation"

urlpatterns = [
    path("approve/<str:token>/", views.approval_link, name="approval-link"),
]
