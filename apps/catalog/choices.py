"""Persisted enums of the catalog."""

from __future__ import annotations

from django.db import models


class Classification(models.TextChoices):
    """How sensitive a dataset is, in increasing order."""

    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class Platform(models.TextChoices):
    LAKE = "lake", "Data lake (files)"
    WAREHOUSE = "warehouse", "Warehouse"
    DATABASE = "database", "Database"
    STREAM = "stream", "Stream"
    API = "api", "API"
    OTHER = "other", "Other"


class IdentityKind(models.TextChoices):
    """What a field identifies a data subject by (data-subject requests look people up through these)."""

    NONE = "", "Not an identifier"
    EMAIL = "email", "E-mail address"
    CUSTOMER_ID = "customer_id", "Customer id"
    PHONE = "phone", "Phone number"
    IP_ADDRESS = "ip_address", "IP address"
    DEVICE_ID = "device_id", "Device id"
    SESSION_ID = "session_id", "Session id"
    NAME = "name", "Person name"


class CategorySource(models.TextChoices):
    """Why a field carries a data category."""

    MANUAL = "manual", "Set by a steward"
    SUGGESTION = "suggestion", "Accepted PII suggestion"
    PROPAGATED = "propagated", "Inherited along column lineage"


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded by newer evidence"


class PiiStatus(models.TextChoices):
    """A dataset's personal-data status, from its fields' categories and open suggestions."""

    UNKNOWN = "unknown", "Not scanned"
    NONE = "none", "No personal data"
    SUGGESTED = "suggested", "Suggestions to review"
    CONFIRMED = "confirmed", "Personal data confirmed"


class RetentionAction(models.TextChoices):
    DELETE = "delete", "Delete"
    ANONYMISE = "anonymise", "Anonymise"
    ARCHIVE = "archive", "Archive"
