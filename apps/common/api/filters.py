"""Filters of the identity API, and filter types every app's API uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from apps.common.models import ApiToken


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC: PostgreSQL refuses UTC offsets beyond ±15:59 that ISO 8601 (and Python) allow,
    and a date-time that has no UTC equivalent (year 0 or 10000) is invalid input, not a server error."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """``django_filters.IsoDateTimeFilter`` with the value converted to UTC (see ``UtcIsoDateTimeField``)."""

    field_class = UtcIsoDateTimeField


class ApiTokenFilter(django_filters.FilterSet):
    """``?active=true|false`` and ``?name=`` (substring)."""

    active = django_filters.BooleanFilter(method="filter_active", label="Active (not revoked, not expired)")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = ApiToken
        fields = ("active", "name")

    def filter_active(self, queryset: QuerySet[ApiToken], name: str, value: bool | None) -> QuerySet[ApiToken]:
        if value is None:
            return queryset
        active = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        return queryset.filter(active) if value else queryset.exclude(active)
