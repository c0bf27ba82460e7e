"""App configuration of privacy."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed


class PrivacyConfig(AppConfig):
    """Consent ledger, GDPR/CCPA data-subject requests and deadlines, erasure proof, retention."""

    name = "apps.privacy"
    label = "privacy"
    verbose_name = "Privacy"
    audited_models = [
        Governed("privacy.DataSubject", sensitivity=20),
        Governed("privacy.SubjectIdentity", sensitivity=25, masked=("value", "value_hash")),
        Governed("privacy.ConsentEvent", sensitivity=15, masked=("ip_hash", "user_agent")),
    ]
