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

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        problems = api_args_problems(attrs["job"], attrs.get("args") or [])
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


# Arguments naming lake datasets: plain paths under the lake root (``raw/orders``), never ``..``, absolute paths or
# another location. ``--out`` of the profile job is one too when it comes from the API.
LAKE_PATH_ARGS = frozenset({"--dataset", "--input", "--output"})
LAKE_PATH_LIST_ARGS = frozenset({"--datasets"})
# Arguments that may name a local file: the API takes their content inline as JSON, never a path on the portal's host.
INLINE_JSON_ARGS = frozenset({"--plan", "--policy", "--rules"})
# Local paths the portal itself chooses for privacy runs; not from the API.
LOCAL_PATH_ARGS = frozenset({"--progress"})


def _option_values(args: list[str]) -> list[tuple[int, str, str]]:
    """``(index of the value, option, value)`` for ``--opt value`` and ``--opt=value``."""
    out = []
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        option, equals, value = arg.partition("=")
        if equals:
            out.append((index, option, value))
        elif index + 1 < len(args):
            out.append((index + 1, option, args[index + 1]))
    return out


def api_args_problems(job: str, args: list[str]) -> dict[str, list[str]]:
    """Field errors (``args.<index>``) for arguments from the API that name a file or a lake location unsafely."""
    from spark.paths import LakePathError, check_relative

    problems: dict[str, list[str]] = {}
    for index, option, value in _option_values(args):
        lake_paths: list[str] = []
        if option in LAKE_PATH_ARGS or (option == "--out" and job == Job.PROFILE):
            lake_paths = [value]
        elif option in LAKE_PATH_LIST_ARGS:
            lake_paths = [part for part in value.split(",") if part.strip()]
        elif option in INLINE_JSON_ARGS and not value.lstrip().startswith(("{", "[")):
            problems[f"args.{index}"] = [f"{option} must be inline JSON; the API does not read files"]
        elif option in LOCAL_PATH_ARGS or (option == "--out" and job == Job.DSR_EXPORT):
            problems[f"args.{index}"] = [f"{option} is a local path the portal chooses; it is not taken from the API"]
        for path in lake_paths:
            try:
                if "%" in path or "://" in path or path.startswith(("/", "\\")):
                    raise LakePathError(f"unsafe dataset path {path!r}")
                check_relative(path)
            except LakePathError as exc:
                problems[f"args.{index}"] = [f"{option} must be a dataset path under the lake: {exc}"]
                break
    return problems


class SparkRunLogsSerializer(serializers.Serializer[Any]):
    logs = serializers.CharField()
