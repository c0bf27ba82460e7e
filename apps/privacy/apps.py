"""App configuration of privacy."""

from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Consent ledger, GDPR/CCPA data-subject requests and deadlines, erasure proof, retention."""

    name = "apps.privacy"
    label = "privacy"
    verbose_name = "Privacy"
