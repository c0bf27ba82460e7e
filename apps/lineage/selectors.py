"""Reads of lineage. The public surface for other apps."""

from __future__ import annotations

from collections.abc import Iterable

from apps.lineage.choices import TAG_CARRYING_SUBTYPES, TransformationType
from apps.lineage.models import DatasetEdge, FieldEdge


def dataset_downstream_count(*, dataset_id: int) -> int:
    """How many datasets read this one directly (its consumers, one hop)."""
    return DatasetEdge.objects.filter(source_id=dataset_id).values("target_id").distinct().count()


def field_edges_carrying_tags(*, source_field_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(source field id, target field id) of the current field edges that carry data categories downstream: direct
    identity or transformation edges, never masking or aggregating ones (see ``FieldEdge.carries_tags``)."""
    ids = list(source_field_ids)
    if not ids:
        return []
    rows = FieldEdge.objects.filter(
        source_id__in=ids,
        transformation_type=TransformationType.DIRECT,
        transformation_subtype__in=TAG_CARRYING_SUBTYPES,
        masking=False,
    ).values_list("source_id", "target_id")
    return sorted(set(rows))
