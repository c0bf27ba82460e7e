"""The append-only, hash-chained audit log.

An event is written complete but *pending* (no sequence number or hash) in the writer's own transaction, so nothing
accepted is lost; a sealer then gives pending events, in order, their sequence number, the previous event's hash and
their own hash (SHA-256 of ``seq|prev_hash|canonical text``, see ``canonical.py``), holding the chain head's row lock
only for the batch. The hash covers every column, so verification re-derives each event from what is stored.
PostgreSQL triggers refuse every UPDATE except sealing a pending event and every DELETE except the retention purge
of checkpointed events.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.audit.choices import ActorType, AuditAction, Outcome

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One thing that happened: who, what, to which object, how it ended, how risky it looked."""

    id = models.BigAutoField(primary_key=True)
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=12, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, help_text="User public id or service name.")
    actor_label = models.CharField(max_length=150, blank=True)
    actor_token = models.CharField(max_length=16, blank=True, help_text="Prefix of the API token used, if any.")
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    action = models.CharField(max_length=24, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    purpose = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_factors = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # NULL (not "") marks a pending event: the pending index, the seal constraint and the trigger rely on it.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["actor_id", "occurred_at"], name="audit_actor_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["risk_score"], name="audit_risk", condition=models.Q(risk_score__gte=50)),
            models.Index(fields=["id"], name="audit_pending", condition=models.Q(hash__isnull=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(risk_score__lte=100), name="audit_risk_score_range"),
            models.CheckConstraint(
                condition=(models.Q(seq__isnull=True, hash__isnull=True, prev_hash__isnull=True))
                | (models.Q(seq__isnull=False, hash__isnull=False, prev_hash__isnull=False)),
                name="audit_sealed_all_or_nothing",
            ),
        ]

    def __str__(self) -> str:
        number = f"#{self.seq}" if self.seq else "(pending)"
        return f"{number} {self.action} {self.target_type}:{self.target_id} by {self.actor_label or self.actor_type}"


class AuditChainHead(models.Model):
    """The last sealed event's sequence number and hash; its row lock serialises sealing."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_singleton")]

    def __str__(self) -> str:
        return f"head #{self.seq}"


class AuditCheckpoint(models.Model):
    """A verified point of the chain kept when older events are purged; verification restarts from it."""

    seq = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ("-seq",)

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class AuditAnchor(models.Model):
    """A copy of the chain head written to an external sink; a tail cut off after it is detected."""

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    sink = models.CharField(max_length=20)
    location = models.CharField(max_length=500)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"anchor #{self.seq} → {self.location}"


class SecurityAlert(models.Model):
    """A security rule that fired, once per rule and subject and window (so it never fires twice)."""

    rule = models.CharField(max_length=50)
    dedup_key = models.CharField(max_length=200)
    event_seq = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [models.UniqueConstraint(fields=["rule", "dedup_key"], name="audit_alert_once")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.summary}"
