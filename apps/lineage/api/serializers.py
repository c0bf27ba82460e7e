"""Serializers of the lineage API: jobs, runs and raw events (read-only), the intake answer and the graph."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.lineage.choices import Direction
from apps.lineage.graph import DEFAULT_DEPTH, DIRECTIONS, MAX_DEPTH
from apps.lineage.models import Job, LineageEvent, Run


class DatasetRefSerializer(serializers.Serializer[Any]):
    """A catalog dataset by its public id and OpenLineage name."""

    id = serializers.UUIDField(source="dataset.public_id")
    namespace = serializers.CharField(source="dataset.namespace")
    name = serializers.CharField(source="dataset.name")


def _split(rows: Any) -> dict[str, list[dict[str, Any]]]:
    """Prefetched io rows as {"inputs": [...], "outputs": [...]} (no extra queries)."""
    out: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
    for row in rows.all():
        key = "inputs" if row.direction == Direction.INPUT else "outputs"
        out[key].append(DatasetRefSerializer(row).data)
    return out


RUN_STATE_HELP = "OpenLineage run state: START, RUNNING, COMPLETE, ABORT, FAIL or OTHER."


class RunBriefSerializer(serializers.ModelSerializer[Run]):
    """A run's identity, state and timings."""

    state = serializers.CharField(read_only=True, help_text=RUN_STATE_HELP)

    class Meta:
        model = Run
        fields = ("run_id", "state", "started_at", "ended_at")


class JobSerializer(serializers.ModelSerializer[Job]):
    """A job, its latest run, and the datasets it currently reads and writes."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    latest_run = RunBriefSerializer(read_only=True, allow_null=True)
    inputs = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = (
            "id", "namespace", "name", "description", "job_type", "facets", "latest_run", "inputs", "outputs",
            "io_event_time", "created_at", "updated_at",
        )  # fmt: skip

    @extend_schema_field(DatasetRefSerializer(many=True))
    def get_inputs(self, job: Job) -> list[dict[str, Any]]:
        return _split(job.io)["inputs"]

    @extend_schema_field(DatasetRefSerializer(many=True))
    def get_outputs(self, job: Job) -> list[dict[str, Any]]:
        return _split(job.io)["outputs"]


class JobRefSerializer(serializers.ModelSerializer[Job]):
    """A job by its public id and OpenLineage name."""

    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Job
        fields = ("id", "namespace", "name")


class RunSerializer(serializers.ModelSerializer[Run]):
    """A run: its job, state, timings, facets and the datasets it read and wrote."""

    job = JobRefSerializer(read_only=True)
    state = serializers.CharField(read_only=True, help_text=RUN_STATE_HELP)
    inputs = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = (
            "run_id", "job", "state", "state_time", "started_at", "ended_at", "nominal_start", "nominal_end",
            "parent_run_id", "error_message", "facets", "last_event_time", "inputs", "outputs",
        )  # fmt: skip

    @extend_schema_field(DatasetRefSerializer(many=True))
    def get_inputs(self, run: Run) -> list[dict[str, Any]]:
        return _split(run.io)["inputs"]

    @extend_schema_field(DatasetRefSerializer(many=True))
    def get_outputs(self, run: Run) -> list[dict[str, Any]]:
        return _split(run.io)["outputs"]


class LineageEventSerializer(serializers.ModelSerializer[LineageEvent]):
    """A stored OpenLineage event as received, with its processing state."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True, allow_null=True)

    class Meta:
        model = LineageEvent
        fields = (
            "id", "kind", "event_type", "event_time", "run_id", "job_namespace", "job_name", "producer", "dedup_key",
            "status", "attempts", "error", "received_at", "processed_at", "submitted_by", "payload",
        )  # fmt: skip


class IntakeResultSerializer(serializers.Serializer[Any]):
    """The intake's answer: events received, newly stored, and already known (idempotent repeats)."""

    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class GraphQuerySerializer(serializers.Serializer[Any]):
    """Query parameters of the graph and its export."""

    namespace = serializers.CharField(max_length=500)
    name = serializers.CharField(max_length=500)
    field = serializers.CharField(max_length=300, required=False)
    direction = serializers.ChoiceField(choices=DIRECTIONS, default="downstream")
    depth = serializers.IntegerField(min_value=1, max_value=MAX_DEPTH, default=DEFAULT_DEPTH)


class GraphRootSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=("dataset", "field"))
    namespace = serializers.CharField()
    name = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class GraphNodeSerializer(GraphRootSerializer):
    hops = serializers.IntegerField()
    side = serializers.ChoiceField(choices=("root", "upstream", "downstream"))


class TransformationSerializer(serializers.Serializer[Any]):
    type = serializers.CharField()
    subtype = serializers.CharField()
    masking = serializers.BooleanField()


class GraphEdgeSerializer(serializers.Serializer[Any]):
    # Declared fields are popped off the class by DRF's metaclass, so this does not shadow Field.source.
    source = serializers.UUIDField()  # type: ignore[assignment]
    target = serializers.UUIDField()
    job = serializers.CharField(allow_null=True, help_text='"namespace/name" of the job, null for job-less lineage.')
    transformation = TransformationSerializer(allow_null=True)


class GraphOwnerSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.CharField()
    datasets = serializers.ListField(child=serializers.CharField())


class GraphSerializer(serializers.Serializer[Any]):
    """The lineage graph around a dataset or field (documentation of the answer; built without serializers)."""

    root = GraphRootSerializer()
    direction = serializers.ChoiceField(choices=DIRECTIONS)
    depth = serializers.IntegerField()
    truncated = serializers.BooleanField()
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)
    owners = GraphOwnerSerializer(many=True)
