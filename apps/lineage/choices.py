"""Persisted enums of lineage."""

from __future__ import annotations

from django.db import models


class EventKind(models.TextChoices):
    """The three OpenLineage event types."""

    RUN = "run", "RunEvent"
    DATASET = "dataset", "DatasetEvent"
    JOB = "job", "JobEvent"


class EventStatus(models.TextChoices):
    """Where a stored event is in processing."""

    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class RunState(models.TextChoices):
    """OpenLineage run states (``eventType`` of a RunEvent)."""

    START = "START", "Started"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    ABORT = "ABORT", "Aborted"
    FAIL = "FAIL", "Failed"
    OTHER = "OTHER", "Other"


FINAL_RUN_STATES = (RunState.COMPLETE, RunState.ABORT, RunState.FAIL)


class Direction(models.TextChoices):
    """Whether a job reads or writes a dataset."""

    INPUT = "input", "Input"
    OUTPUT = "output", "Output"


class TransformationType(models.TextChoices):
    """Column lineage transformation types of the ``columnLineage`` facet."""

    DIRECT = "DIRECT", "Direct"
    INDIRECT = "INDIRECT", "Indirect"


# Subtypes of DIRECT edges through which a value's data category survives (an empty subtype is a plain copy).
TAG_CARRYING_SUBTYPES = ("", "IDENTITY", "TRANSFORMATION")
