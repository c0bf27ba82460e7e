"""Lineage API under /api/v1/lineage/. The intake also answers at ``/api/v1/lineage`` without the slash (wired in
``ecap_site/urls.py``), where the OpenLineage clients post; neither path ever redirects."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.lineage.api import views

app_name = "lineage"

router = SimpleRouter()
router.register("jobs", views.JobViewSet, basename="job")
router.register("runs", views.RunViewSet, basename="run")
router.register("events", views.LineageEventViewSet, basename="event")

urlpatterns = [
    path("", views.LineageRootView.as_view(), name="api-root"),
    path("graph/", views.GraphView.as_view(), name="graph"),
    path("graph/export/", views.GraphExportView.as_view(), name="graph-export"),
    *router.urls,
]
