"""Configuration API under /api/v1/configuration/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from apps.configuration.api import views

app_name = "configuration"

router = DefaultRouter()
router.register("entries", views.ConfigEntryViewSet, basename="entry")

urlpatterns = router.urls
