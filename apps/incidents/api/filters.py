"""Filters of the incidents API."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from apps.common.api.filters import IsoDateTimeFilter
from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Incident


class IncidentFilter(django_filters.FilterSet):
    """By status, priority, severity, service, urgency, integration name, open or not, and trigger time."""

    integration = django_filters.CharFilter(field_name="integration__name")
    open = django_filters.BooleanFilter(method="filter_open")
    triggered_after = IsoDateTimeFilter(field_name="triggered_at", lookup_expr="gte")
    triggered_before = IsoDateTimeFilter(field_name="triggered_at", lookup_expr="lt")

    class Meta:
        model = Incident
        fields = ("status", "priority", "severity", "service", "urgency", "in_maintenance")

    def filter_open(self, queryset: QuerySet[Incident], name: str, value: bool | None) -> QuerySet[Incident]:
        if value is None:
            return queryset
        return queryset.filter(status__in=OPEN_STATUSES) if value else queryset.exclude(status__in=OPEN_STATUSES)
