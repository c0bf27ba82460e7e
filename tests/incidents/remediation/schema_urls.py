"""A URLconf for the schema test: only the remediation API, mounted where the incidents API mounts it."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from apps.incidents.remediation import api

router = DefaultRouter()
router.register("remediations", api.RemediationAttemptViewSet, basename="remediation")
router.register("remediation-rules", api.RemediationRuleViewSet, basename="remediation-rule")

urlpatterns = [path("api/v1/incidents/", include(router.urls))]
