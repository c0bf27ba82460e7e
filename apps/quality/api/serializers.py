"""Serializers of the data-quality API. Objects are addressed by their public UUID (``id``). Results never carry
sample values: only ``samples/`` shows them, masked as the viewer must see them.

Enumerations whose field names other apps use with other values (``kind``, ``state``, ``outcome``) are plain text in
the schema, with their values in the description: shared enum names would otherwise collide in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.catalog.models import Dataset
from apps.common.models import User
from apps.quality.choices import Outcome, RuleKind, RuleSeverity, ScanState, ScanTrigger, ScheduleMode
from apps.quality.models import DatasetQualityDaily, QualityResult, QualityRule, QualityScan, ScanSchedule
from apps.sparkruns.choices import RunState

KIND_HELP = "One of " + ", ".join(RuleKind.values) + "."
OUTCOME_HELP = "One of " + ", ".join(Outcome.values) + "."
LAST_OUTCOME_HELP = "One of " + ", ".join(Outcome.values) + "; empty before the rule's first scan."
SCAN_STATE_HELP = "One of " + ", ".join(ScanState.values) + "."
RUN_STATE_HELP = "One of " + ", ".join(RunState.values) + "."


# --- rules ------------------------------------------------------------------------------------------------------
class QualityRuleSerializer(serializers.ModelSerializer[QualityRule]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    dataset = serializers.UUIDField(source="dataset.public_id", read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    kind = serializers.CharField(read_only=True, help_text=KIND_HELP)
    columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    params = serializers.DictField(read_only=True)
    reference_dataset = serializers.UUIDField(source="reference_dataset.public_id", read_only=True, allow_null=True)
    reference_dataset_name = serializers.CharField(source="reference_dataset.name", read_only=True, allow_null=True)
    owner = serializers.UUIDField(source="owner.public_id", read_only=True, allow_null=True)
    owner_name = serializers.CharField(source="owner.username", read_only=True, allow_null=True)
    last_outcome = serializers.CharField(read_only=True, help_text=LAST_OUTCOME_HELP)

    class Meta:
        model = QualityRule
        fields = (
            "id", "dataset", "dataset_name", "name", "description", "kind", "columns", "params", "reference_dataset",
            "reference_dataset_name", "reference_field", "warn_threshold", "fail_threshold", "severity", "owner",
            "owner_name", "enabled", "last_outcome", "last_result_at", "alert_open", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class QualityRuleInputSerializer(serializers.Serializer[Any]):
    """A rule as written by a steward (create: ``dataset``, ``name``, ``kind`` and a threshold are needed; PATCH:
    any of them). Datasets and the owner are named by UUID; the owner defaults to the caller."""

    dataset = serializers.SlugRelatedField(slug_field="public_id", queryset=Dataset.objects.all())
    name = serializers.SlugField(max_length=100, help_text="Unique within the dataset, e.g. email-completeness.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    kind = serializers.CharField(max_length=20, help_text=KIND_HELP)
    columns = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=50, help_text='e.g. ["email"]'
    )
    params = serializers.DictField(required=False, help_text='The kind\'s settings, e.g. {"min": 0}.')
    reference_dataset = serializers.SlugRelatedField(
        slug_field="public_id", queryset=Dataset.objects.all(), required=False, allow_null=True
    )
    reference_field = serializers.CharField(required=False, allow_blank=True, max_length=300)
    warn_threshold = serializers.FloatField(required=False, allow_null=True, min_value=0)
    fail_threshold = serializers.FloatField(required=False, allow_null=True, min_value=0)
    severity = serializers.ChoiceField(choices=RuleSeverity.choices, required=False)
    owner = serializers.SlugRelatedField(
        slug_field="public_id", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    enabled = serializers.BooleanField(required=False)


class RuleTestRunSerializer(serializers.Serializer[Any]):
    """How many of the dataset's first rows a test run reads."""

    sample_rows = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)


