"""App configuration of incidents."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed
from apps.common.periodic import PeriodicTaskSpec
from apps.incidents.remediation.schedules import REMEDIATION_PERIODIC_TASKS


class IncidentsConfig(AppConfig):
    """Alert intake, deduplication and grouping, incidents, timelines, runbooks, safe remediation."""

    name = "apps.incidents"
    label = "incidents"
    verbose_name = "Incidents"
    audited_models = [
        Governed("incidents.Integration", sensitivity=20, masked=("token_digest",), ignored=("last_heartbeat_at",)),
        Governed(
            "incidents.Incident",
            ignored=("delivery_count", "alert_count", "last_alert_at", "updated_at", "labels"),
        ),
        Governed("incidents.ClassificationRule"),
        Governed("incidents.Runbook", ignored=("updated_at",)),
        Governed("incidents.MaintenanceWindow"),
        Governed("incidents.Postmortem", ignored=("updated_at",)),
        Governed("incidents.RemediationRule", sensitivity=20),
    ]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="incidents.sweep_payloads",
            task="incidents.sweep_payloads",
            every_seconds=15,
            description="Process alert payloads left pending (broker down at intake, worker lost).",
        ),
        PeriodicTaskSpec(
            name="incidents.check_heartbeats",
            task="incidents.check_heartbeats",
            every_seconds=30,
            description="Open an incident when an integration's heartbeat is overdue.",
        ),
        PeriodicTaskSpec(
            name="incidents.expire_silences",
            task="incidents.expire_silences",
            every_seconds=30,
            description="Return silenced incidents to paging when their silence ends.",
        ),
        *REMEDIATION_PERIODIC_TASKS,
    ]

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.incidents.defaults import defaults_install
        from apps.incidents.metrics import register_collector

        register_collector()
        post_migrate.connect(defaults_install, sender=self, dispatch_uid="incidents.defaults")
