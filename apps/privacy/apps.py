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
    ]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="privacy.sweep_deadlines",
            task="privacy.sweep_deadlines",
            every_seconds=900,
            description="Raise deadline reminders (7, 3, 1 days before) and breaches of data-subject requests.",
        ),
    ]