class RuleDefinitionTestSerializer(QualityRuleInputSerializer):
    """An unsaved rule to evaluate on a sample of its dataset (nothing is saved but the test scan)."""

    name = serializers.SlugField(max_length=100, default="test-run")
    description = None  # type: ignore[assignment]
    owner = None  # type: ignore[assignment]
    enabled = None  # type: ignore[assignment]
    sample_rows = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)


# --- scans and results ------------------------------------------------------------------------------------------
class ScanSparkRunSerializer(serializers.Serializer[Any]):
    """The Spark run that evaluates a scan."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    state = serializers.CharField(read_only=True, help_text=RUN_STATE_HELP)


class QualityScanSerializer(serializers.ModelSerializer[QualityScan]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    dataset = serializers.UUIDField(source="dataset.public_id", read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    state = serializers.CharField(read_only=True, help_text=SCAN_STATE_HELP)
    trigger = serializers.ChoiceField(choices=ScanTrigger.choices, read_only=True)
    partitions = serializers.ListField(child=serializers.CharField(), read_only=True)
    outcomes = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, allow_null=True)
    spark_run = ScanSparkRunSerializer(read_only=True, allow_null=True)

    class Meta:
        model = QualityScan
        fields: tuple[str, ...] = (
            "id", "dataset", "dataset_name", "state", "trigger", "partitions", "watermark", "sample_rows",
            "requested_by", "spark_run", "rows_scanned", "duration_seconds", "outcomes", "quality_score",
            "trust_score", "error", "created_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields


class _ResultFields(serializers.ModelSerializer[QualityResult]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    rule = serializers.UUIDField(source="rule.public_id", read_only=True, allow_null=True)
    kind = serializers.CharField(read_only=True, help_text=KIND_HELP)
    outcome = serializers.CharField(read_only=True, help_text=OUTCOME_HELP)
    columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    sample_columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    details = serializers.DictField(read_only=True)

    class Meta:
        model = QualityResult
        fields: tuple[str, ...] = (
            "id", "rule", "rule_name", "kind", "columns", "severity", "warn_threshold", "fail_threshold", "outcome",
            "metric", "failing_rows", "failing_fraction", "message", "details", "sample_columns", "sample_count",
            "created_at",
        )  # fmt: skip
        read_only_fields = fields


class ScanResultSerializer(_ResultFields):
    """One rule's result inside its scan (no sample values)."""


class QualityResultSerializer(_ResultFields):
    """One rule's result in one scan (no sample values: ``samples/`` shows them)."""

    scan = serializers.UUIDField(source="scan.public_id", read_only=True)
    dataset = serializers.UUIDField(source="scan.dataset.public_id", read_only=True)
    dataset_name = serializers.CharField(source="scan.dataset.name", read_only=True)
    scan_trigger = serializers.CharField(
        source="scan.trigger", read_only=True, help_text="How the scan came about: " + ", ".join(ScanTrigger.values)
    )

    class Meta(_ResultFields.Meta):
        fields = ("id", "scan", "scan_trigger", "dataset", "dataset_name", *_ResultFields.Meta.fields[1:])
        read_only_fields = fields


class QualityScanDetailSerializer(QualityScanSerializer):
    """A scan with the rules it sent and what each found (no sample values)."""

    rules = serializers.ListField(child=serializers.DictField(), read_only=True)
    results = ScanResultSerializer(many=True, read_only=True)

    class Meta(QualityScanSerializer.Meta):
        fields = (*QualityScanSerializer.Meta.fields, "score_details", "rules", "results")
        read_only_fields = fields


class ScanRequestSerializer(serializers.Serializer[Any]):
    dataset = serializers.SlugRelatedField(slug_field="public_id", queryset=Dataset.objects.all())
    partitions = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        max_length=50,
        help_text='Partition filters, e.g. ["order_date>=2025-03-01"].',
    )
    samples = serializers.IntegerField(required=False, help_text="Failing rows kept per rule, 0 to 100 (default 10).")


