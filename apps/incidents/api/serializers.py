"""Serializers of the incidents API."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.incidents.choices import PostmortemStatus
from apps.incidents.markdown import render_markdown
from apps.incidents.matchers import MatcherError, parse_matchers, validate_template
from apps.incidents.models import (
    Alert,
    ClassificationRule,
    Incident,
    Integration,
    MaintenanceWindow,
    Postmortem,
    Runbook,
    TimelineEntry,
)


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class MatchersField(serializers.CharField):
    """Label matchers as text, validated by parsing."""

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        try:
            parse_matchers(text)
        except MatcherError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return text


class IntegrationSerializer(serializers.ModelSerializer[Integration]):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Integration
        fields: tuple[str, ...] = (
            "id", "kind", "name", "description", "token_prefix", "enabled", "group_by", "group_template",
            "resolve_with_alerts", "reopen_window_minutes", "rate_limit_per_minute", "default_service",
            "heartbeat_interval_seconds", "heartbeat_alertname", "last_heartbeat_at", "heartbeat_state", "created_at",
        )  # fmt: skip
        read_only_fields = ("token_prefix", "last_heartbeat_at", "heartbeat_state", "created_at")

    def validate_group_template(self, value: str) -> str:
        try:
            validate_template(value)
        except MatcherError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class IntegrationCreatedSerializer(IntegrationSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once.")
    url = serializers.CharField(
        read_only=True, help_text="The intake URL to configure in the sender (holds the token)."
    )

    class Meta(IntegrationSerializer.Meta):
        fields = (*IntegrationSerializer.Meta.fields, "token", "url")


class RunbookSerializer(serializers.ModelSerializer[Runbook]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    matchers = MatchersField(allow_blank=True, required=False)
    html = serializers.SerializerMethodField(help_text="The body rendered to sanitised HTML.")

    class Meta:
        model = Runbook
        fields = ("id", "slug", "title", "alertnames", "matchers", "body", "html", "enabled", "updated_at")
        read_only_fields = ("updated_at",)

    def get_html(self, runbook: Runbook) -> str:
        return render_markdown(runbook.body)

    def validate_alertnames(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
            raise serializers.ValidationError("must be a list of alert names")
        return value


class RunbookBriefSerializer(serializers.ModelSerializer[Runbook]):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Runbook
        fields = ("id", "slug", "title")


class ClassificationRuleSerializer(serializers.ModelSerializer[ClassificationRule]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    matchers = MatchersField()
    integration = serializers.SlugRelatedField(
        slug_field="public_id", queryset=Integration.objects.all(), allow_null=True, required=False
    )
    runbook = serializers.SlugRelatedField(
        slug_field="slug", queryset=Runbook.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = ClassificationRule
        fields = (
            "id", "name", "position", "enabled", "integration", "matchers", "severity", "priority", "impact",
            "impact_text", "urgency", "escalation_policy", "runbook",
        )  # fmt: skip


class MaintenanceWindowSerializer(serializers.ModelSerializer[MaintenanceWindow]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    integration = serializers.SlugRelatedField(
        slug_field="public_id", queryset=Integration.objects.all(), allow_null=True, required=False
    )
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = ("id", "integration", "service", "starts_at", "ends_at", "reason", "created_by", "created_at")

    def get_created_by(self, window: MaintenanceWindow) -> str | None:
        return _username(window.created_by)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        starts = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["must be after starts_at"]})
        return attrs


class AlertSerializer(serializers.ModelSerializer[Alert]):
    class Meta:
        model = Alert
        fields = (
            "fingerprint", "name", "status", "labels", "annotations", "starts_at", "ends_at", "generator_url",
            "first_received_at", "last_received_at", "deliveries",
        )  # fmt: skip


class TimelineEntrySerializer(serializers.ModelSerializer[TimelineEntry]):
    class Meta:
        model = TimelineEntry
        fields = ("at", "kind", "actor_label", "message", "data")


class IncidentSerializer(serializers.ModelSerializer[Incident]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    number = serializers.IntegerField(source="pk", read_only=True)
    integration = serializers.CharField(source="integration.name", read_only=True)
    runbook = RunbookBriefSerializer(read_only=True, allow_null=True)
    assignee = serializers.SerializerMethodField()
    acknowledged_by = serializers.SerializerMethodField()
    resolved_by = serializers.SerializerMethodField()
    merged_into = serializers.UUIDField(source="merged_into.public_id", read_only=True, allow_null=True)
    classification_rule = serializers.CharField(source="classification_rule.name", read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields: tuple[str, ...] = (
            "id", "number", "title", "integration", "service", "status", "severity", "priority", "impact",
            "impact_text", "urgency", "escalation_policy", "classification_rule", "runbook", "assignee",
            "in_maintenance", "labels", "alert_count", "delivery_count", "triggered_at", "last_alert_at",
            "acknowledged_at", "acknowledged_by", "silenced_until", "resolved_at", "resolved_by", "resolution",
            "merged_into",
        )  # fmt: skip
        read_only_fields: tuple[str, ...] = fields

    def get_assignee(self, incident: Incident) -> str | None:
        return _username(incident.assignee)

    def get_acknowledged_by(self, incident: Incident) -> str | None:
        return _username(incident.acknowledged_by)

    def get_resolved_by(self, incident: Incident) -> str | None:
        return _username(incident.resolved_by)


class IncidentDetailSerializer(IncidentSerializer):
    runbook_html = serializers.SerializerMethodField(help_text="The runbook rendered to sanitised HTML.")

    class Meta(IncidentSerializer.Meta):
        fields = (*IncidentSerializer.Meta.fields, "runbook_html")
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_runbook_html(self, incident: Incident) -> str | None:
        return render_markdown(incident.runbook.body) if incident.runbook else None


class ResolveSerializer(serializers.Serializer[None]):
    resolution = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class SilenceSerializer(serializers.Serializer[None]):
    until = serializers.DateTimeField()

    def validate_until(self, value: Any) -> Any:
        if value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


class ReassignSerializer(serializers.Serializer[None]):
    assignee = serializers.UUIDField(help_text="The public id of the user.")


class EscalateSerializer(serializers.Serializer[None]):
    reason = serializers.CharField(max_length=400, required=False, allow_blank=True, default="")


class MergeSerializer(serializers.Serializer[None]):
    into = serializers.UUIDField(help_text="The incident this one is merged into.")


class ActionItemSerializer(serializers.Serializer[None]):
    text = serializers.CharField(max_length=500)
    owner = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    due = serializers.DateField(required=False, allow_null=True, default=None)
    done = serializers.BooleanField(required=False, default=False)


class PostmortemSerializer(serializers.ModelSerializer[Postmortem]):
    action_items = ActionItemSerializer(many=True, required=False)
    status = serializers.ChoiceField(choices=PostmortemStatus.choices, required=False)
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Postmortem
        fields = ("status", "summary", "root_cause", "impact", "action_items", "owner", "created_at", "updated_at")
        read_only_fields = ("created_at", "updated_at")

    def get_owner(self, postmortem: Postmortem) -> str | None:
        return _username(postmortem.owner)

    def validate_action_items(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A partial update still takes whole action items: each needs its text.
        missing = [{} if item.get("text") else {"text": ["This field is required."]} for item in value]
        if any(missing):
            raise serializers.ValidationError(missing)
        return value

    def validated_changes(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "action_items" in data:
            data["action_items"] = [
                {**item, "due": item["due"].isoformat() if item.get("due") else None} for item in data["action_items"]
            ]
        return data
