"""Audit API under /api/v1/audit/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.audit.api import views

app_name = "audit"

router = DefaultRouter()
router.register("events", views.AuditEventViewSet, basename="event")

urlpatterns = [
    path("reports/access/", views.AccessReportView.as_view(), name="report-access"),
    path("reports/summary/", views.ComplianceSummaryView.as_view(), name="report-summary"),
    path("verify/", views.VerifyView.as_view(), name="verify"),
    *router.urls,
]
