"""Filters of the identity API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.common.models import ApiToken


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
