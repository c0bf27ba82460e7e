"""Reads behind the catalog's web pages (``/catalog/``): the dataset list with search and filters, and everything
the dataset page shows in a fixed number of queries, however many fields, versions or jobs a dataset has.

The page composes the catalog with what lineage knows about the dataset's jobs, so this module reads both apps'
models; it writes nothing. Other apps keep using ``apps.catalog.selectors``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from guardian.shortcuts import get_users_with_perms

from apps.catalog.choices import CategorySource, Classification, PiiStatus, SuggestionStatus
from apps.catalog.models import Dataset, Field, FieldCategory, PiiSuggestion, SchemaVersion
from apps.common.models import User
from apps.lineage.choices import Direction
from apps.lineage.models import JobDataset

OWN_PERMISSION = "own_dataset"
STEWARD_PERMISSION = "steward_dataset"
MAX_SEARCH_TERMS = 8
VERSIONS_SHOWN = 20


@dataclass(frozen=True)
class DatasetListFilters:
    """What the list page was asked for; unknown choice values are dropped rather than failing the page."""

    search: str = ""
    domain: str = ""
    classification: str = ""
    pii_status: str = ""
    include_inactive: bool = False

    @classmethod
    def from_query(cls, query: Any) -> DatasetListFilters:
        """Filters from a request's GET parameters (a QueryDict or a plain mapping)."""
        classification = str(query.get("classification", "")).strip()
        pii_status = str(query.get("pii", "")).strip()
        return cls(
            search=" ".join(str(query.get("q", "")).split())[:200],
            domain=str(query.get("domain", "")).strip()[:100],
            classification=classification if classification in Classification.values else "",
            pii_status=pii_status if pii_status in PiiStatus.values else "",
            include_inactive=str(query.get("inactive", "")) in ("1", "on", "true"),
        )

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (the page then offers to clear the filters)."""
        return bool(self.search or self.domain or self.classification or self.pii_status or self.include_inactive)


def dataset_page_list(*, filters: DatasetListFilters) -> QuerySet[Dataset]:
    """Datasets matching the filters; every search term must match the name, namespace, description or the
    indexed search text (field names, glossary terms, tags)."""
    qs = Dataset.objects.select_related("retention_policy").annotate(
        active_field_count=Count("fields", filter=Q(fields__is_active=True))
    )
    if not filters.include_inactive:
        qs = qs.filter(is_active=True)
    if filters.domain:
        qs = qs.filter(domain=filters.domain)
    if filters.classification:
        qs = qs.filter(classification=filters.classification)
    if filters.pii_status:
        qs = qs.filter(pii_status=filters.pii_status)
    for term in filters.search.split()[:MAX_SEARCH_TERMS]:
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(namespace__icontains=term)
            | Q(description__icontains=term)
            | Q(search_text__icontains=term)
        )
    return qs.order_by("namespace", "name")


def dataset_domains() -> list[str]:
    """The business domains in use, for the list page's domain filter."""
    return list(Dataset.objects.exclude(domain="").order_by("domain").values_list("domain", flat=True).distinct())


@dataclass(frozen=True)
class CategoryView:
    """A data category on a field as the page shows it: where it came from, and for inherited ones the origin."""

    key: str
    name: str
    source: str
    source_label: str
    hops: int
    origin_dataset: Dataset | None = None
    origin_field: str = ""

    @property
    def inherited(self) -> bool:
        return self.source == CategorySource.PROPAGATED


@dataclass(frozen=True)
class FieldView:
    """A field row of the dataset page."""

    row: Field
    categories: list[CategoryView]
    glossary_terms: list[str]


@dataclass(frozen=True)
class JobView:
    """A job that writes (upstream) or reads (downstream) the dataset, with its latest run."""

    namespace: str
    name: str
    job_type: str
    last_seen: datetime
    run_state: str
    run_started_at: datetime | None
    run_ended_at: datetime | None


@dataclass(frozen=True)
class DatasetPage:
    """Everything the dataset page shows."""

    dataset: Dataset
    fields: list[FieldView]
    retired_fields: list[FieldView]
    owners: list[User]
    stewards: list[User]
    pending_suggestions: int
    versions: list[SchemaVersion]
    writers: list[JobView]
    readers: list[JobView]
    stale: bool | None = None
    field_names: list[str] = field(default_factory=list)


