"""Incidents API under /api/v1/incidents/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from apps.incidents.api import views
from apps.incidents.remediation import api as remediation_api

app_name = "incidents"

router = DefaultRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("integrations", views.IntegrationViewSet, basename="integration")
router.register("classification-rules", views.ClassificationRuleViewSet, basename="classification-rule")
router.register("runbooks", views.RunbookViewSet, basename="runbook")
router.register("maintenance-windows", views.MaintenanceWindowViewSet, basename="maintenance-window")
router.register("remediations", remediation_api.RemediationAttemptViewSet, basename="remediation")
router.register("remediation-rules", remediation_api.RemediationRuleViewSet, basename="remediation-rule")

urlpatterns = router.urls
