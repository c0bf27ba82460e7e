"""Filters of the data-quality API. Datasets, rules, scans and owners are named by their public UUID."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from apps.catalog.models import Dataset
from apps.common.api.filters import IsoDateTimeFilter
from apps.quality.choices import Outcome, RuleKind, RuleSeverity, ScanState, ScanTrigger
from apps.quality.models import QualityResult, QualityRule, QualityScan


class RuleFilter(django_filters.FilterSet):
    """By dataset, kind, severity, enabled, last outcome, owner; ``search`` matches the name."""

    dataset = django_filters.UUIDFilter(field_name="dataset__public_id")
    kind = django_filters.ChoiceFilter(choices=RuleKind.choices)
    severity = django_filters.ChoiceFilter(choices=RuleSeverity.choices)
    last_outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    owner = django_filters.UUIDFilter(field_name="owner__public_id")
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains this text.")

    class Meta:
        model = QualityRule
        fields = ("dataset", "kind", "severity", "enabled", "last_outcome", "owner", "search")


class ScanFilter(django_filters.FilterSet):
    """By dataset, state, trigger, and creation time (``created_after`` inclusive, ``created_before`` exclusive)."""

    dataset = django_filters.UUIDFilter(field_name="dataset__public_id")
    state = django_filters.ChoiceFilter(choices=ScanState.choices)
    trigger = django_filters.ChoiceFilter(choices=ScanTrigger.choices)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = QualityScan
        fields = ("dataset", "state", "trigger", "created_after", "created_before")


class ResultFilter(django_filters.FilterSet):
    """By dataset, rule, scan and outcome."""

    dataset = django_filters.UUIDFilter(field_name="scan__dataset__public_id")
    rule = django_filters.UUIDFilter(field_name="rule__public_id")
    scan = django_filters.UUIDFilter(field_name="scan__public_id")
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)

    class Meta:
        model = QualityResult
        fields = ("dataset", "rule", "scan", "outcome", "rule_name")


class DatasetQualityFilter(django_filters.FilterSet):
    """By namespace, name (``search``: contains) and whether an enabled rule fails."""

    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains this text.")
    failing = django_filters.BooleanFilter(method="filter_failing", label="Has (or has no) enabled failing rule.")

    class Meta:
        model = Dataset
        fields = ("namespace", "search", "failing")

    def filter_failing(self, queryset: QuerySet[Dataset], name: str, value: bool | None) -> QuerySet[Dataset]:
        if value is None:
            return queryset
        failing = Q(failing_rules__gt=0)  # annotated by the view's queryset
        return queryset.filter(failing) if value else queryset.exclude(failing)
