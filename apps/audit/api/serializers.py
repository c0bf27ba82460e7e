"""Serializers of the audit API: events, the query parameters of the reports, the reports and the chain check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from apps.audit.models import AuditEvent, SecurityAlert
from apps.audit.selectors import AccessReport, AddressUse, ComplianceSummary, PersonalDataAccess, PurposeUse
from apps.common.models import User

DEFAULT_WINDOW = timedelta(days=30)


class ActorSerializer(serializers.Serializer[AuditEvent]):
    """Who acted: user, token, service, system or anonymous, with their id and label."""

    type = serializers.CharField(source="actor_type", read_only=True)
    id = serializers.CharField(source="actor_id", read_only=True, help_text="User public id or service name.")
    label = serializers.CharField(source="actor_label", read_only=True)  # type: ignore[assignment]  # a field, not Field.label
    token = serializers.CharField(source="actor_token", read_only=True, help_text="Prefix of the API token used.")


class TargetSerializer(serializers.Serializer[AuditEvent]):
    """What was acted on: its kind (``app_label.model``), id and label."""

    type = serializers.CharField(source="target_type", read_only=True)
    id = serializers.CharField(source="target_id", read_only=True)
    label = serializers.CharField(source="target_label", read_only=True)  # type: ignore[assignment]  # a field, not Field.label


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    """One sealed event with its place in the chain (``seq``, ``prev_hash``, ``hash``)."""

    actor = ActorSerializer(source="*", read_only=True)
    target = TargetSerializer(source="*", read_only=True)

    class Meta:
        model = AuditEvent
        fields = (
            "seq",
            "occurred_at",
            "actor",
            "ip",
            "user_agent",
            "request_id",
            "action",
            "target",
            "changes",
            "purpose",
            "outcome",
            "risk_score",
            "risk_factors",
            "details",
            "hash",
            "prev_hash",
        )
        read_only_fields = fields


class AuditEventBriefSerializer(serializers.ModelSerializer[AuditEvent]):
    """An event as listed inside a report."""

    actor = ActorSerializer(source="*", read_only=True)
    target = TargetSerializer(source="*", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ("seq", "occurred_at", "actor", "ip", "action", "target", "purpose", "outcome", "risk_score")
        read_only_fields = fields


class ReportWindowSerializer(serializers.Serializer[None]):
    """The report window: from ``since`` (inclusive, default 30 days before ``until``) to ``until`` (default now)."""

    since = serializers.DateTimeField(required=False, help_text="ISO 8601; default: 30 days before `until`.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive; default: now.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since") or until - DEFAULT_WINDOW
        if since >= until:
            raise serializers.ValidationError({"until": ["Must be later than `since`."]})
        return {**attrs, "since": since, "until": until}


class AccessReportQuerySerializer(ReportWindowSerializer):
    """The user whose access is reported, and the window."""

    user = serializers.UUIDField(help_text="Public id of the user.")


class PurposeUseSerializer(serializers.Serializer[PurposeUse]):
    """Reads or exports for one purpose."""

    purpose = serializers.CharField(read_only=True)
    events = serializers.IntegerField(read_only=True)
    rows = serializers.IntegerField(read_only=True)


class PersonalDataAccessSerializer(serializers.Serializer[PersonalDataAccess]):
    """Reads and exports of one kind of object."""

    target_type = serializers.CharField(read_only=True)
    reads = serializers.IntegerField(read_only=True)
    exports = serializers.IntegerField(read_only=True)
    rows = serializers.IntegerField(read_only=True, help_text="Records shown or exported in total.")
    purposes = PurposeUseSerializer(many=True, read_only=True)


class AddressUseSerializer(serializers.Serializer[AddressUse]):
    """A client address the user acted from."""

    ip = serializers.CharField(read_only=True)
    events = serializers.IntegerField(read_only=True)
    first_seen = serializers.DateTimeField(read_only=True)
    last_seen = serializers.DateTimeField(read_only=True)


class ReportUserSerializer(serializers.Serializer[User]):
    """The user a report is about."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    username = serializers.CharField(read_only=True)
    display_name = serializers.CharField(read_only=True)


class AccessReportSerializer(serializers.Serializer[AccessReport]):
    """What one user did in the window."""

    user = ReportUserSerializer(read_only=True)
    since = serializers.DateTimeField(read_only=True)
    until = serializers.DateTimeField(read_only=True)
    total = serializers.IntegerField(read_only=True, help_text="Events with the user as actor.")
    by_action = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    personal_data = PersonalDataAccessSerializer(many=True, read_only=True, help_text="Reads and exports, by kind.")
    failed = serializers.IntegerField(read_only=True)
    denied = serializers.IntegerField(read_only=True)
    login_failures = serializers.IntegerField(read_only=True, help_text="Failed logins naming the user's username.")
    failures = AuditEventBriefSerializer(many=True, read_only=True, help_text="Latest 20 failed or denied events.")
    ips = AddressUseSerializer(many=True, read_only=True, help_text="Distinct addresses, most recent first.")
    high_risk_count = serializers.IntegerField(read_only=True, help_text="Events with a risk score of 50 or more.")
    high_risk = AuditEventBriefSerializer(many=True, read_only=True, help_text="Latest 20 of them.")


class SecurityAlertSerializer(serializers.ModelSerializer[SecurityAlert]):
    """A security rule that fired."""

    class Meta:
        model = SecurityAlert
        fields = ("rule", "summary", "event_seq", "details", "created_at")
        read_only_fields = fields


class VerifyReportSerializer(serializers.Serializer[Any]):
    """The outcome of a chain verification (``VerifyReport.as_dict()``)."""

    ok = serializers.BooleanField(read_only=True)
    first_seq = serializers.IntegerField(read_only=True, allow_null=True)
    last_seq = serializers.IntegerField(read_only=True, allow_null=True)
    checked = serializers.IntegerField(read_only=True)
    first_bad_seq = serializers.IntegerField(read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True)
    pending = serializers.IntegerField(read_only=True)
    anchors_checked = serializers.IntegerField(read_only=True)
    problems = serializers.ListField(child=serializers.CharField(), read_only=True)
    summary = serializers.CharField(read_only=True)


class ComplianceSummarySerializer(serializers.Serializer[ComplianceSummary]):
    """The audit log in the window, with the verified state of the chain (without the external anchors)."""

    since = serializers.DateTimeField(read_only=True)
    until = serializers.DateTimeField(read_only=True)
    total = serializers.IntegerField(read_only=True)
    by_action = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    by_outcome = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    failed = serializers.IntegerField(read_only=True)
    denied = serializers.IntegerField(read_only=True)
    login_failures = serializers.IntegerField(read_only=True)
    high_risk_count = serializers.IntegerField(read_only=True, help_text="Events with a risk score of 50 or more.")
    high_risk = AuditEventBriefSerializer(many=True, read_only=True, help_text="Latest 20 of them.")
    alerts_count = serializers.IntegerField(read_only=True, help_text="Security alerts raised in the window.")
    alerts_by_rule = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    alerts = SecurityAlertSerializer(many=True, read_only=True, help_text="Latest 20 security alerts.")
    chain = VerifyReportSerializer(read_only=True)
    pending = serializers.IntegerField(read_only=True, help_text="Events written but not sealed yet.")
