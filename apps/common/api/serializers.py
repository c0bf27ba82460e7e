"""Serializers of the identity API."""

from __future__ import annotations

from rest_framework import serializers

from apps.common.models import ApiToken, User


class UserSerializer(serializers.ModelSerializer[User]):
    """The calling user and their roles."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    roles = serializers.ListField(child=serializers.CharField(), source="role_names", read_only=True)

    class Meta:
        model = User
        fields = ("id", "username", "display_name", "email", "time_zone", "is_service_account", "roles")
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token's metadata; never the token itself."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    user = serializers.CharField(source="user.username", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields: tuple[str, ...] = (
            "id",
            "user",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        )
        read_only_fields: tuple[str, ...] = fields


class ApiTokenCreateSerializer(serializers.Serializer[None]):
    """Input for creating a token."""

    name = serializers.CharField(max_length=100)
    expires_days = serializers.IntegerField(
        required=False, help_text="Lifetime in days (bounds checked by the service)."
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """A new token's metadata plus the token, shown this once."""

    token = serializers.CharField(read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = (*ApiTokenSerializer.Meta.fields, "token")
        read_only_fields = fields
