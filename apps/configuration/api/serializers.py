"""Serializers of the configuration API. Secrets are always masked."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.configuration.selectors import Explanation


class LayerReportSerializer(serializers.Serializer[Any]):
    """One layer's say on a key."""

    layer = serializers.CharField()
    present = serializers.BooleanField()
    value = serializers.CharField(source="display")
    origin = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    wins = serializers.BooleanField()


class ConfigEntrySerializer(serializers.Serializer[Explanation]):
    """A key, its declaration, effective value (masked when secret) and provenance."""

    key = serializers.CharField(source="spec.key")
    type = serializers.CharField(source="spec.type")
    secret = serializers.BooleanField(source="spec.secret")
    description = serializers.CharField(source="spec.description")
    value = serializers.CharField(source="display")
    layer = serializers.CharField()
    origin = serializers.CharField()
    layers = LayerReportSerializer(many=True)
