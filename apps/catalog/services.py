"""Writes to the catalog. The public surface for other apps: ``dataset_upsert``, ``dataset_schema_apply``,
``dataset_statistics_update``, ``dataset_search_text``; stewards' edits (``dataset_update``, ``field_update``,
``field_category_add``/``_remove``, ``glossary_term_save``). PII review lives in ``apps.catalog.review``, owners and
stewards in ``apps.catalog.stewardship``, propagation in ``apps.catalog.propagation``.

Lineage intake and discovery both describe datasets; they call these services and never write catalog models
themselves, so every path records schema versions, diffs and breaking-change alerts the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.catalog.choices import CategorySource, PiiStatus, Platform, SuggestionStatus
from apps.catalog.models import (
    DataCategory,
    Dataset,
    Field,
    FieldCategory,
    GlossaryTerm,
    PiiSuggestion,
    RetentionPolicy,
    SchemaVersion,
)
from apps.catalog.stewardship import require_steward
from apps.common.errors import Conflict, NotFound
from apps.common.models import User

logger = structlog.get_logger(__name__)

MAX_NAME = 500


@dataclass(frozen=True)
class FieldSpec:
    """A field as a producer reports it (schema facet, profile)."""

    name: str
    data_type: str = ""
    nullable: bool = True
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.data_type, "nullable": self.nullable}


def platform_for(namespace: str) -> str:
    """The platform a namespace's scheme suggests (``s3://``, ``file://`` → lake; ``postgres://`` → database…)."""
    scheme = namespace.split("://", 1)[0].lower() if "://" in namespace else ""
    if scheme in ("file", "s3", "s3a", "gs", "abfss", "hdfs", "wasbs"):
        return Platform.LAKE
    if scheme in ("postgres", "postgresql", "mysql", "sqlserver", "oracle", "db2"):
        return Platform.DATABASE
    if scheme in ("bigquery", "snowflake", "redshift", "awsathena", "databricks", "hive", "trino"):
        return Platform.WAREHOUSE
    if scheme in ("kafka", "kinesis", "pubsub"):
        return Platform.STREAM
    return Platform.OTHER


def dataset_upsert(*, namespace: str, name: str, defaults: Mapping[str, Any] | None = None) -> tuple[Dataset, bool]:
    """The dataset (namespace, name), created on first sight; ``defaults`` only fill a new row.

    Safe under concurrency: a racing insert is caught by the identity constraint and the winner's row is returned.
    """
    namespace, name = namespace[:MAX_NAME], name[:MAX_NAME]
    found = Dataset.objects.filter(namespace=namespace, name=name).first()
    if found is not None:
        return found, False
    values = {"platform": platform_for(namespace), "location": f"{namespace.rstrip('/')}/{name}", "search_text": name}
    values.update(defaults or {})
    try:
        with transaction.atomic():
            return Dataset.objects.create(namespace=namespace, name=name, **values), True
    except IntegrityError:
        return Dataset.objects.get(namespace=namespace, name=name), False


