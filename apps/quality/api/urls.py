"""Data-quality API under /api/v1/quality/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from apps.quality.api import views

app_name = "quality"

router = DefaultRouter()
router.register("rules", views.RuleViewSet, basename="rule")
router.register("scans", views.ScanViewSet, basename="scan")
router.register("results", views.ResultViewSet, basename="result")
router.register("datasets", views.DatasetQualityViewSet, basename="dataset")

urlpatterns = router.urls
