"""Spark runs submitted by the portal: job, arguments, backend, state, timings, logs, error and summary."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.sparkruns.choices import ACTIVE_STATES, Backend, Job, RunState


class SparkRun(models.Model):
    """One execution of a Spark job (and one OpenLineage run, ``run_id``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    run_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="The OpenLineage run id.")
    job = models.CharField(max_length=30, choices=Job.choices)
    args = models.JSONField(default=list, blank=True, help_text="Job arguments after the lake root.")
    lake_root = models.CharField(max_length=500)
    backend = models.CharField(max_length=10, choices=Backend.choices)
    state = models.CharField(max_length=12, choices=RunState.choices, default=RunState.QUEUED)
    handle = models.CharField(max_length=500, blank=True, help_text="The backend's reference to the submission.")
    log_location = models.CharField(max_length=1000, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=3600)
    attempts = models.PositiveIntegerField(default=0, help_text="Submission attempts.")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    resubmit_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmits")
    depends_on = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dependents",
        help_text="Submitted only once this run has succeeded (cancelled if it fails).",
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    lineage_events = models.PositiveIntegerField(default=0, help_text="OpenLineage events handed to the lineage app.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["state"], condition=Q(state__in=[s.value for s in ACTIVE_STATES]), name="sparkruns_active"
            )
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.run_id} ({self.state})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
