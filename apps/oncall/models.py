"""On-call: teams, schedules (layers of rotations, overrides), escalation policies, the escalation state of each
incident, contact methods and notification rules, and one row per delivery of a page.

Times are stored in UTC; every rule that depends on a wall clock (hand-off time, restrictions, business hours)
names its own IANA time zone.
"""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.common.models import PublicIdModel, validate_time_zone
from apps.configuration.fields import EncryptedTextField
from apps.oncall.choices import (
    ContactKind,
    DeliveryPurpose,
    DeliveryStatus,
    EscalationStatus,
    OverrideMode,
    RuleUrgency,
    ShiftUnit,
    StepKind,
    StopReason,
)


def feed_token() -> str:
    """A fresh secret for an iCal feed URL (the URL is the only credential a calendar client can carry)."""
    return secrets.token_urlsafe(32)


def default_weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


class Team(PublicIdModel):
    """People paged together by a "notify a team" step."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="oncall_teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Schedule(PublicIdModel):
    """Who is on call when: ordered layers (the higher position wins), overrides on top of every layer."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], help_text="Zone the schedule is shown in."
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="schedules")
    feed_token = models.CharField(max_length=64, default=feed_token, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Layer(models.Model):
    """One rotation: its members take shifts in order from ``rotation_start``.

    Shifts of ``shift_length`` hours are elapsed time; shifts of days or weeks hand off at the wall-clock time of
    ``rotation_start`` in ``time_zone`` (so one shift across a daylight-saving change lasts 23 or 25 hours).
    ``restrictions`` limits the layer to windows of the week in its zone: ``[{"weekdays": [0..6], "start":
    "HH:MM", "end": "HH:MM"}]`` (Monday is 0; an end at or before the start runs past midnight).
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0, help_text="A higher layer wins over a lower one.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    rotation_start = models.DateTimeField(help_text="Start of the first shift; its local time is the hand-off time.")
    shift_length = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(8760)])
    shift_unit = models.CharField(max_length=5, choices=ShiftUnit.choices, default=ShiftUnit.WEEKS)
    restrictions = models.JSONField(default=list, blank=True)
    active_from = models.DateTimeField(null=True, blank=True, help_text="Empty: from the rotation start.")
    active_until = models.DateTimeField(null=True, blank=True, help_text="Empty: for ever.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="LayerMember", related_name="+")

    class Meta:
        ordering = ["schedule", "-position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "position"], name="oncall_layer_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} / {self.name}"


class LayerMember(models.Model):
    """A user's turn in a layer's rotation (the same user may take several turns)."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="turns")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["layer", "position"]
        constraints = [models.UniqueConstraint(fields=["layer", "position"], name="oncall_turn_position_unique")]

    def __str__(self) -> str:
        return f"{self.layer} turn {self.position}: {self.user}"


class Override(PublicIdModel):
    """``user`` is on call for [start, end) instead of (or beside) whoever the layers put there."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides")
    start = models.DateTimeField()
    end = models.DateTimeField()
    mode = models.CharField(max_length=7, choices=OverrideMode.choices, default=OverrideMode.REPLACE)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["schedule", "start"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="oncall_override_order")]
        indexes = [models.Index(fields=["schedule", "end"], name="oncall_override_end")]

    def __str__(self) -> str:
        return f"{self.user} on {self.schedule} {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"


class HandoffNotice(models.Model):
    """A hand-off notice sent (once) to the user whose shift starts at ``shift_start``."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shift_start = models.DateTimeField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "user", "shift_start"], name="oncall_handoff_once"),
        ]

    def __str__(self) -> str:
        return f"hand-off to {self.user} on {self.schedule} at {self.shift_start:%Y-%m-%d %H:%M}"


