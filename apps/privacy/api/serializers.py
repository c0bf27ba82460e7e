"""Serializers of the privacy API. Identity values travel only in request bodies (never in URLs, which end up in
access logs) and are never echoed back."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.privacy.choices import Channel, ConsentAnswer, ConsentDecision, ConsentSource, IdentityKind, RequestType
from apps.privacy.models import ConsentEvent, DataSubjectRequest, RequestEvent, RequestRun


class IdentitySerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = serializers.CharField(max_length=320, trim_whitespace=False)


class ConsentInSerializer(IdentitySerializer):
    """One decision as an integrator reports it."""

    purpose = serializers.CharField(max_length=200, help_text="A data use key, e.g. marketing.advertising.")
    decision = serializers.ChoiceField(choices=ConsentDecision.choices)
    source = serializers.ChoiceField(choices=ConsentSource.choices, default=ConsentSource.API)  # type: ignore[assignment]
    mechanism = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    notice_version = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    ip = serializers.IPAddressField(required=False, default="", allow_blank=True, help_text="Stored as a keyed hash.")
    user_agent = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)


class ConsentEventSerializer(serializers.ModelSerializer[ConsentEvent]):
    """A recorded decision (its subject by UUID; no identity value)."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    subject = serializers.UUIDField(source="subject.public_id", read_only=True)
    purpose = serializers.CharField(source="purpose.key", read_only=True)

    class Meta:
        model = ConsentEvent
        fields = (
            "id", "subject", "purpose", "decision", "source", "mechanism", "notice_version", "occurred_at",
            "recorded_at",
        )  # fmt: skip
        read_only_fields = fields


class ConsentCheckInSerializer(IdentitySerializer):
    purpose = serializers.CharField(max_length=200)


class ConsentCheckSerializer(serializers.Serializer[Any]):
    answer = serializers.ChoiceField(choices=ConsentAnswer.choices)
    decided_by = serializers.CharField(allow_null=True, help_text="The purpose key whose decision answered.")
    decided_at = serializers.DateTimeField(allow_null=True)


class SubjectSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    identity_kinds = serializers.ListField(child=serializers.CharField())
    restricted = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ReportQuerySerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()


class ReportRowSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    purpose = serializers.CharField()
    decision = serializers.CharField()
    count = serializers.IntegerField()


class RequestInSerializer(IdentitySerializer):
    """A data-subject request as an integrator reports it (a web form of the shop, a ticketing system)."""

    request_type = serializers.ChoiceField(choices=RequestType.choices)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    jurisdiction = serializers.CharField(max_length=10, required=False, default="", allow_blank=True)
    received_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    details = serializers.CharField(max_length=10000, required=False, default="", allow_blank=True)


class RequestEventSerializer(serializers.ModelSerializer[RequestEvent]):
    class Meta:
        model = RequestEvent
        fields = ("kind", "message", "at")
        read_only_fields = fields


class RequestRunSerializer(serializers.ModelSerializer[RequestRun]):
    """One execution of the request in the lake: its state and, when done, its certificate number."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    certificate = serializers.SerializerMethodField()
    package_ready = serializers.SerializerMethodField()

    class Meta:
        model = RequestRun
        fields = ("id", "kind", "status", "created_at", "finished_at", "certificate", "package_ready")
        read_only_fields = fields

    def get_certificate(self, run: RequestRun) -> str | None:
        certificate = getattr(run, "certificate", None)
        return certificate.number if certificate is not None else None

    def get_package_ready(self, run: RequestRun) -> bool:
        package = getattr(run, "package", None)
        return package is not None and package.purged_at is None


class RequestSerializer(serializers.ModelSerializer[DataSubjectRequest]):
    """A request's status and deadlines (never the identity or the subject's own words), and its runs."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    subject = serializers.UUIDField(source="subject.public_id", read_only=True)
    duplicate_of = serializers.CharField(source="duplicate_of.reference", read_only=True, allow_null=True)
    timeline = RequestEventSerializer(many=True, read_only=True)
    runs = RequestRunSerializer(many=True, read_only=True)

    class Meta:
        model = DataSubjectRequest
        fields = (
            "id", "reference", "subject", "request_type", "regime", "jurisdiction", "channel", "received_at", "status",
            "acknowledge_by", "respond_by", "respond_by_at", "extension_notice_by", "extended", "duplicate_of",
            "closed_at", "timeline", "runs",
        )  # fmt: skip
        read_only_fields = fields
