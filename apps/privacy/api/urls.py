"""Privacy API under /api/v1/privacy/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from apps.privacy.api import views

app_name = "privacy"

router = DefaultRouter()
router.register("consent", views.ConsentViewSet, basename="consent")
router.register("subjects", views.SubjectViewSet, basename="subject")
router.register("requests", views.RequestViewSet, basename="request")

urlpatterns = router.urls
