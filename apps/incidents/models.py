"""Integrations, raw alert payloads, alerts, incidents and their timeline, classification, runbooks, maintenance,
postmortems and remediation. Logic lives in services.py; these are fields and database invariants."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.incidents.choices import (
    OPEN_STATUSES,
    AlertStatus,
    GroupBy,
    HeartbeatState,
    Impact,
    IncidentStatus,
    IntegrationKind,
    PayloadStatus,
    PostmortemStatus,
    Priority,
    RemediationStatus,
    Severity,
    TimelineKind,
    Urgency,
)


class Integration(models.Model):
    """A source of alerts (Alertmanager, a generic webhook, or the portal itself) with its secret token."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=IntegrationKind.choices)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    token_digest = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the token.")
    token_prefix = models.CharField(max_length=12, editable=False, help_text="First characters, to recognise it.")
    enabled = models.BooleanField(default=True)
    group_by = models.CharField(max_length=20, choices=GroupBy.choices, default=GroupBy.GROUP_KEY)
    group_template = models.CharField(
        max_length=200,
        blank=True,
        help_text="For group by template, e.g. {alertname}/{service}; missing labels are empty.",
    )
    resolve_with_alerts = models.BooleanField(
        default=True, help_text="Resolve the incident when every one of its alerts has resolved."
    )
    reopen_window_minutes = models.PositiveIntegerField(
        default=0, help_text="A resolved incident re-fires into the same incident within this window (0: never)."
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=600, help_text="Accepted deliveries per minute.")
    default_service = models.CharField(max_length=100, blank=True)
    heartbeat_interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Expect a heartbeat at least this often (empty: no heartbeat expected)."
    )
    heartbeat_alertname = models.CharField(
        max_length=100, default="Watchdog", help_text="An always-firing alert with this name counts as a heartbeat."
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    heartbeat_state = models.CharField(max_length=10, choices=HeartbeatState.choices, default=HeartbeatState.UNKNOWN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertPayload(models.Model):
    """A delivery exactly as accepted, stored before anything else happens so that no alert is ever lost."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="payloads")
    received_at = models.DateTimeField(db_index=True)
    body = models.JSONField()
    request_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=10, choices=PayloadStatus.choices, default=PayloadStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["received_at"], condition=Q(status="pending"), name="incidents_payload_pending"),
        ]

    def __str__(self) -> str:
        return f"payload {self.pk} from {self.integration_id} ({self.status})"


class Runbook(models.Model):
    """What an alert means and what to do: Markdown, matched to alerts by name or by label matchers."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    alertnames = models.JSONField(default=list, blank=True, help_text="Alert names this runbook covers.")
    matchers = models.TextField(blank=True, help_text='Label matchers, one per line: service="payments", tier=~"a|b".')
    body = models.TextField(help_text="Markdown; rendered sanitised.")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class ClassificationRule(models.Model):
    """Label matchers (in priority order, first match wins) and what they set on a new incident."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first; the first match wins.")
    enabled = models.BooleanField(default=True)
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every integration."
    )
    matchers = models.TextField(help_text='Label matchers, one per line: severity="critical", service=~"api|payments".')
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True, help_text="Empty: from labels.")
    priority = models.CharField(max_length=2, choices=Priority.choices)
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.NONE)
    impact_text = models.CharField(max_length=300, blank=True)
    urgency = models.CharField(max_length=4, choices=Urgency.choices, default=Urgency.HIGH)
    escalation_policy = models.CharField(max_length=100, blank=True, help_text="Name of the escalation policy.")
    runbook = models.ForeignKey(Runbook, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class MaintenanceWindow(models.Model):
    """A period when alerts of an integration or a service are recorded but nobody is paged."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every integration."
    )
    service = models.CharField(max_length=100, blank=True, help_text="Value of the service label; empty: any.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="maintenance_ends")]

    def __str__(self) -> str:
        return f"{self.reason} ({self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M})"


class Incident(models.Model):
    """One problem, grouping the alerts of one (integration, group key); at most one open per key."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="incidents")
    group_key = models.TextField()
    group_hash = models.CharField(max_length=64, help_text="SHA-256 of the group key (indexable).")
    title = models.CharField(max_length=300)
    service = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=IncidentStatus.choices, default=IncidentStatus.TRIGGERED)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.NONE)
    impact_text = models.CharField(max_length=300, blank=True)
    urgency = models.CharField(max_length=4, choices=Urgency.choices, default=Urgency.HIGH)
    escalation_policy = models.CharField(max_length=100, blank=True)
    classification_rule = models.ForeignKey(ClassificationRule, null=True, blank=True, on_delete=models.SET_NULL)
    runbook = models.ForeignKey(Runbook, null=True, blank=True, on_delete=models.SET_NULL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents_assigned"
    )
    in_maintenance = models.BooleanField(default=False, help_text="Recorded during maintenance: not paged.")
    alert_count = models.PositiveIntegerField(default=0)
    delivery_count = models.PositiveIntegerField(default=0, help_text="Deliveries of its alerts, duplicates included.")
    triggered_at = models.DateTimeField(db_index=True)
    last_alert_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    silenced_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=300, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-triggered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "group_hash"],
                condition=Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="incidents_one_open_per_group",
            ),
            models.CheckConstraint(
                condition=~Q(status=IncidentStatus.RESOLVED) | Q(resolved_at__isnull=False),
                name="incidents_resolved_has_time",
            ),
        ]
        indexes = [models.Index(fields=["status", "priority"], name="incidents_status_priority")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != IncidentStatus.RESOLVED


class Alert(models.Model):
    """One alert (by fingerprint) inside an incident, upserted on every delivery."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.URLField(max_length=1000, blank=True)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    deliveries = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_received_at"]
        constraints = [models.UniqueConstraint(fields=["incident", "fingerprint"], name="incidents_alert_once")]

    def __str__(self) -> str:
        return f"{self.name} [{self.fingerprint}] {self.status}"


class TimelineEntry(models.Model):
    """An append-only record of something that happened to an incident, by whom and when."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=30, choices=TimelineKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, help_text="Who: a user, an integration, or the system.")
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}: {self.message}"


class Postmortem(models.Model):
    """The write-up of a resolved P1/P2 incident: what happened, why, the impact and what we will change."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=10, choices=PostmortemStatus.choices, default=PostmortemStatus.DRAFT)
    summary = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    action_items = models.JSONField(default=list, blank=True, help_text='[{"text", "owner", "due", "done"}]')
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Postmortem of {self.incident}"


class RemediationRule(models.Model):
    """Which remediation an incident proposes: label matchers, an action of the registry, its target and options."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100)
    matchers = models.TextField(help_text="Label matchers, one per line.")
    action = models.CharField(max_length=50, help_text="Key of an action in the registry.")
    target = models.CharField(max_length=200, help_text="What it acts on; may use labels: {namespace}/{service}.")
    params = models.JSONField(default=dict, blank=True)
    requires_approval = models.BooleanField(
        default=False, help_text="Wait for approval even if the action itself does not demand it."
    )
    auto_run = models.BooleanField(default=False, help_text="Run at once when proposed (if no approval is needed).")
    dry_run = models.BooleanField(default=False, help_text="Only show what it would do.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.action}"


class RemediationGuard(models.Model):
    """One row per (action, target): locked while deciding, so cooldowns and rate limits hold across workers."""

    action = models.CharField(max_length=50)
    target = models.CharField(max_length=200)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["action", "target"], name="incidents_guard_once")]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"


class RemediationAttempt(models.Model):
    """A proposed, approved, blocked or executed remediation of an incident, with its result."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="remediations")
    rule = models.ForeignKey(RemediationRule, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=200)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=RemediationStatus.choices, default=RemediationStatus.PROPOSED)
    dry_run = models.BooleanField(default=False)
    requires_approval = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=300, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    fencing_token = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["action", "target", "started_at"], name="incidents_remediation_runs")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "rule"], condition=Q(rule__isnull=False), name="incidents_rule_proposes_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target} ({self.status})"
