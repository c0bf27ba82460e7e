"""Persisted enums of privacy."""

from __future__ import annotations

from django.db import models


class IdentityKind(models.TextChoices):
    """What a data subject is known by (the catalog's identity fields use the same values)."""

    EMAIL = "email", "E-mail address"
    CUSTOMER_ID = "customer_id", "Customer id"
    PHONE = "phone", "Phone number"


class ConsentDecision(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"
    ACKNOWLEDGE = "acknowledge", "Acknowledged (notice only)"


class ConsentSource(models.TextChoices):
    WEB = "web", "Web form"
    API = "api", "API"
    IMPORT = "import", "Import"
    GPC = "gpc", "Global Privacy Control signal"


class ConsentAnswer(models.TextChoices):
    """The answer to "may we process this subject's data for this purpose?"."""

    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    UNKNOWN = "unknown", "No decision recorded"
    RESTRICTED = "restricted", "Processing restricted (GDPR Art. 18)"


class Regime(models.TextChoices):
    GDPR = "gdpr", "GDPR"
    CCPA = "ccpa", "CCPA"


class RequestType(models.TextChoices):
    """A data-subject request: the regime, then the right exercised (``deadlines`` knows each one's periods)."""

    GDPR_ACCESS = "gdpr.access", "GDPR access (Art. 15)"
    GDPR_RECTIFICATION = "gdpr.rectification", "GDPR rectification (Art. 16)"
    GDPR_ERASURE = "gdpr.erasure", "GDPR erasure (Art. 17)"
    GDPR_RESTRICTION = "gdpr.restriction", "GDPR restriction (Art. 18)"
    GDPR_PORTABILITY = "gdpr.portability", "GDPR portability (Art. 20)"
    GDPR_OBJECTION = "gdpr.objection", "GDPR objection (Art. 21)"
    CCPA_KNOW = "ccpa.know", "CCPA right to know"
    CCPA_DELETE = "ccpa.delete", "CCPA right to delete"
    CCPA_CORRECT = "ccpa.correct", "CCPA right to correct"
    CCPA_OPT_OUT_SALE = "ccpa.opt_out_sale", "CCPA opt-out of sale/sharing"
    CCPA_LIMIT_SENSITIVE = "ccpa.limit_sensitive", "CCPA limit use of sensitive data"


class Channel(models.TextChoices):
    WEB = "web", "Web form"
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    MAIL = "mail", "Post"
    API = "api", "API"
    IN_PERSON = "in_person", "In person"


class RequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IDENTITY_PENDING = "identity_pending", "Identity pending"
    VERIFIED = "verified", "Verified"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (
    RequestStatus.RECEIVED,
    RequestStatus.IDENTITY_PENDING,
    RequestStatus.VERIFIED,
    RequestStatus.IN_PROGRESS,
)


class RunKind(models.TextChoices):
    EXPORT = "export", "Export package"
    ERASE = "erase", "Erasure"
    UPDATE = "update", "Rectification"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RetentionMode(models.TextChoices):
    DRY_RUN = "dry_run", "Dry run"
    APPLY = "apply", "Apply"
