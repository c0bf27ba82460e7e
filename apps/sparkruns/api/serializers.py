"""Serializers of the Spark runs API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.sparkruns.choices import Backend, Job
from apps.sparkruns.models import SparkRun


class SparkRunSerializer(serializers.ModelSerializer[SparkRun]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    requested_by = serializers.SerializerMethodField()
    resubmit_of = serializers.UUIDField(source="resubmit_of.public_id", read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = SparkRun
        fields = (
            "id", "run_id", "job", "args", "lake_root", "backend", "state", "handle", "log_location", "error",
            "summary", "timeout_seconds", "attempts", "resubmit_of", "requested_by", "lineage_events", "created_at",
            "submitted_at", "started_at", "finished_at", "duration_seconds",
        )  # fmt: skip
        read_only_fields = fields

    def get_requested_by(self, run: SparkRun) -> str | None:
        return run.requested_by.get_username() if run.requested_by else None


class SparkRunRequestSerializer(serializers.Serializer[Any]):
    job = serializers.ChoiceField(choices=Job.choices)
    args = serializers.ListField(child=serializers.CharField(max_length=1000), max_length=64, required=False)
    backend = serializers.ChoiceField(choices=Backend.choices, required=False)
    timeout_seconds = serializers.IntegerField(min_value=60, max_value=24 * 3600, required=False)
    idempotency_key = serializers.CharField(max_length=200, required=False)


class SparkRunLogsSerializer(serializers.Serializer[Any]):
    logs = serializers.CharField()
