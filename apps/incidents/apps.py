"""App configuration of incidents."""

from __future__ import annotations

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    """Alert intake, deduplication and grouping, incidents, timelines, runbooks, safe remediation."""

    name = "apps.incidents"
    label = "incidents"
    verbose_name = "Incidents"
