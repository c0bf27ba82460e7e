"""Spark runs API under /api/v1/sparkruns/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from apps.sparkruns.api import views

app_name = "sparkruns"

router = DefaultRouter()
router.register("runs", views.SparkRunViewSet, basename="run")

urlpatterns = router.urls
