"""Persisted enums of Spark runs."""

from __future__ import annotations

from django.db import models


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTING = "submitting", "Submitting"
    PENDING = "pending", "Pending on the cluster"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


ACTIVE_STATES = (RunState.QUEUED, RunState.SUBMITTING, RunState.PENDING, RunState.RUNNING)
FINAL_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT)


class Backend(models.TextChoices):
    LOCAL = "local", "Local spark-submit"
    EMR = "emr", "AWS EMR step"


class Job(models.TextChoices):
    GENERATE = "generate", "Generate a synthetic lake"
    VALIDATE = "validate", "Validate raw data into curated and quarantine"
    RFM = "rfm", "RFM segmentation"
    PROFILE = "profile", "Profile datasets"
    PII_SCAN = "pii_scan", "Scan for personal data"
    QUALITY_SCAN = "quality_scan", "Evaluate data-quality rules"
    DSR_ERASE = "dsr_erase", "Erase data subjects (delete or anonymise, file by file)"
    DSR_EXPORT = "dsr_export", "Export data subjects' rows (access and portability packages)"
    RETENTION = "retention", "Apply retention policies (dry run or delete/anonymise expired rows)"
