"""Lineage: raw OpenLineage events (stored first), jobs and runs, and the current graph: dataset edges through jobs
and field edges. The graph tables are maintained on ingest, so queries never replay history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.models import Dataset, Field
from apps.common.models import PublicIdModel
from apps.lineage.choices import (
    TAG_CARRYING_SUBTYPES,
    Direction,
    EventKind,
    EventStatus,
    RunState,
    TransformationType,
)


class LineageEvent(PublicIdModel):
    """One OpenLineage event as received; the graph is updated from it after it is stored."""

    kind = models.CharField(max_length=8, choices=EventKind.choices)
    event_type = models.CharField(max_length=10, blank=True, help_text="RunEvent eventType; empty for the others.")
    event_time = models.DateTimeField(db_index=True)
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    job_namespace = models.CharField(max_length=500, blank=True)
    job_name = models.CharField(max_length=500, blank=True)
    producer = models.CharField(max_length=1000, blank=True)
    dedup_key = models.CharField(
        max_length=64, unique=True, help_text="SHA-256 of (runId, eventType, eventTime), or of the whole event."
    )
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=EventStatus.choices, default=EventStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ("-received_at",)
        indexes = [
            models.Index(fields=["received_at"], condition=Q(status="pending"), name="lineage_event_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_type} {self.job_name} {self.event_time:%Y-%m-%d %H:%M:%S}"


class Job(PublicIdModel):
    """An OpenLineage job (namespace, name) and what it currently reads and writes."""

    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    job_type = models.CharField(max_length=50, blank=True, help_text="jobType facet: BATCH/STREAMING, integration.")
    facets = models.JSONField(default=dict, blank=True)
    latest_run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    io_event_time = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Event time of the complete run that last defined what the job reads and writes.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("namespace", "name")
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="lineage_job_identity")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Run(models.Model):
    """One run of a job: its state and timings, from its events in event-time order."""

    run_id = models.UUIDField(unique=True, default=uuid.uuid4)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.START)
    state_time = models.DateTimeField(null=True, blank=True, help_text="Event time of the event that set the state.")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    nominal_start = models.DateTimeField(null=True, blank=True)
    nominal_end = models.DateTimeField(null=True, blank=True)
    parent_run_id = models.UUIDField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    facets = models.JSONField(default=dict, blank=True)
    last_event_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at",)
        indexes = [models.Index(fields=["job", "-started_at"], name="lineage_run_job_started")]

    def __str__(self) -> str:
        return f"{self.job.name} {self.run_id} ({self.state})"


class JobDataset(models.Model):
    """A dataset a job currently reads (input) or writes (output)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="io")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="lineage_io")
    direction = models.CharField(max_length=6, choices=Direction.choices)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "dataset", "direction"], name="lineage_jobdataset_unique")
        ]
        indexes = [models.Index(fields=["dataset", "direction"], name="lineage_jobdataset_dataset")]

    def __str__(self) -> str:
        return f"{self.job} {self.direction} {self.dataset}"


class RunDataset(models.Model):
    """A dataset one run read (input) or wrote (output), as its events reported."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="io")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="lineage_run_io")
    direction = models.CharField(max_length=6, choices=Direction.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "dataset", "direction"], name="lineage_rundataset_unique")
        ]
        indexes = [models.Index(fields=["dataset", "direction"], name="lineage_rundataset_dataset")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.direction} {self.dataset}"


class DatasetEdge(models.Model):
    """Current dataset-level lineage: ``source`` feeds ``target`` through ``job``."""

    # Looked up through the walk indexes below, which lead with either end: no single-column index of their own.
    source = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="downstream_edges", db_index=False)
    target = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="upstream_edges", db_index=False)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="dataset_edges")
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "job"], name="lineage_datasetedge_unique"),
            models.UniqueConstraint(
                fields=["source", "target"], condition=Q(job__isnull=True), name="lineage_datasetedge_unique_nojob"
            ),
        ]
        # Covering indexes for the walks in both directions: every column a walk reads is in the index, so a
        # walk over a vacuumed table never visits the heap (PostgreSQL; other databases index the keys alone).
        indexes = [
            models.Index(fields=["source", "target"], include=["id", "job"], name="lineage_edge_down"),
            models.Index(fields=["target", "source"], include=["id", "job"], name="lineage_edge_up"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}"


class FieldEdge(models.Model):
    """Current column-level lineage from the ``columnLineage`` facet: ``source`` field feeds ``target`` field."""

    source = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="downstream_edges", db_index=False)
    target = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="upstream_edges", db_index=False)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="field_edges")
    transformation_type = models.CharField(
        max_length=10, choices=TransformationType.choices, default=TransformationType.DIRECT
    )
    transformation_subtype = models.CharField(max_length=30, blank=True, help_text="IDENTITY, TRANSFORMATION, …")
    description = models.TextField(blank=True)
    masking = models.BooleanField(default=False)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "job", "transformation_type", "transformation_subtype"],
                name="lineage_fieldedge_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "target"], include=["id", "job"], name="lineage_fedge_down"),
            models.Index(fields=["target", "source"], include=["id", "job"], name="lineage_fedge_up"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target} ({self.transformation_type}/{self.transformation_subtype})"

    @property
    def carries_tags(self) -> bool:
        """Categories flow through direct identity and transformation edges, never masking or aggregation."""
        return (
            self.transformation_type == TransformationType.DIRECT
            and self.transformation_subtype in TAG_CARRYING_SUBTYPES
            and not self.masking
        )


class GraphChange(models.Model):
    """A change to what dataset-level graph answers show (an edge added, removed or re-pointed, a dataset or job
    renamed), recorded by PostgreSQL triggers with the id of the transaction that made it. The in-memory graph index
    (``apps.lineage.graph_index``) compares these with the snapshot it was read under to know it is current; rows
    older than ``LINEAGE_GRAPH_CHANGE_RETENTION_SECONDS`` are purged by the event sweep."""

    transaction_id = models.BigIntegerField(db_index=True)
    recorded_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"graph change in transaction {self.transaction_id}"
