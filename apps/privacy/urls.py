"""Privacy pages under /privacy/."""

from __future__ import annotations

from django.urls import path

from apps.privacy import views

app_name = "privacy"

urlpatterns = [path("verify/<str:token>/", views.verify, name="verify")]
