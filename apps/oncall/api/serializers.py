"""Serializers of the on-call API. Writes go through ``apps.oncall.services`` (which validate the whole input and
answer ``{code, detail, fields}`` errors); these check shapes and turn references into objects.

People are written as a username or a user's public id and read as the username. Schedules, teams, policies and
contact methods are referred to by public id. Contact addresses and webhook secrets are write-only: reads show the
address masked and whether a secret is set.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common.models import User, validate_time_zone
from apps.oncall import services
from apps.oncall.choices import ContactKind, OverrideMode, RuleUrgency, ShiftUnit, StepKind
from apps.oncall.models import (
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Layer,
    NotificationRule,
    Override,
    Schedule,
    Team,
)
from apps.oncall.schedules import restrictions_validate
from apps.oncall.selectors import MAX_SHIFT_RANGE


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


@extend_schema_field(OpenApiTypes.STR)
class UserRefField(serializers.Field):
    """A user: written as a username or a public id (UUID), read as the username. Only active users."""

    default_error_messages = {"unknown": "No active user {ref!r}.", "invalid": "Expected a username or a user id."}

    def to_internal_value(self, data: Any) -> User:
        if not isinstance(data, str) or not data.strip() or len(data) > 150 or "\x00" in data:
            self.fail("invalid")
        ref = data.strip()
        try:
            found = User.objects.filter(public_id=uuid.UUID(ref), is_active=True).first()
        except ValueError:
            found = User.objects.filter(username=ref, is_active=True).first()
        if found is None:
            self.fail("unknown", ref=ref)
        return found

    def to_representation(self, value: Any) -> str:
        return str(value.get_username())


def _restrictions(value: Any) -> list[dict[str, Any]]:
    try:
        return restrictions_validate(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(list(exc.messages)) from exc


# --- teams ------------------------------------------------------------------------------------------------------
class TeamSerializer(serializers.ModelSerializer[Team]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    members = serializers.ListField(child=UserRefField(), required=False, max_length=500)

    class Meta:
        model = Team
        fields = ("id", "name", "description", "members")

    def to_representation(self, instance: Team) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(instance.public_id),
            "name": instance.name,
            "description": instance.description,
        }
        data["members"] = sorted(u.get_username() for u in instance.members.all())
        return data

    def create(self, validated_data: dict[str, Any]) -> Team:
        return services.team_create(**validated_data)

    def update(self, instance: Team, validated_data: dict[str, Any]) -> Team:
        return services.team_update(team=instance, **validated_data)


# --- schedules --------------------------------------------------------------------------------------------------
class LayerSerializer(serializers.Serializer[Layer]):
    """A layer: a rotation of ``members`` (turns in order; a user may appear more than once)."""

    name = serializers.CharField(max_length=100)
    position = serializers.IntegerField(
        required=False, min_value=0, max_value=32767, help_text="A higher layer wins; default: its index in the list."
    )
    time_zone = serializers.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    rotation_start = serializers.DateTimeField(help_text="Start of the first shift; its local time is the hand-off.")
    shift_length = serializers.IntegerField(min_value=1, max_value=8760, default=1)
    shift_unit = serializers.ChoiceField(choices=ShiftUnit.choices, default=ShiftUnit.WEEKS)
    restrictions = serializers.JSONField(
        required=False,
        help_text='Windows of the week: [{"weekdays": [0..6], "start": "HH:MM", "end": "HH:MM"}]',
    )
    active_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    active_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    members = serializers.ListField(child=UserRefField(), min_length=1, max_length=100)

    def validate_restrictions(self, value: Any) -> list[dict[str, Any]]:
        return _restrictions(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("active_from") and attrs.get("active_until") and attrs["active_until"] <= attrs["active_from"]:
            raise serializers.ValidationError({"active_until": ["must be after active_from"]})
        return attrs

    def to_representation(self, instance: Layer) -> dict[str, Any]:
        return {
            "name": instance.name,
            "position": instance.position,
            "time_zone": instance.time_zone,
            "rotation_start": serializers.DateTimeField().to_representation(instance.rotation_start),
            "shift_length": instance.shift_length,
            "shift_unit": instance.shift_unit,
            "restrictions": instance.restrictions,
            "active_from": serializers.DateTimeField().to_representation(instance.active_from)
            if instance.active_from
            else None,
            "active_until": serializers.DateTimeField().to_representation(instance.active_until)
            if instance.active_until
            else None,
            "members": [turn.user.get_username() for turn in instance.turns.all()],
        }


class ScheduleSerializer(serializers.ModelSerializer[Schedule]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    team = serializers.SlugRelatedField(
        slug_field="public_id", queryset=Team.objects.all(), allow_null=True, required=False
    )
    layers = LayerSerializer(many=True, required=False)
    ical_url = serializers.SerializerMethodField(help_text="The schedule's secret iCal feed (path).")

    class Meta:
        model = Schedule
        fields = ("id", "name", "description", "time_zone", "team", "layers", "ical_url", "created_at", "updated_at")
        read_only_fields = ("created_at", "updated_at")

    def get_ical_url(self, schedule: Schedule) -> str:
        return reverse("oncall:feed-schedule", kwargs={"token": schedule.feed_token})

    @staticmethod
    def _layers(values: list[dict[str, Any]]) -> list[services.LayerIn]:
        return [services.LayerIn(**value) for value in values]

    def create(self, validated_data: dict[str, Any]) -> Schedule:
        layers = self._layers(validated_data.pop("layers", []))
        return services.schedule_create(layers=layers, **validated_data)

    def update(self, instance: Schedule, validated_data: dict[str, Any]) -> Schedule:
        given = validated_data.pop("layers", None)
        return services.schedule_update(
            schedule=instance, layers=self._layers(given) if given is not None else None, **validated_data
        )


class ShiftSerializer(serializers.Serializer[Any]):
    """A final shift: who is on call from when to when, and from which layer or override."""

    user = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    layer = serializers.CharField(allow_blank=True, help_text="The layer's name; empty for an override.")
    override = serializers.UUIDField(allow_null=True, help_text="The override's id, if the shift comes from one.")


class ShiftQuerySerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["must be after start"]})
        if attrs["end"] - attrs["start"] > MAX_SHIFT_RANGE:
            raise serializers.ValidationError({"end": [f"at most {MAX_SHIFT_RANGE.days} days after start"]})
        return attrs


class NextShiftSerializer(serializers.Serializer[Any]):
    user = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class GapSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class ScheduleBriefSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    time_zone = serializers.CharField()


class NowSerializer(serializers.Serializer[Any]):
    """Who is on call on one schedule now, who is next, and whether nobody is."""

    schedule = ScheduleBriefSerializer()
    on_call = serializers.ListField(child=serializers.CharField(), help_text="Usernames on call now.")
    next = NextShiftSerializer(many=True, help_text="The next shift to begin.")
    gap = serializers.BooleanField(help_text="Nobody is on call now.")
    next_gap = GapSerializer(allow_null=True, help_text="The first gap within oncall.gap_horizon_days, if any.")


class NowListSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    results = NowSerializer(many=True)


# --- overrides --------------------------------------------------------------------------------------------------
class OverrideSerializer(serializers.ModelSerializer[Override]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    schedule = serializers.SlugRelatedField(slug_field="public_id", queryset=Schedule.objects.all())
    user = UserRefField()
    mode = serializers.ChoiceField(choices=OverrideMode.choices, default=OverrideMode.REPLACE)
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = Override
        fields = ("id", "schedule", "user", "start", "end", "mode", "reason", "created_by", "created_at")
        read_only_fields = ("created_at",)

    def get_created_by(self, override: Override) -> str | None:
        return _username(override.created_by)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = attrs.get("start", getattr(self.instance, "start", None))
        end = attrs.get("end", getattr(self.instance, "end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end": ["must be after start"]})
        if self.instance is not None and "schedule" in attrs and attrs["schedule"] != self.instance.schedule:
            raise serializers.ValidationError({"schedule": ["an override cannot move to another schedule"]})
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Override:
        return services.override_create(created_by=self.context["request"].user, **validated_data)

    def update(self, instance: Override, validated_data: dict[str, Any]) -> Override:
        validated_data.pop("schedule", None)
        return services.override_update(override=instance, **validated_data)


# --- escalation policies ----------------------------------------------------------------------------------------
class StepSerializer(serializers.Serializer[EscalationStep]):
    """One step; only the target of its kind is given (``users``, ``schedule``, ``team`` or ``wait_minutes``)."""

    kind = serializers.ChoiceField(choices=StepKind.choices)
    users = serializers.ListField(child=UserRefField(), required=False, default=list, max_length=100)
    schedule = serializers.SlugRelatedField(
        slug_field="public_id", queryset=Schedule.objects.all(), allow_null=True, required=False, default=None
    )
    team = serializers.SlugRelatedField(
        slug_field="public_id", queryset=Team.objects.all(), allow_null=True, required=False, default=None
    )
    wait_minutes = serializers.IntegerField(min_value=0, max_value=24 * 60, required=False, default=0)

    def to_representation(self, instance: EscalationStep) -> dict[str, Any]:
        return {
            "kind": instance.kind,
            "users": sorted(u.get_username() for u in instance.users.all()),
            "schedule": str(instance.schedule.public_id) if instance.schedule else None,
            "team": str(instance.team.public_id) if instance.team else None,
            "wait_minutes": instance.wait_minutes,
        }


class PolicySerializer(serializers.ModelSerializer[EscalationPolicy]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    steps = StepSerializer(many=True)
    business_weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, help_text="Monday is 0."
    )

    class Meta:
        model = EscalationPolicy
        fields = (
            "id", "name", "description", "repeat_count", "business_time_zone", "business_start", "business_end",
            "business_weekdays", "steps", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("created_at", "updated_at")

    @staticmethod
    def _steps(values: list[dict[str, Any]]) -> list[services.StepIn]:
        return [services.StepIn(**value) for value in values]

    def create(self, validated_data: dict[str, Any]) -> EscalationPolicy:
        steps = self._steps(validated_data.pop("steps"))
        return services.policy_create(steps=steps, **validated_data)

    def update(self, instance: EscalationPolicy, validated_data: dict[str, Any]) -> EscalationPolicy:
        given = validated_data.pop("steps", None)
        return services.policy_update(
            policy=instance, steps=self._steps(given) if given is not None else None, **validated_data
        )


# --- contact methods and notification rules ---------------------------------------------------------------------
class ContactMethodSerializer(serializers.ModelSerializer[ContactMethod]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    user = UserRefField(required=False, help_text="Administrators only; default: the caller.")
    kind = serializers.ChoiceField(choices=ContactKind.choices)
    address = serializers.CharField(write_only=True, max_length=2000, help_text="Write-only; reads show it masked.")
    address_masked = serializers.SerializerMethodField()
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, help_text="Webhooks: the HMAC key."
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = ContactMethod
        fields = (
            "id", "user", "kind", "label", "address", "address_masked", "secret", "has_secret", "enabled", "created_at",
        )  # fmt: skip
        read_only_fields = ("created_at",)

    def get_address_masked(self, method: ContactMethod) -> str:
        return services.address_mask(kind=method.kind, address=method.address)

    def get_has_secret(self, method: ContactMethod) -> bool:
        return bool(method.secret)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        caller = self.context["request"].user
        if "user" in attrs and attrs["user"] != caller and not caller.is_superuser:
            raise serializers.ValidationError({"user": ["only administrators manage other people's contact methods"]})
        if self.instance is not None:
            if "kind" in attrs and attrs["kind"] != self.instance.kind:
                raise serializers.ValidationError({"kind": ["cannot change; add a new contact method instead"]})
            if "user" in attrs and attrs["user"] != self.instance.user:
                raise serializers.ValidationError({"user": ["cannot change"]})
        return attrs

    def create(self, validated_data: dict[str, Any]) -> ContactMethod:
        user = validated_data.pop("user", None) or self.context["request"].user
        return services.contact_method_create(user=user, **validated_data)

    def update(self, instance: ContactMethod, validated_data: dict[str, Any]) -> ContactMethod:
        validated_data.pop("kind", None)
        validated_data.pop("user", None)
        return services.contact_method_update(contact_method=instance, **validated_data)


class NotificationRuleSerializer(serializers.ModelSerializer[NotificationRule]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    user = serializers.SerializerMethodField()
    contact_method = serializers.SlugRelatedField(slug_field="public_id", queryset=ContactMethod.objects.none())
    urgency = serializers.ChoiceField(choices=RuleUrgency.choices, default=RuleUrgency.ANY)

    class Meta:
        model = NotificationRule
        fields = ("id", "user", "contact_method", "delay_minutes", "urgency")
        read_only_fields = ("id",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        caller = getattr(request, "user", None)
        if caller is not None and caller.is_authenticated:
            methods = ContactMethod.objects.all() if caller.is_superuser else ContactMethod.objects.filter(user=caller)
            self.fields["contact_method"].queryset = methods  # type: ignore[attr-defined]

    def get_user(self, rule: NotificationRule) -> str:
        return str(rule.user.get_username())

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            self.instance is not None
            and "contact_method" in attrs
            and attrs["contact_method"] != self.instance.contact_method
        ):
            raise serializers.ValidationError({"contact_method": ["cannot change; add a new rule instead"]})
        return attrs

    def create(self, validated_data: dict[str, Any]) -> NotificationRule:
        method = validated_data.pop("contact_method")
        return services.notification_rule_create(user=method.user, contact_method=method, **validated_data)

    def update(self, instance: NotificationRule, validated_data: dict[str, Any]) -> NotificationRule:
        validated_data.pop("contact_method", None)
        return services.notification_rule_update(rule=instance, **validated_data)


class TestSentSerializer(serializers.Serializer[Any]):
    deliveries = serializers.IntegerField(help_text="Messages queued (one per contact method used).")
