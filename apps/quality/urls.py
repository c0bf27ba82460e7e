"""Web URLs of data quality, mounted at ``quality/``: the dashboard, dataset quality pages and "Scan now"."""

from __future__ import annotations

from django.urls import path

from apps.quality import views

app_name = "quality"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("datasets/<uuid:public_id>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<uuid:public_id>/scan/", views.dataset_scan, name="dataset-scan"),
]
