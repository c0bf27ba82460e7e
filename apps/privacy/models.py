"""Data subjects and their identities, and the consent ledger: append-only events and the current state they give."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.choices import RetentionAction
from apps.catalog.models import DataCategory, Dataset, DataUse
from apps.common.models import PublicIdModel
from apps.configuration.fields import EncryptedTextField
from apps.privacy.choices import (
    Channel,
    ConsentDecision,
    ConsentSource,
    IdentityKind,
    Regime,
    RequestStatus,
    RequestType,
    RetentionMode,
    RunKind,
    RunStatus,
)


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


class DataSubjectRequest(PublicIdModel):
    """A GDPR or CCPA request of a data subject, with the legal deadlines computed when it was received."""

    reference = models.CharField(max_length=20, unique=True, help_text="Human reference, e.g. DSR-2026-000042.")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="requests")
    request_type = models.CharField(max_length=30, choices=RequestType.choices)
    regime = models.CharField(max_length=5, choices=Regime.choices)
    jurisdiction = models.CharField(max_length=10, blank=True, help_text="Where the subject is, e.g. PT, DE, US-CA.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    received_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.RECEIVED)
    details = EncryptedTextField(blank=True, default="", help_text="What the subject asked, in their words.")
    acknowledge_by = models.DateField(null=True, blank=True)
    respond_by = models.DateField(help_text="The deadline in force (the extended one once extended).")
    respond_by_at = models.DateTimeField(db_index=True, help_text="The end of the deadline day, controller time.")
    extension_notice_by = models.DateField(null=True, blank=True, help_text="Last day to notify an extension.")
    extended = models.BooleanField(default=False)
    extension_reason = models.TextField(blank=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates",
        help_text="An open request of the same subject and type this one repeats.",
    )  # fmt: skip
    reminders_sent = models.JSONField(default=list, blank=True, help_text='Reminders raised, e.g. ["7d", "breach"].')
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["respond_by_at", "pk"]
        indexes = [
            models.Index(
                fields=["respond_by_at"],
                condition=Q(status__in=["received", "identity_pending", "verified", "in_progress"]),
                name="privacy_dsr_open_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_request_type_display()})"


class RequestEvent(models.Model):
    """One step on a request's timeline: intake, status changes, verification, extension, reminders, notes."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=30)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind}"


class RequestPlan(models.Model):
    """What executing a request will do, per dataset, for staff to review before it runs."""

    request = models.OneToOneField(DataSubjectRequest, on_delete=models.CASCADE, related_name="plan")
    items = models.JSONField(
        default=list,
        help_text='[{"dataset", "keys", "action", "fields": {name: strategy}, "hold", "reason", "hops"}, …]',
    )
    built_at = models.DateTimeField(auto_now=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"plan of {self.request_id}"


class RequestRun(PublicIdModel):
    """One execution of a request's approved plan by a Spark job (export, erasure or rectification).

    ``plan`` is what ran, per dataset, without the subject's identity values; those (and a rectification's new
    values) are in ``document``, encrypted, and reach the job in a private file, never in its arguments."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=RunKind.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    spark_run = models.OneToOneField(
        "sparkruns.SparkRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="privacy_run"
    )
    plan = models.JSONField(default=list, blank=True)
    document = EncryptedTextField(
        blank=True,
        help_text="The job's plan document (identity and rectification values), Fernet-encrypted; cleared when the "
        "run ends.",
    )
    summary = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status__in=["queued", "running"]),
                name="privacy_one_active_run_per_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} run of {self.request_id}"


class ErasureCertificate(PublicIdModel):
    """Proof of erasure: the signed record of what a run changed and what the verification scan found."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="certificates")
    run = models.OneToOneField(RequestRun, on_delete=models.PROTECT, related_name="certificate")
    number = models.CharField(max_length=30, unique=True)
    issued_at = models.DateTimeField()
    document = models.TextField(help_text="The certified document: canonical JSON (sorted keys, no spaces).")
    sha256 = models.CharField(max_length=64)
    signature = models.TextField(help_text="Ed25519 signature of the document, base64.")
    key_id = models.CharField(max_length=64, help_text="SHA-256 of the raw public key that verifies it.")

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return self.number


class ExportPackage(PublicIdModel):
    """An access/portability package: the job's zip, encrypted at rest, downloadable until it expires."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="packages")
    run = models.OneToOneField(RequestRun, on_delete=models.CASCADE, related_name="package")
    path = models.CharField(max_length=300, help_text="The encrypted file, relative to the package directory.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the zip before encryption.")
    size = models.PositiveBigIntegerField()
    rows = models.JSONField(default=dict, blank=True, help_text="Rows per dataset.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    downloads = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True, help_text="When the expired file was removed.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"package of {self.request_id}"


class RetentionRule(PublicIdModel):
    """How long rows are kept: for one dataset, or every dataset holding a data category; rows older than ``days``
    by ``time_field`` are deleted or have their personal fields anonymised."""

    name = models.CharField(max_length=100, unique=True)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(DataCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    time_field = models.CharField(max_length=200, help_text="The date or timestamp column that ages a row.")
    days = models.PositiveIntegerField()
    action = models.CharField(max_length=12, choices=RetentionAction.choices, default=RetentionAction.DELETE)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(dataset__isnull=False, category__isnull=True)
                | Q(dataset__isnull=True, category__isnull=False),
                name="privacy_retention_rule_one_target",
            ),
            models.CheckConstraint(condition=Q(days__gt=0), name="privacy_retention_rule_days_positive"),
            models.CheckConstraint(
                condition=Q(action__in=["delete", "anonymise"]), name="privacy_retention_rule_action"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.days} days)"


class RetentionRun(PublicIdModel):
    """One retention pass over the lake: a dry run reports what would expire; an applied run follows a dry run."""

    mode = models.CharField(max_length=10, choices=RetentionMode.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    as_of = models.DateTimeField(help_text="Rows older than each rule's days before this moment expire.")
    spark_run = models.OneToOneField(
        "sparkruns.SparkRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="retention_run"
    )
    policy = models.JSONField(default=dict, help_text="The policy document the job ran, per dataset.")
    skipped = models.JSONField(default=list, blank=True, help_text="Rules or datasets left out, with the reason.")
    summary = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    dry_run = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="applied_by")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"retention {self.mode} {self.as_of:%Y-%m-%d}"