class SamplesSerializer(serializers.Serializer[Any]):
    """Failing rows of one result as the caller may see them (personal columns masked unless they may unmask)."""

    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.DictField())
    personal = serializers.ListField(child=serializers.CharField(), help_text="Columns holding personal data.")
    masked = serializers.BooleanField(help_text="Whether the personal columns' values are hidden.")


# --- datasets and schedules -------------------------------------------------------------------------------------
class ScanScheduleSerializer(serializers.ModelSerializer[ScanSchedule]):
    """When a dataset is scanned; a dataset never scheduled is scanned on request only (``manual``)."""

    mode = serializers.ChoiceField(choices=ScheduleMode.choices, read_only=True)
    periodic_task = serializers.CharField(source="periodic_task.name", read_only=True, allow_null=True)

    class Meta:
        model = ScanSchedule
        fields = ("mode", "crontab", "partition_column", "last_partition", "samples", "periodic_task")
        read_only_fields = fields


class ScheduleInputSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(choices=ScheduleMode.choices)
    crontab = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, help_text='cron mode, in UTC: "0 6 * * *".'
    )
    partition_column = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    samples = serializers.IntegerField(required=False, allow_null=True, help_text="Failing rows kept per rule, 0-100.")


class LatestScanSerializer(serializers.ModelSerializer[QualityScan]):
    """The dataset's latest finished scan that counts in its scores (test runs do not)."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    trigger = serializers.ChoiceField(choices=ScanTrigger.choices, read_only=True)
    outcomes = serializers.DictField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = QualityScan
        fields = (
            "id", "trigger", "finished_at", "rows_scanned", "quality_score", "trust_score", "score_details",
            "outcomes",
        )  # fmt: skip
        read_only_fields = fields


class QualityDaySerializer(serializers.ModelSerializer[DatasetQualityDaily]):
    class Meta:
        model = DatasetQualityDaily
        fields = (
            "day", "quality_score", "trust_score", "scans", "passed", "warned", "failed", "errored", "rows_scanned",
        )  # fmt: skip
        read_only_fields = fields


class DatasetQualitySerializer(serializers.ModelSerializer[Dataset]):
    """A dataset's quality: its rule counts, latest scan and schedule."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    rules = serializers.IntegerField(read_only=True, default=0)
    enabled_rules = serializers.IntegerField(read_only=True, default=0)
    failing_rules = serializers.IntegerField(
        read_only=True, default=0, help_text="Enabled rules whose last outcome is FAIL."
    )
    warning_rules = serializers.IntegerField(
        read_only=True, default=0, help_text="Enabled rules whose last outcome is WARN."
    )
    latest_scan = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields: tuple[str, ...] = (
            "id", "namespace", "name", "qualified_name", "rules", "enabled_rules", "failing_rules", "warning_rules",
            "latest_scan", "schedule",
        )  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(LatestScanSerializer(allow_null=True))
    def get_latest_scan(self, obj: Dataset) -> dict[str, Any] | None:
        scan = getattr(obj, "latest_scan", None)
        return None if scan is None else dict(LatestScanSerializer(scan).data)

    @extend_schema_field(ScanScheduleSerializer)
    def get_schedule(self, obj: Dataset) -> dict[str, Any]:
        try:
            schedule = obj.quality_schedule
        except ScanSchedule.DoesNotExist:
            schedule = ScanSchedule(dataset=obj)
        return dict(ScanScheduleSerializer(schedule).data)


class DatasetQualityDetailSerializer(DatasetQualitySerializer):
    """A dataset's quality with its daily trend (oldest first, the last 90 days that had a scan)."""

    trend = serializers.SerializerMethodField()

    class Meta(DatasetQualitySerializer.Meta):
        fields = (*DatasetQualitySerializer.Meta.fields, "trend")
        read_only_fields = fields

    @extend_schema_field(QualityDaySerializer(many=True))
    def get_trend(self, obj: Dataset) -> list[dict[str, Any]]:
        from apps.quality.selectors import daily_trend

        return list(QualityDaySerializer(daily_trend(dataset=obj), many=True).data)