def schema_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Added, removed and type-changed fields between two schema versions (nullability changes count as changes)."""
    before = {f["name"]: f for f in old}
    after = {f["name"]: f for f in new}
    changed = [
        {
            "name": name,
            "from": before[name].get("type", ""),
            "to": after[name].get("type", ""),
            **(
                {"nullable": [before[name].get("nullable"), after[name].get("nullable")]}
                if before[name].get("nullable") != after[name].get("nullable")
                else {}
            ),
        }
        for name in after
        if name in before
        and (
            before[name].get("type", "") != after[name].get("type", "")
            or before[name].get("nullable") != after[name].get("nullable")
        )
    ]
    return {
        "added": [name for name in after if name not in before],
        "removed": [name for name in before if name not in after],
        "changed": changed,
    }


def is_breaking(diff: Mapping[str, list[Any]]) -> bool:
    """Consumers break when a field disappears, changes type, or becomes nullable; an added field breaks nobody."""
    if diff.get("removed"):
        return True
    return any(c["from"] != c["to"] or c.get("nullable") == [False, True] for c in diff.get("changed", []))


def dataset_schema_apply(
    *,
    dataset: Dataset,
    fields: Iterable[FieldSpec],
    source: str = "",
    replace: bool = True,
    reported_at: datetime | None = None,
) -> SchemaVersion | None:
    """Bring the dataset's fields in line with a reported schema; a change becomes a new schema version.

    Fields are upserted by name (descriptions a steward wrote are kept when the producer sends none). With
    ``replace`` the schema is complete, so fields not reported become inactive; otherwise it only adds. A report
    observed before the newest one applied (``reported_at``: a late event of an earlier run) changes nothing, so it
    cannot bring back fields a newer schema dropped. A breaking change on a dataset that has downstream consumers
    raises ``SchemaBreakingChange`` through ``alert_raise``. Returns the new version, or None when nothing changed.
    """
    specs = list({spec.name: spec for spec in fields if spec.name}.values())
    new_fields = [spec.as_json() for spec in specs]
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if reported_at is not None:
            if locked.schema_reported_at is not None and reported_at < locked.schema_reported_at:
                return None
            Dataset.objects.filter(pk=locked.pk).update(schema_reported_at=reported_at)
        current = SchemaVersion.objects.filter(dataset=locked, version=locked.schema_version).first()
        old_fields = current.fields if current else []
        if not replace:
            reported = {f["name"] for f in new_fields}
            new_fields = [f for f in old_fields if f["name"] not in reported] + new_fields
            kept = [FieldSpec(f["name"], f["type"], f["nullable"]) for f in old_fields if f["name"] not in reported]
            specs = kept + specs
        existing = {f.name: f for f in Field.objects.filter(dataset=locked)}
        to_create, to_update = [], []
        for ordinal, spec in enumerate(specs, start=1):
            row = existing.get(spec.name)
            if row is None:
                to_create.append(
                    Field(
                        dataset=locked,
                        name=spec.name[:300],
                        data_type=spec.data_type[:200],
                        nullable=spec.nullable,
                        ordinal=ordinal,
                        description=spec.description,
                    )
                )
                continue
            changed = (row.data_type, row.nullable, row.ordinal, row.is_active) != (
                spec.data_type[:200],
                spec.nullable,
                ordinal,
                True,
            ) or (spec.description and spec.description != row.description)
            if changed:
                row.data_type, row.nullable, row.ordinal, row.is_active = (
                    spec.data_type[:200],
                    spec.nullable,
                    ordinal,
                    True,
                )
                row.description = spec.description or row.description
                to_update.append(row)
        reported_names = {spec.name for spec in specs}
        gone = [f.pk for name, f in existing.items() if name not in reported_names and f.is_active]
        Field.objects.bulk_create(to_create)
        if to_update:
            Field.objects.bulk_update(to_update, ["data_type", "nullable", "ordinal", "is_active", "description"])
        if gone:
            Field.objects.filter(pk__in=gone).update(is_active=False)
        diff = schema_diff(old_fields, new_fields)
        if current is not None and not any(diff.values()):
            return None
        version = SchemaVersion.objects.create(
            dataset=locked,
            version=locked.schema_version + 1,
            fields=new_fields,
            diff=diff
            if current is not None
            else {"added": [f["name"] for f in new_fields], "removed": [], "changed": []},
            is_breaking=current is not None and is_breaking(diff),
            source=source[:300],
        )
        locked.schema_version = version.version
        locked.search_text = dataset_search_text(locked)
        locked.save(update_fields=["schema_version", "search_text", "updated_at"])
        if version.is_breaking:
            _alert_breaking(locked, version)
    logger.info("catalog.schema_version", dataset=locked.qualified_name, version=version.version)
    return version


def dataset_search_text(dataset: Dataset) -> str:
    """What search matches a dataset by: its name, description, domain, tags, field names and glossary terms."""
    fields = Field.objects.filter(dataset=dataset, is_active=True)
    names = list(fields.values_list("name", flat=True))
    terms = list(fields.filter(glossary_terms__isnull=False).values_list("glossary_terms__name", flat=True).distinct())
    parts = [dataset.name.replace("/", " ").replace("_", " "), dataset.name, dataset.description, dataset.domain]
    parts += [str(tag) for tag in dataset.tags or []] + names + [n.replace("_", " ") for n in names] + terms
    return " ".join(p for p in parts if p)


def _alert_breaking(dataset: Dataset, version: SchemaVersion) -> None:
    from apps.incidents.services import alert_raise
    from apps.lineage.selectors import dataset_downstream_count

    consumers = dataset_downstream_count(dataset_id=dataset.pk)
    if not consumers:
        return
    alert_raise(
        source="catalog",
        name="SchemaBreakingChange",
        summary=f"Breaking schema change on {dataset.name} (v{version.version}) with {consumers} downstream datasets",
        dedup_key=f"catalog:schema:{dataset.public_id}:{version.version}",
        details={"dataset": dataset.qualified_name, "version": version.version, "diff": version.diff},
        labels={"dataset": dataset.name[:200], "namespace": dataset.namespace[:200]},
    )


def dataset_statistics_update(
    *,
    dataset: Dataset,
    row_count: int | None = None,
    size_bytes: int | None = None,
    file_count: int | None = None,
    profiled_at: datetime | None = None,
    modified_at: datetime | None = None,
) -> None:
    """Record size and freshness reported by a job (output statistics) or a profile; unknown values stay."""
    values: dict[str, Any] = {}
    if row_count is not None:
        values["row_count"] = row_count
    if size_bytes is not None:
        values["size_bytes"] = size_bytes
    if file_count is not None:
        values["file_count"] = file_count
    if profiled_at is not None:
        values["last_profiled_at"] = profiled_at
    if modified_at is not None:
        values["last_modified_at"] = modified_at
    if values:
        values["updated_at"] = timezone.now()
        Dataset.objects.filter(pk=dataset.pk).update(**values)


# --- personal-data status -----------------------------------------------------------------------------------------

PERSONAL_ROOT = "user"


def fields_pii_status_refresh(*, field_ids: Iterable[int]) -> None:
    """Recompute ``pii_status`` of the datasets these fields belong to (after their categories changed)."""
    ids = set(field_ids)
    if ids:
        dataset_pii_status_refresh(
            dataset_ids=set(Field.objects.filter(pk__in=ids).values_list("dataset_id", flat=True))
        )


def dataset_pii_status_refresh(*, dataset_ids: Iterable[int]) -> None:
    """Recompute ``pii_status`` of these datasets: confirmed when an active field carries a ``user.*`` category,
    suggested when suggestions wait, none once scanned without either, unknown before any scan."""
    ids = sorted(set(dataset_ids))
    if not ids:
        return
    personal = set(
        FieldCategory.objects.filter(
            field__dataset_id__in=ids,
            field__is_active=True,
            category__key__startswith=PERSONAL_ROOT + ".",
        ).values_list("field__dataset_id", flat=True)
    )
    pending = set(
        PiiSuggestion.objects.filter(field__dataset_id__in=ids, status=SuggestionStatus.PENDING).values_list(
            "field__dataset_id", flat=True
        )
    )
    for dataset_id, scanned_at, status in Dataset.objects.filter(pk__in=ids).values_list(
        "pk", "last_pii_scan_at", "pii_status"
    ):
        if dataset_id in personal:
            wanted = PiiStatus.CONFIRMED
        elif dataset_id in pending:
            wanted = PiiStatus.SUGGESTED
        elif scanned_at is not None:
            wanted = PiiStatus.NONE
        else:
            wanted = PiiStatus.UNKNOWN
        if wanted != status:
            Dataset.objects.filter(pk=dataset_id).update(pii_status=wanted)


# --- stewards' edits ----------------------------------------------------------------------------------------------

DATASET_EDITABLE = ("description", "domain", "tags", "classification", "retention_policy", "freshness_sla_hours")
FIELD_EDITABLE = ("description", "identity_kind", "is_primary_key")


def dataset_update(*, dataset: Dataset, actor: User | None, **changes: Any) -> Dataset:
    """Change a dataset's steward-kept metadata (description, domain, tags, classification, retention, freshness).

    Only the dataset's stewards, owners and administrators may; the change is audited by the capture trigger and
    the search text follows.
    """
    unknown = sorted(set(changes) - set(DATASET_EDITABLE))
    if unknown:
        raise ValueError(f"not editable: {', '.join(unknown)}")
    if actor is not None:
        require_steward(user=actor, dataset=dataset)
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if "retention_policy" in changes and not (
            changes["retention_policy"] is None or isinstance(changes["retention_policy"], RetentionPolicy)
        ):
            raise NotFound("No such retention policy.", fields={"retention_policy": ["unknown"]})
        if "tags" in changes:
            changes["tags"] = sorted({str(t).strip()[:100] for t in changes["tags"] or [] if str(t).strip()})
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.search_text = dataset_search_text(locked)
        locked.save(update_fields=[*changes, "search_text", "updated_at"])
    return locked


def field_update(
    *, field: Field, actor: User | None, glossary_terms: Iterable[GlossaryTerm] | None = None, **changes: Any
) -> Field:
    """Change a field's description, identity kind, primary-key flag or glossary terms (stewards of its dataset)."""
    unknown = sorted(set(changes) - set(FIELD_EDITABLE))
    if unknown:
        raise ValueError(f"not editable: {', '.join(unknown)}")
    if actor is not None:
        require_steward(user=actor, dataset=field.dataset)
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=field.dataset_id).first()
        for name, value in changes.items():
            setattr(field, name, value)
        if changes:
            field.save(update_fields=list(changes))
        if glossary_terms is not None:
            field.glossary_terms.set(list(glossary_terms))
            _search_text_refresh(dataset_ids=[field.dataset_id])
    return field


