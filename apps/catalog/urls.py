"""Web URLs of the catalog, mounted at ``catalog/``: the dataset list and dataset pages."""

from __future__ import annotations

from django.urls import path

from apps.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.dataset_list, name="dataset-list"),
    path("datasets/by-name/", views.dataset_by_name, name="dataset-by-name"),
    path("datasets/<uuid:public_id>/", views.dataset_detail, name="dataset-detail"),
]
