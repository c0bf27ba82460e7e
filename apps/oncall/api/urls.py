"""On-call API under /api/v1/oncall/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.oncall.api import views

app_name = "oncall"

router = DefaultRouter()
router.register("teams", views.TeamViewSet, basename="team")
router.register("schedules", views.ScheduleViewSet, basename="schedule")
router.register("overrides", views.OverrideViewSet, basename="override")
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("contact-methods", views.ContactMethodViewSet, basename="contact-method")
router.register("notification-rules", views.NotificationRuleViewSet, basename="notification-rule")

urlpatterns = [path("now/", views.NowView.as_view(), name="now"), *router.urls]
