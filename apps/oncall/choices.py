"""Persisted enums of the on-call app."""

from __future__ import annotations

from django.db import models


class ShiftUnit(models.TextChoices):
    """How a layer's shift length is counted. Hours are elapsed time; days and weeks are calendar units in the
    layer's time zone, so a hand-off stays at the same wall-clock time across daylight-saving changes."""

    HOURS = "hours", "Hours"
    DAYS = "days", "Days"
    WEEKS = "weeks", "Weeks"


class OverrideMode(models.TextChoices):
    REPLACE = "replace", "Instead of whoever is on call"
    ADD = "add", "In addition to whoever is on call"


class StepKind(models.TextChoices):
    NOTIFY_USERS = "notify_users", "Notify users"
    NOTIFY_SCHEDULE = "notify_schedule", "Notify whoever is on call in a schedule"
    NOTIFY_TEAM = "notify_team", "Notify a team"
    WAIT = "wait", "Wait"


class EscalationStatus(models.TextChoices):
    ACTIVE = "active", "Escalating"
    WAITING_BUSINESS_HOURS = "waiting", "Waiting for business hours"
    STOPPED = "stopped", "Stopped"
    EXHAUSTED = "exhausted", "Exhausted (every step and repeat done)"


class StopReason(models.TextChoices):
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    SILENCED = "silenced", "Silenced"
    RESTARTED = "restarted", "Restarted (replaced by a new escalation)"
    NO_POLICY = "no_policy", "No escalation policy"


class ContactKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "Webhook (HMAC-signed)"
    SMS = "sms", "SMS"


class RuleUrgency(models.TextChoices):
    ANY = "any", "Any urgency"
    HIGH = "high", "High urgency"
    LOW = "low", "Low urgency"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    FAILED = "failed", "Failed"
    THROTTLED = "throttled", "Throttled"
    CANCELLED = "cancelled", "Cancelled"


OPEN_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)


class DeliveryPurpose(models.TextChoices):
    PAGE = "page", "Page"
    HANDOFF = "handoff", "Shift hand-off notice"
    GAP = "gap", "Schedule gap notice"
    TEST = "test", "Test message"
