"""Filters of the catalog API."""

from __future__ import annotations

import django_filters
from django.db import connection
from django.db.models import Q, QuerySet

from apps.catalog.choices import Classification, PiiStatus, SuggestionStatus
from apps.catalog.models import Dataset, Field, PiiSuggestion, SchemaVersion
from apps.catalog.search import dataset_search


class DatasetFilter(django_filters.FilterSet):
    """By domain, classification, PII status, namespace, platform, tag, and full-text ``search`` (ranked)."""

    search = django_filters.CharFilter(method="filter_search", label="Full-text search, best match first.")
    tag = django_filters.CharFilter(method="filter_tag")
    classification = django_filters.ChoiceFilter(choices=Classification.choices)
    pii_status = django_filters.ChoiceFilter(choices=PiiStatus.choices)
    category = django_filters.CharFilter(method="filter_category", label="Has a field carrying this category.")

    class Meta:
        model = Dataset
        fields = ("domain", "namespace", "platform", "is_active")

    def filter_search(self, queryset: QuerySet[Dataset], name: str, value: str) -> QuerySet[Dataset]:
        return dataset_search(queryset=queryset, text=value)

    def filter_tag(self, queryset: QuerySet[Dataset], name: str, value: str) -> QuerySet[Dataset]:
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        return queryset.filter(tags__icontains=f'"{value}"')

    def filter_category(self, queryset: QuerySet[Dataset], name: str, value: str) -> QuerySet[Dataset]:
        covered = Q(fields__category_links__category__key=value) | Q(
            fields__category_links__category__key__startswith=value + "."
        )
        return queryset.filter(pk__in=Dataset.objects.filter(covered).values("pk"))


class FieldFilter(django_filters.FilterSet):
    dataset = django_filters.UUIDFilter(field_name="dataset__public_id")
    category = django_filters.CharFilter(method="filter_category")

    class Meta:
        model = Field
        fields = ("name", "identity_kind", "is_active", "is_primary_key")

    def filter_category(self, queryset: QuerySet[Field], name: str, value: str) -> QuerySet[Field]:
        covered = Q(category_links__category__key=value) | Q(category_links__category__key__startswith=value + ".")
        return queryset.filter(pk__in=Field.objects.filter(covered).values("pk"))


class SchemaVersionFilter(django_filters.FilterSet):
    dataset = django_filters.UUIDFilter(field_name="dataset__public_id")

    class Meta:
        model = SchemaVersion
        fields = ("is_breaking",)


class SuggestionFilter(django_filters.FilterSet):
    """The review queue: ``status`` (default all), dataset, category (with its children), minimum confidence."""

    status = django_filters.ChoiceFilter(choices=SuggestionStatus.choices)
    dataset = django_filters.UUIDFilter(field_name="field__dataset__public_id")
    category = django_filters.CharFilter(method="filter_category")
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")

    class Meta:
        model = PiiSuggestion
        fields = ("detector",)

    def filter_category(self, queryset: QuerySet[PiiSuggestion], name: str, value: str) -> QuerySet[PiiSuggestion]:
        return queryset.filter(Q(category__key=value) | Q(category__key__startswith=value + "."))
