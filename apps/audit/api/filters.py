"""Filters of the audit event listing and its CSV export: the FilterSet parses and validates, the selector queries."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from apps.audit.choices import AuditAction, Outcome
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_filter
from apps.common.api.filters import IsoDateTimeFilter


class AuditEventFilter(django_filters.FilterSet):
    """``?actor=&target_type=&target_id=&action=a&action=b&outcome=&occurred_after=&occurred_before=&risk_min=&request_id=``.

    Bad values (a non-number ``risk_min``, a non-ISO date, an unknown action) answer 400 naming the parameter.
    """

    actor = django_filters.CharFilter(label="Actor id (user public id or service name) or actor label, exact.")
    target_type = django_filters.CharFilter(label="Kind of object, `app_label.model`, exact.")
    target_id = django_filters.CharFilter(label="Id of the object, exact.")
    action = django_filters.MultipleChoiceFilter(
        choices=AuditAction.choices, label="Action; repeat the parameter for several (any of them)."
    )
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices, label="How the action ended.")
    occurred_after = IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", label="At or after this ISO 8601 time."
    )
    occurred_before = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt", label="Before this ISO 8601 time.")
    risk_min = django_filters.NumberFilter(
        field_name="risk_score", lookup_expr="gte", min_value=0, label="Risk score at least this (0-100)."
    )
    request_id = django_filters.CharFilter(label="Request id (X-Request-ID) of the request that wrote the events.")

    class Meta:
        model = AuditEvent
        fields = (
            "actor",
            "target_type",
            "target_id",
            "action",
            "outcome",
            "occurred_after",
            "occurred_before",
            "risk_min",
            "request_id",
        )

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return audit_event_filter(queryset, filters=self.form.cleaned_data)
