"""API representations of remediation attempts and rules."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from apps.common.errors import DomainError
from apps.common.models import User
from apps.incidents.models import RemediationAttempt, RemediationRule
from apps.incidents.remediation.registry import action_get, params_shown, rule_definition_validate


class RemediationAttemptSerializer(serializers.ModelSerializer[RemediationAttempt]):
    """A remediation attempt: what, on what, its status, who decided, and the result."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    incident = serializers.UUIDField(source="incident.public_id", read_only=True)
    incident_title = serializers.CharField(source="incident.title", read_only=True)
    rule: serializers.SlugRelatedField[RemediationRule] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    params = serializers.SerializerMethodField()

    class Meta:
        model = RemediationAttempt
        fields = (
            "id",
            "incident",
            "incident_title",
            "rule",
            "action",
            "target",
            "params",
            "status",
            "dry_run",
            "requires_approval",
            "blocked_reason",
            "decided_by",
            "decided_at",
            "approval_expires_at",
            "result",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_params(self, attempt: RemediationAttempt) -> Any:
        return params_shown(attempt.params)


class RemediationDenySerializer(serializers.Serializer[None]):
    """Why the remediation is refused."""

    reason = serializers.CharField(max_length=250, allow_blank=False, trim_whitespace=True)


ERROR_SERIALIZER = inline_serializer(
    name="RemediationError",
    fields={
        "code": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)


class RemediationRuleSerializer(serializers.ModelSerializer[RemediationRule]):
    """A remediation rule, checked against the action registry before it is saved."""

    action = serializers.CharField(
        max_length=50, help_text="Key of an action in the registry, e.g. k8s_restart_deployment."
    )
    action_label = serializers.SerializerMethodField()
    needs_approval = serializers.SerializerMethodField(help_text="Whether its attempts wait for a person.")
    params = serializers.JSONField(required=False, default=dict)
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = RemediationRule
        fields = (
            "id",
            "name",
            "enabled",
            "position",
            "matchers",
            "action",
            "action_label",
            "target",
            "params",
            "requires_approval",
            "needs_approval",
            "auto_run",
            "dry_run",
        )

    @extend_schema_field(OpenApiTypes.STR)
    def get_action_label(self, rule: RemediationRule) -> str:
        try:
            return action_get(rule.action).label
        except DomainError:
            return ""

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_needs_approval(self, rule: RemediationRule) -> bool:
        try:
            return rule.requires_approval or action_get(rule.action).needs_approval
        except DomainError:
            return True

    def validate_params(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("params must be a JSON object")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str, default: Any) -> Any:
            return attrs.get(name, getattr(self.instance, name, default) if self.instance is not None else default)

        try:
            rule_definition_validate(
                matchers=current("matchers", ""),
                action=current("action", ""),
                target=current("target", ""),
                params=current("params", {}),
            )
        except DomainError as exc:
            raise serializers.ValidationError(exc.fields or {"non_field_errors": [exc.detail]}) from None
        return attrs
