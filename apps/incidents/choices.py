"""Persisted enums of the incidents app."""

from __future__ import annotations

from django.db import models


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    WEBHOOK = "webhook", "Generic webhook"
    INTERNAL = "internal", "Internal (alert_raise)"


class GroupBy(models.TextChoices):
    GROUP_KEY = "group_key", "Alertmanager groupKey (webhook: dedup key)"
    FINGERPRINT = "fingerprint", "Alert fingerprint"
    TEMPLATE = "template", "Label template"


class PayloadStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class Priority(models.TextChoices):
    P1 = "P1", "P1 — critical"
    P2 = "P2", "P2 — high"
    P3 = "P3", "P3 — moderate"
    P4 = "P4", "P4 — low"
    P5 = "P5", "P5 — informational"


class Impact(models.TextChoices):
    NONE = "none", "None"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Urgency(models.TextChoices):
    HIGH = "high", "High — page at once"
    LOW = "low", "Low — wait for business hours"


class IncidentStatus(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SILENCED = "silenced", "Silenced"
    RESOLVED = "resolved", "Resolved"


OPEN_STATUSES = (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED, IncidentStatus.SILENCED)


class TimelineKind(models.TextChoices):
    ALERT_RECEIVED = "alert_received", "Alert received"
    ALERT_RESOLVED = "alert_resolved", "Alert resolved"
    TRIGGERED = "triggered", "Incident triggered"
    REOPENED = "reopened", "Reopened"
    CLASSIFIED = "classified", "Classified"
    MAINTENANCE = "maintenance", "Recorded during maintenance (not paged)"
    PAGED = "paged", "Paged"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    UNACKNOWLEDGED = "unacknowledged", "Unacknowledged"
    SILENCED = "silenced", "Silenced"
    UNSILENCED = "unsilenced", "Silence ended"
    REASSIGNED = "reassigned", "Reassigned"
    ESCALATED = "escalated", "Escalated"
    MERGED = "merged", "Merged"
    RESOLVED = "resolved", "Resolved"
    NOTE = "note", "Note"
    POSTMORTEM = "postmortem", "Postmortem"
    REMEDIATION_PROPOSED = "remediation_proposed", "Remediation proposed"
    REMEDIATION_BLOCKED = "remediation_blocked", "Remediation blocked"
    REMEDIATION_APPROVED = "remediation_approved", "Remediation approved"
    REMEDIATION_DENIED = "remediation_denied", "Remediation denied"
    REMEDIATION_RUN = "remediation_run", "Remediation run"


class PostmortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"


class RemediationStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Approval expired"
    BLOCKED = "blocked", "Blocked by a safety control"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    DRY_RUN = "dry_run", "Dry run (nothing changed)"
    FAILED = "failed", "Failed"


class HeartbeatState(models.TextChoices):
    UNKNOWN = "unknown", "Not yet seen"
    HEALTHY = "healthy", "Healthy"
    MISSED = "missed", "Missed"
