"""Persisted enums of data quality."""

from __future__ import annotations

from django.db import models


class RuleKind(models.TextChoices):
    """The rule kinds the Spark scan evaluates (``spark.quality.rules.Kind``)."""

    NOT_NULL = "not_null", "Not null (completeness)"
    UNIQUE = "unique", "Unique (one or several columns)"
    RANGE = "range", "Range (min/max)"
    ALLOWED_VALUES = "allowed_values", "Allowed values (inline list or reference dataset)"
    REGEX = "regex", "Regular expression"
    LENGTH = "length", "Length"
    FRESHNESS = "freshness", "Freshness (age of the newest timestamp)"
    ROW_COUNT = "row_count", "Row count (range or change)"
    REFERENTIAL = "referential", "Referential integrity"
    SCHEMA = "schema", "Schema (expected columns and types)"
    MEAN = "mean", "Distribution drift (mean against a baseline)"
    DISTINCT_COUNT = "distinct_count", "Distinct count"
    CUSTOM = "custom", "Custom predicate (Spark SQL boolean expression)"


class RuleSeverity(models.TextChoices):
    """How much a failing rule weighs in the quality score, and the severity of the alert it raises."""

    CRITICAL = "critical", "Critical"
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


# Weight of each severity in the quality score (see ``apps.quality.scores``).
SEVERITY_WEIGHTS = {
    RuleSeverity.CRITICAL: 8,
    RuleSeverity.ERROR: 4,
    RuleSeverity.WARNING: 2,
    RuleSeverity.INFO: 1,
}


class Outcome(models.TextChoices):
    PASS = "PASS", "Pass"
    WARN = "WARN", "Warn"
    FAIL = "FAIL", "Fail"
    ERROR = "ERROR", "Error"


class ScanState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ScanTrigger(models.TextChoices):
    MANUAL = "manual", "Requested by a person"
    SCHEDULE = "schedule", "Cron schedule"
    PARTITION = "partition", "New partition"
    TEST = "test", "Rule test run on a sample"


class ScheduleMode(models.TextChoices):
    MANUAL = "manual", "Only when requested"
    CRON = "cron", "Cron schedule"
    PARTITION = "partition", "On each new partition"
