"""Users, personal API tokens, and the abstract base models every app builds on."""

from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class PublicIdModel(models.Model):
    """Gives a model a random UUID for URLs and payloads; sequential ids never leave the database."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name="public id")

    class Meta:
        abstract = True


class TimeStampedModel(models.Model):
    """Adds creation and last-modification times."""

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def validate_time_zone(value: str) -> None:
    """Accept only IANA time zone names (``Europe/Berlin``, ``America/Los_Angeles``)."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name")


class User(PublicIdModel, AbstractUser):
    """A person or service account using the portal; roles are groups (see ``apps.common.roles``)."""

    display_name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone, used for on-call shifts and off-hours detection.",
    )
    is_service_account = models.BooleanField(
        default=False, help_text="A machine identity (integration) rather than a person; it has no password."
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ("username",)

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def role_names(self) -> list[str]:
        """Names of the role groups the user belongs to."""
        return sorted(g.name for g in self.groups.all())


class ApiToken(PublicIdModel):
    """A personal API token. Only a SHA-256 digest is stored; the token itself is shown once at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'airflow lineage push'.")
    prefix = models.CharField(max_length=16, db_index=True, help_text="First characters, to recognise the token.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means the token never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=models.F("created_at")),
                name="api_token_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())