def _category_view(link: FieldCategory) -> CategoryView:
    origin = link.inherited_from
    return CategoryView(
        key=link.category.key,
        name=link.category.name,
        source=link.source,
        source_label=CategorySource(link.source).label if link.source in CategorySource.values else link.source,
        hops=link.hops,
        origin_dataset=origin.field.dataset if origin is not None else None,
        origin_field=origin.field.name if origin is not None else "",
    )


def _field_view(row: Field) -> FieldView:
    links = sorted(row.category_links.all(), key=lambda c: (c.category.key, c.hops))
    return FieldView(
        row=row,
        categories=[_category_view(link) for link in links],
        glossary_terms=[term.name for term in row.glossary_terms.all()],
    )


def _job_views(rows: list[JobDataset], direction: str) -> list[JobView]:
    out = []
    for io in rows:
        if io.direction != direction:
            continue
        run = io.job.latest_run
        out.append(
            JobView(
                namespace=io.job.namespace,
                name=io.job.name,
                job_type=io.job.job_type,
                last_seen=io.last_seen,
                run_state=run.state if run is not None else "",
                run_started_at=run.started_at if run is not None else None,
                run_ended_at=run.ended_at if run is not None else None,
            )
        )
    return out


def _is_stale(dataset: Dataset) -> bool | None:
    """Whether the data is older than its freshness SLA; None when there is no SLA or no known write."""
    if not dataset.freshness_sla_hours or dataset.last_modified_at is None:
        return None
    age = timezone.now() - dataset.last_modified_at
    return age.total_seconds() > dataset.freshness_sla_hours * 3600


def _holders(dataset: Dataset, permission: str) -> list[User]:
    """Users holding an object permission on the dataset, directly or through a group: one query."""
    # Without attach_perms guardian returns a lazy queryset (its stub declares a union with the attach_perms form).
    users = cast("QuerySet[User]", get_users_with_perms(dataset, only_with_perms_in=[permission]))
    return list(users.order_by("username"))


def dataset_page_detail(*, public_id: uuid.UUID) -> DatasetPage | None:
    """The dataset page's content, or None when no dataset has this public id."""
    category_links = FieldCategory.objects.select_related("category", "inherited_from__field__dataset")
    dataset = (
        Dataset.objects.select_related("retention_policy")
        .prefetch_related(
            Prefetch(
                "fields",
                queryset=Field.objects.order_by("ordinal", "name").prefetch_related(
                    Prefetch("category_links", queryset=category_links), "glossary_terms"
                ),
            )
        )
        .filter(public_id=public_id)
        .first()
    )
    if dataset is None:
        return None
    views = [_field_view(row) for row in dataset.fields.all()]
    io_rows = list(
        JobDataset.objects.filter(dataset=dataset)
        .select_related("job__latest_run")
        .order_by("job__namespace", "job__name")
    )
    pending = PiiSuggestion.objects.filter(field__dataset=dataset, status=SuggestionStatus.PENDING).count()
    versions = list(SchemaVersion.objects.filter(dataset=dataset).order_by("-version")[:VERSIONS_SHOWN])
    return DatasetPage(
        dataset=dataset,
        fields=[v for v in views if v.row.is_active],
        retired_fields=[v for v in views if not v.row.is_active],
        owners=_holders(dataset, OWN_PERMISSION),
        stewards=_holders(dataset, STEWARD_PERMISSION),
        pending_suggestions=pending,
        versions=versions,
        writers=_job_views(io_rows, Direction.OUTPUT),
        readers=_job_views(io_rows, Direction.INPUT),
        stale=_is_stale(dataset),
        field_names=[v.row.name for v in views if v.row.is_active],
    )


def dataset_by_identity(*, namespace: str, name: str) -> Dataset | None:
    """The dataset with this OpenLineage identity (graph nodes name datasets this way)."""
    return Dataset.objects.filter(namespace=namespace, name=name).first()
