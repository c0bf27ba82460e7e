"""Identity API under /api/v1/common/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.common.api import views

app_name = "common"

router = DefaultRouter()
router.register("tokens", views.ApiTokenViewSet, basename="token")

urlpatterns = [path("me/", views.MeView.as_view(), name="me"), *router.urls]
