"""Writes to the catalog. The public surface for other apps: ``dataset_upsert``, ``dataset_schema_apply``,
``dataset_statistics_update``.

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

from apps.catalog.choices import Platform
from apps.catalog.models import Dataset, Field, SchemaVersion

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
    *, dataset: Dataset, fields: Iterable[FieldSpec], source: str = "", replace: bool = True
) -> SchemaVersion | None:
    """Bring the dataset's fields in line with a reported schema; a change becomes a new schema version.

    Fields are upserted by name (descriptions a steward wrote are kept when the producer sends none). With
    ``replace`` the schema is complete, so fields not reported become inactive; otherwise it only adds. A breaking
    change on a dataset that has downstream consumers raises ``SchemaBreakingChange`` through ``alert_raise``.
    Returns the new version, or None when nothing changed.
    """
    specs = list({spec.name: spec for spec in fields if spec.name}.values())
    new_fields = [spec.as_json() for spec in specs]
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
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