def field_category_add(*, field: Field, category: DataCategory, actor: User | None) -> FieldCategory:
    """Put a data category on a field by hand; it propagates downstream along column lineage."""
    from apps.catalog.propagation import propagate_origins

    if actor is not None:
        require_steward(user=actor, dataset=field.dataset)
    with transaction.atomic():
        Field.objects.select_for_update().filter(pk=field.pk).first()
        link, created = FieldCategory.objects.get_or_create(
            field=field,
            category=category,
            inherited_from=None,
            defaults={"source": CategorySource.MANUAL, "created_by": actor},
        )
        if not created:
            raise Conflict(f"{field} already carries {category.key}.", code="category_present")
        _supersede_covered_suggestions(field=field, category=category)
        propagate_origins(origin_ids=[link.pk])
        dataset_pii_status_refresh(dataset_ids=[field.dataset_id])
    return link


def field_category_remove(*, field: Field, category: DataCategory, actor: User | None) -> int:
    """Take a category a field holds in its own right off it; what it passed downstream goes with it."""
    if actor is not None:
        require_steward(user=actor, dataset=field.dataset)
    with transaction.atomic():
        Field.objects.select_for_update().filter(pk=field.pk).first()
        own = FieldCategory.objects.filter(field=field, category=category, inherited_from__isnull=True).first()
        if own is None:
            raise NotFound(f"{field} does not carry {category.key} in its own right.", code="category_absent")
        reached = set(own.inherited.values_list("field_id", flat=True))
        own.delete()  # inherited rows follow by CASCADE
        if own.source == CategorySource.SUGGESTION:
            # Taking back an accepted suggestion is a rejection of its evidence: the next scan must not offer it again.
            PiiSuggestion.objects.filter(field=field, category=category, status=SuggestionStatus.ACCEPTED).update(
                status=SuggestionStatus.REJECTED,
                reviewed_by=actor,
                reviewed_at=timezone.now(),
                review_note="The category was removed from the field after it had been accepted.",
            )
        fields_pii_status_refresh(field_ids=reached | {field.pk})
    return 1


