"""App configuration of catalog."""

from __future__ import annotations

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Datasets and fields, classification, privacy taxonomy, owners, glossary, schema versions, PII review."""

    name = "apps.catalog"
    label = "catalog"
    verbose_name = "Catalog"
