"""Runtime overrides, the change history, the reload version counter, key-rotation progress, and credentials."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.models import PublicIdModel, TimeStampedModel
from apps.configuration.fields import EncryptedJSONField, EncryptedTextField


class ConfigVersion(models.Model):
    """One row whose number goes up on every configuration change; processes reload when it moves."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="config_version_singleton")]

    def __str__(self) -> str:
        return f"configuration version {self.version}"


class ConfigEntry(models.Model):
    """A declared key as the admin shows it, with its runtime override (non-secret keys only)."""

    key = models.CharField(max_length=200, unique=True)
    override = models.JSONField(null=True, blank=True, help_text="Runtime value; empty means no override.")
    override_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    override_set_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("key",)
        verbose_name = "configuration key"
        verbose_name_plural = "configuration"

    def __str__(self) -> str:
        return self.key


class ConfigChange(models.Model):
    """One change of a key's value in a layer: who, when, old and new (secrets masked)."""

    key = models.CharField(max_length=200, db_index=True)
    layer = models.CharField(max_length=20)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="User name, or the system that made the change.")
    detail = models.CharField(max_length=300, blank=True)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-changed_at", "-id")

    def __str__(self) -> str:
        return f"{self.key} ({self.layer}) by {self.actor_label} at {self.changed_at:%Y-%m-%d %H:%M:%S}"


class VaultSecretState(models.Model):
    """The version of each Vault secret last seen by the change poller."""

    path = models.CharField(max_length=300, unique=True)
    version = models.PositiveIntegerField()
    data_fingerprints = models.JSONField(default=dict, help_text="Per field: a hash of the value, never the value.")
    data_displays = models.JSONField(
        default=dict, help_text="Per field: the value as shown to people (secrets masked)."
    )
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.path} v{self.version}"


class KeyRotation(PublicIdModel):
    """Progress of re-encrypting every encrypted field under a new primary key; resumable after interruption."""

    primary_fingerprint = models.CharField(max_length=12, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(default=dict, help_text='{"app.model.field": {"last_pk": n, "rotated": n, ...}}')

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        state = "finished" if self.finished_at else "in progress"
        return f"rotation to key {self.primary_fingerprint} ({state})"


class CredentialKind(models.TextChoices):
    """What a stored credential is."""

    WEBHOOK_URL = "webhook_url", "Webhook URL"
    API_TOKEN = "api_token", "API token"
    BASIC_AUTH = "basic_auth", "User name and password"
    SMTP = "smtp", "SMTP login"
    OTHER = "other", "Other"


class Credential(PublicIdModel, TimeStampedModel):
    """A secret the portal uses to reach another system (Slack webhook, SMTP login, Kubernetes token, …)."""

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=CredentialKind.choices)
    description = models.CharField(max_length=300, blank=True)
    secret = EncryptedTextField(help_text="The secret itself; write-only.")
    secret_extra = EncryptedJSONField(default=dict, blank=True, help_text="More secret parts, e.g. a password.")
    metadata = models.JSONField(default=dict, blank=True, help_text="Non-secret details: user name, host, scopes.")
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
