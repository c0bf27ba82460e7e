"""Reads of the catalog. The public surface for other apps (with ``services``): taxonomy expansion, dataset and
field lookups, the PII review queue. Querysets come with the joins their callers need, so lists do not grow in
queries with their length."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from apps.catalog.choices import SuggestionStatus
from apps.catalog.models import (
    DataCategory,
    Dataset,
    DataSubjectType,
    DataUse,
    Field,
    FieldCategory,
    GlossaryTerm,
    PiiSuggestion,
    SchemaVersion,
)


def category_covers(parent_key: str, key: str) -> bool:
    """A taxonomy key covers itself and every key below it (``user.contact`` covers ``user.contact.email``)."""
    return key == parent_key or key.startswith(parent_key + ".")


def category_descendant_keys(*, key: str) -> list[str]:
    """``key`` and every data category key below it, as stored (empty when the key is unknown)."""
    return list(
        DataCategory.objects.filter(Q(key=key) | Q(key__startswith=key + "."))
        .order_by("key")
        .values_list("key", flat=True)
    )


def categories_expand(*, keys: Iterable[str]) -> QuerySet[DataCategory]:
    """The data categories the given keys cover (each key with its descendants)."""
    condition = Q(pk__in=[])
    for key in keys:
        condition |= Q(key=key) | Q(key__startswith=key + ".")
    return DataCategory.objects.filter(condition).order_by("key")


def category_list() -> QuerySet[DataCategory]:
    return DataCategory.objects.order_by("key")


def data_use_list() -> QuerySet[DataUse]:
    return DataUse.objects.order_by("key")


def data_subject_list() -> QuerySet[DataSubjectType]:
    return DataSubjectType.objects.order_by("key")


def _category_links() -> Prefetch[Any]:
    return Prefetch(
        "category_links",
        queryset=FieldCategory.objects.select_related(
            "category", "inherited_from__field__dataset", "inherited_from__category"
        ).order_by("category__key", "hops", "pk"),
    )


def dataset_list(*, search: str = "") -> QuerySet[Dataset]:
    """Datasets with their retention policy and field count, optionally matched and ranked by ``search``."""
    from apps.catalog.search import dataset_search

    queryset = (
        Dataset.objects.select_related("retention_policy")
        .annotate(field_count=Count("fields", filter=Q(fields__is_active=True)))
        .order_by("namespace", "name")
    )
    return dataset_search(queryset=queryset, text=search) if search.strip() else queryset


def dataset_detail_list() -> QuerySet[Dataset]:
    """Datasets with their fields, each field's categories (and where inherited ones came from) and glossary terms."""
    fields = Field.objects.prefetch_related(_category_links(), "glossary_terms").order_by("ordinal", "name")
    return (
        Dataset.objects.select_related("retention_policy")
        .annotate(field_count=Count("fields", filter=Q(fields__is_active=True)))
        .prefetch_related(Prefetch("fields", queryset=fields))
    )


def field_list() -> QuerySet[Field]:
    """Fields with their dataset, categories and glossary terms."""
    return (
        Field.objects.select_related("dataset")
        .prefetch_related(_category_links(), "glossary_terms")
        .order_by("dataset__namespace", "dataset__name", "ordinal", "name")
    )


def schema_version_list() -> QuerySet[SchemaVersion]:
    return SchemaVersion.objects.select_related("dataset").order_by("dataset__name", "-version")


def glossary_term_list() -> QuerySet[GlossaryTerm]:
    return GlossaryTerm.objects.select_related("owner").annotate(field_count=Count("fields")).order_by("name")


def suggestion_list(*, status: str | None = None) -> QuerySet[PiiSuggestion]:
    """PII suggestions with field, dataset, category and reviewer; the review queue is ``status="pending"``."""
    queryset = PiiSuggestion.objects.select_related("field__dataset", "category", "reviewed_by")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-confidence", "-created_at", "pk")


def pending_suggestion_count(*, dataset: Dataset) -> int:
    return PiiSuggestion.objects.filter(field__dataset=dataset, status=SuggestionStatus.PENDING).count()