def _supersede_covered_suggestions(*, field: Field, category: DataCategory) -> None:
    """Pending suggestions the field's new category already answers need no decision any more."""
    from apps.catalog.selectors import category_covers

    pending = PiiSuggestion.objects.filter(field=field, status=SuggestionStatus.PENDING).select_related("category")
    covered = [s.pk for s in pending if category_covers(category.key, s.category.key)]
    if covered:
        PiiSuggestion.objects.filter(pk__in=covered).update(status=SuggestionStatus.SUPERSEDED)


def glossary_term_save(
    *, term: GlossaryTerm | None, name: str, definition: str, owner: User | None = None
) -> GlossaryTerm:
    """Create or rename/redefine a glossary term; datasets whose fields hold it are found by the new name."""
    with transaction.atomic():
        if term is None:
            return GlossaryTerm.objects.create(name=name, definition=definition, owner=owner)
        renamed = term.name != name
        term.name, term.definition = name, definition
        if owner is not None:
            term.owner = owner
        term.save()
        if renamed:
            _search_text_refresh(
                dataset_ids=set(Field.objects.filter(glossary_terms=term).values_list("dataset_id", flat=True))
            )
    return term


def _search_text_refresh(*, dataset_ids: Iterable[int]) -> None:
    for dataset in Dataset.objects.filter(pk__in=set(dataset_ids)):
        text = dataset_search_text(dataset)
        if text != dataset.search_text:
            Dataset.objects.filter(pk=dataset.pk).update(search_text=text)


def dataset_search_text_refresh(*, dataset: Dataset) -> None:
    """Re-derive one dataset's search text (after edits that bypass the services, e.g. the admin's inlines)."""
    _search_text_refresh(dataset_ids=[dataset.pk])
