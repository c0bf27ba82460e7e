"""App configuration of privacy."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed
from apps.common.periodic import PeriodicTaskSpec


class PrivacyConfig(AppConfig):
    """Consent ledger, GDPR/CCPA data-subject requests and deadlines, erasure proof, retention."""

    name = "apps.privacy"
    label = "privacy"
    verbose_name = "Privacy"
    audited_models = [
        Governed("privacy.DataSubject", sensitivity=20),
        Governed("privacy.SubjectIdentity", sensitivity=25, masked=("value", "value_hash")),
        Governed("privacy.ConsentEvent", sensitivity=15, masked=("ip_hash", "user_agent")),
        Governed("privacy.DataSubjectRequest", sensitivity=20, masked=("details",), ignored=("updated_at",)),
        Governed("privacy.RequestEvent", sensitivity=5),
        Governed("privacy.RequestPlan", sensitivity=10),
        Governed("privacy.RequestRun", sensitivity=20, masked=("document",)),
        Governed("privacy.ErasureCertificate", sensitivity=10),
        Governed("privacy.ExportPackage", sensitivity=20),
        Governed("privacy.RetentionRule", sensitivity=10),
        Governed("privacy.RetentionRun", sensitivity=10),
    ]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="privacy.sweep_deadlines",
            task="privacy.sweep_deadlines",
            every_seconds=900,
            description="Raise deadline reminders (7, 3, 1 days before) and breaches of data-subject requests.",
        ),
        PeriodicTaskSpec(
            name="privacy.sweep_runs",
            task="privacy.sweep_runs",
            every_seconds=60,
            description="Record finished request runs whose task was lost; purge expired export packages.",
        ),
        PeriodicTaskSpec(
            name="privacy.retention_cycle",
            task="privacy.retention_cycle",
            crontab="30 2 * * *",
            description="Retention: today's dry run, then (when it succeeds) the retention job with its policy.",
        ),
    ]

    def ready(self) -> None:
        from apps.privacy.metrics import register_collector
        from apps.privacy.receivers import on_spark_run_environment, on_spark_run_finished
        from apps.sparkruns.signals import spark_run_environment, spark_run_finished

        register_collector()
        spark_run_environment.connect(on_spark_run_environment, dispatch_uid="privacy.job_environment")
        spark_run_finished.connect(on_spark_run_finished, dispatch_uid="privacy.consume_spark_runs")