class UserFeed(models.Model):
    """The secret iCal feed of one user's shifts across every schedule."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_feed")
    token = models.CharField(max_length=64, default=feed_token, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"on-call feed of {self.user}"


class EscalationPolicy(PublicIdModel):
    """Ordered steps, repeated up to ``repeat_count`` more times; incidents name it (``Incident.escalation_policy``).

    Low-urgency incidents wait for business hours (``business_*``, in ``business_time_zone``) before paging.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    repeat_count = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(9)], help_text="Times the whole policy runs again after its last step."
    )
    business_time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    business_start = models.TimeField(default=datetime.time(9, 0))
    business_end = models.TimeField(default=datetime.time(17, 0))
    business_weekdays = models.JSONField(default=default_weekdays, help_text="Monday is 0.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationStep(models.Model):
    """One step of a policy: notify users, a schedule's on-call, a team, or wait."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    wait_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(24 * 60)])

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="oncall_step_position_unique"),
            models.CheckConstraint(
                condition=~Q(kind=StepKind.NOTIFY_SCHEDULE) | Q(schedule__isnull=False),
                name="oncall_step_schedule_given",
            ),
            models.CheckConstraint(
                condition=~Q(kind=StepKind.NOTIFY_TEAM) | Q(team__isnull=False), name="oncall_step_team_given"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} #{self.position}: {self.get_kind_display()}"


class Escalation(models.Model):
    """The escalation of one incident: the policy as it was when paging started (``snapshot``), where it is, and
    when its next step is due. Beat claims due rows; ``fencing_token`` grows on every claim and on every stop, so a
    task delivered twice, or late, finds a token that is not its own and does nothing."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="escalations")
    policy = models.ForeignKey(EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    snapshot = models.JSONField(help_text="The policy's steps with their resolved targets, frozen at trigger.")
    status = models.CharField(max_length=10, choices=EscalationStatus.choices, default=EscalationStatus.ACTIVE)
    stop_reason = models.CharField(max_length=12, choices=StopReason.choices, blank=True)
    step_index = models.PositiveSmallIntegerField(default=0, help_text="Next step to run.")
    cycle = models.PositiveSmallIntegerField(default=0, help_text="Repeat of the policy being run (0 is the first).")
    due_at = models.DateTimeField(null=True, blank=True)
    fencing_token = models.PositiveBigIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A claimed step is re-claimed after this.")
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=Q(status__in=[EscalationStatus.ACTIVE, EscalationStatus.WAITING_BUSINESS_HOURS]),
                name="oncall_one_running_escalation",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=[EscalationStatus.ACTIVE, EscalationStatus.WAITING_BUSINESS_HOURS]),
                name="oncall_escalation_due",
            ),
        ]

    def __str__(self) -> str:
        return f"escalation of incident {self.incident_id} ({self.status})"


class ContactMethod(PublicIdModel):
    """Somewhere a user can be reached. The address (e-mail, phone, webhook URL) and the webhook signing secret are
    personal or secret and stored encrypted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    label = models.CharField(max_length=100, blank=True)
    address = EncryptedTextField(help_text="E-mail address, phone number (E.164) or webhook URL.")
    secret = EncryptedTextField(blank=True, help_text="HMAC key of a generic webhook.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.user} {self.get_kind_display()} {self.label}".strip()


class NotificationRule(PublicIdModel):
    """Page ``contact_method`` this many minutes after the user is notified, if the incident is still open and
    unacknowledged then; rules with no delay fire at once (e.g. e-mail and Slack at 0, SMS at 5)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules")
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="rules")
    delay_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(24 * 60)])
    urgency = models.CharField(max_length=4, choices=RuleUrgency.choices, default=RuleUrgency.ANY)

    class Meta:
        ordering = ["user", "delay_minutes", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact_method", "delay_minutes", "urgency"], name="oncall_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_method} after {self.delay_minutes} min ({self.urgency})"


class Delivery(models.Model):
    """One message to one contact method. A page is unique per (incident, step, attempt, user, contact method):
    a step run twice (a duplicate task, a worker killed mid-step) finds its rows and sends nothing twice."""

    purpose = models.CharField(max_length=8, choices=DeliveryPurpose.choices, default=DeliveryPurpose.PAGE)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    escalation = models.ForeignKey(Escalation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    step_index = models.PositiveSmallIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Cycle of the policy (repeat) the page is from.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    dedup_key = models.CharField(max_length=200, unique=True, help_text="What makes this delivery unique.")
    status = models.CharField(max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    due_at = models.DateTimeField()
    tries = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="Non-personal context of a notice.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "step_index", "attempt", "user", "contact_method"],
                condition=Q(purpose=DeliveryPurpose.PAGE),
                name="oncall_page_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING]),
                name="oncall_delivery_due",
            ),
            models.Index(fields=["contact_method", "sent_at"], name="oncall_delivery_throttle"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} to {self.user} by {self.kind} ({self.status})"
