"""Data subjects and their identities, and the consent ledger: append-only events and the current state they give."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.catalog.models import DataUse
from apps.common.models import PublicIdModel
from apps.configuration.fields import EncryptedTextField
from apps.privacy.choices import ConsentDecision, ConsentSource, IdentityKind


class DataSubject(PublicIdModel):
    """A person the lake holds data about, known by one or more identities."""

    created_at = models.DateTimeField(auto_now_add=True)
    restricted = models.BooleanField(
        default=False, help_text="Processing restricted (GDPR Art. 18): every consent check answers restricted."
    )
    restricted_at = models.DateTimeField(null=True, blank=True)
    restriction_reason = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"subject {self.public_id}"


class SubjectIdentity(models.Model):
    """One identity of a subject: the value encrypted, found by its keyed hash (``apps.privacy.identities``)."""

    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    value = EncryptedTextField(help_text="The normalised value, Fernet-encrypted.")
    value_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of kind:value under the identity hash key.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value_hash"], name="privacy_identity_unique")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.subject_id}"


class ConsentEvent(PublicIdModel):
    """One consent decision as it was made; never changed or deleted (PostgreSQL refuses both)."""

    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="consent_events")
    purpose = models.ForeignKey(DataUse, on_delete=models.PROTECT, related_name="consent_events")
    decision = models.CharField(max_length=12, choices=ConsentDecision.choices)
    mechanism = models.CharField(max_length=100, blank=True, help_text="How it was given: banner, checkbox, form…")
    notice_version = models.CharField(max_length=50, blank=True, help_text="The privacy notice shown.")
    source = models.CharField(max_length=10, choices=ConsentSource.choices)
    occurred_at = models.DateTimeField(db_index=True, help_text="When the subject decided.")
    recorded_at = models.DateTimeField(auto_now_add=True)
    ip_hash = models.CharField(max_length=64, blank=True, help_text="Keyed hash of the subject's IP address.")
    user_agent = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["subject", "purpose", "-occurred_at"], name="privacy_consent_latest")]

    def __str__(self) -> str:
        return f"{self.decision} {self.purpose_id} by {self.subject_id}"


class ConsentState(models.Model):
    """A subject's current decision for one purpose: the latest event by the time the subject decided."""

    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="consents")
    purpose = models.ForeignKey(DataUse, on_delete=models.PROTECT, related_name="consent_states")
    decision = models.CharField(max_length=12, choices=ConsentDecision.choices)
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "purpose"], name="privacy_consent_state_unique")]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.purpose_id}: {self.decision}"
