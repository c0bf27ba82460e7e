"""Quality rules on catalog datasets, their schedules, the scans Spark runs, per-rule results and daily trends."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.models import Dataset
from apps.common.models import PublicIdModel, TimeStampedModel
from apps.configuration.fields import EncryptedJSONField
from apps.quality.choices import Outcome, RuleKind, RuleSeverity, ScanState, ScanTrigger, ScheduleMode


class QualityRule(PublicIdModel, TimeStampedModel):
    """One check of a dataset (or of some of its fields), with warn and fail thresholds.

    Thresholds apply to the rule's score, where 0 means no breach: the failing fraction of rows for row-level,
    uniqueness and join rules; the relative distance outside the expected range for row count, freshness, distinct
    count and mean drift; the number of mismatched columns for a schema rule. Above ``fail_threshold`` the outcome is
    FAIL, above ``warn_threshold`` WARN, else PASS; an empty threshold never trips.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="quality_rules")
    name = models.SlugField(max_length=100, help_text="Unique within the dataset, e.g. email-completeness.")
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    columns = models.JSONField(default=list, blank=True, help_text='Column names, e.g. ["email"] or ["a", "b"].')
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="The kind's settings: min, max, inclusive, values, pattern, max_age_seconds, max_change, expected, "
        "exact, baseline_mean, baseline_stddev, tolerance, expression.",
    )
    reference_dataset = models.ForeignKey(
        Dataset,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referencing_quality_rules",
        help_text="Referential rules and large allowed-value sets: the dataset whose field holds the valid values.",
    )
    reference_field = models.CharField(max_length=300, blank=True)
    warn_threshold = models.FloatField(null=True, blank=True)
    fail_threshold = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=10, choices=RuleSeverity.choices, default=RuleSeverity.ERROR)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="quality_rules"
    )
    enabled = models.BooleanField(default=True)
    last_outcome = models.CharField(max_length=5, choices=Outcome.choices, blank=True)
    last_result_at = models.DateTimeField(null=True, blank=True)
    alert_open = models.BooleanField(default=False, help_text="A FAIL raised an alert that no PASS has resolved yet.")

    class Meta:
        ordering = ["dataset_id", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="quality_rule_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class ScanSchedule(TimeStampedModel):
    """When a dataset is scanned: on request only, on a cron schedule (django-celery-beat), or on each new partition."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="quality_schedule")
    mode = models.CharField(max_length=10, choices=ScheduleMode.choices, default=ScheduleMode.MANUAL)
    crontab = models.CharField(max_length=100, blank=True, help_text='Five cron fields in UTC, e.g. "0 6 * * *".')
    partition_column = models.CharField(
        max_length=300, blank=True, help_text="Partition column watched in partition mode, e.g. order_date."
    )
    last_partition = models.CharField(
        max_length=300, blank=True, help_text="The newest partition value scanned; the next scan reads only newer."
    )
    samples = models.PositiveSmallIntegerField(default=10, help_text="Failing rows kept per rule.")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.dataset.name}: {self.mode}"


class QualityScan(PublicIdModel):
    """One evaluation of a dataset's enabled rules by the ``quality_scan`` Spark job."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="quality_scans")
    spark_run = models.OneToOneField(
        "sparkruns.SparkRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="quality_scan"
    )
    state = models.CharField(max_length=10, choices=ScanState.choices, default=ScanState.QUEUED)
    trigger = models.CharField(max_length=10, choices=ScanTrigger.choices, default=ScanTrigger.MANUAL)
    partitions = models.JSONField(
        default=list, blank=True, help_text='Partition filters, e.g. ["order_date>2025-03-01"].'
    )
    watermark = models.CharField(
        max_length=300, blank=True, help_text="Partition scans: the newest partition value this scan covers."
    )
    sample_rows = models.PositiveIntegerField(null=True, blank=True, help_text="Test runs read only this many rows.")
    rules = models.JSONField(default=list, blank=True, help_text="The rules as sent to the job.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    rows_scanned = models.BigIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    outcomes = models.JSONField(default=dict, blank=True, help_text='{"PASS": n, "WARN": n, "FAIL": n, "ERROR": n}')
    quality_score = models.FloatField(null=True, blank=True)
    trust_score = models.FloatField(null=True, blank=True)
    score_details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["dataset", "-created_at"], name="quality_scan_dataset_recent"),
            models.Index(fields=["state"], condition=Q(state="queued"), name="quality_scan_active"),
        ]

    def __str__(self) -> str:
        return f"scan of {self.dataset.name} ({self.state})"

    @property
    def counts_in_scores(self) -> bool:
        """Test runs read a sample: they never change scores, trends or alerts."""
        return self.trigger != ScanTrigger.TEST


class QualityResult(PublicIdModel):
    """What one rule found in one scan; the rule's settings are copied so history survives edits."""

    scan = models.ForeignKey(QualityScan, on_delete=models.CASCADE, related_name="results")
    rule = models.ForeignKey(QualityRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="results")
    rule_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    columns = models.JSONField(default=list, blank=True)
    severity = models.CharField(max_length=10, choices=RuleSeverity.choices)
    warn_threshold = models.FloatField(null=True, blank=True)
    fail_threshold = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=5, choices=Outcome.choices)
    metric = models.FloatField(null=True, blank=True)
    failing_rows = models.BigIntegerField(null=True, blank=True)
    failing_fraction = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    sample_columns = models.JSONField(default=list, blank=True)
    samples = EncryptedJSONField(default=list, blank=True, help_text="Failing rows (key and rule columns), encrypted.")
    sample_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scan_id", "rule_name"]
        indexes = [models.Index(fields=["rule", "-created_at"], name="quality_result_rule_recent")]
        permissions = [("unmask_samples", "Can see personal values in failing-row samples of any dataset")]

    def __str__(self) -> str:
        return f"{self.rule_name}: {self.outcome}"


class DatasetQualityDaily(models.Model):
    """A dataset's quality per UTC day: the day's last scores and how many rules passed, warned, failed, errored."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="quality_days")
    day = models.DateField()
    quality_score = models.FloatField(null=True, blank=True)
    trust_score = models.FloatField(null=True, blank=True)
    scans = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    warned = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    rows_scanned = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["dataset_id", "day"]
        constraints = [models.UniqueConstraint(fields=["dataset", "day"], name="quality_daily_unique")]

    def __str__(self) -> str:
        return f"{self.dataset_id} {self.day}"
