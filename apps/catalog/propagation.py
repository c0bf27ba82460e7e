"""Data categories flow downstream along column lineage. Part of the public surface: the lineage app calls
``propagate_from_fields`` after new field edges commit (and after edges disappear).

An *origin* is a category a field carries in its own right (set by hand or accepted from a suggestion). Each origin
reaches every field downstream through edges that carry tags (``apps.lineage.selectors.field_edges_carrying_tags``:
direct identity or transformation edges, never masking or aggregation), and each field reached holds one inherited
row per origin (``source=propagated``, ``inherited_from`` = the origin, ``hops`` = the shortest distance).

Propagation recomputes whole origins: the set of fields an origin should reach now is computed breadth-first, one
query per hop for all origins together, and compared with the rows it has; missing rows are inserted, rows whose
edge disappeared are deleted, distances are corrected. Cycles end because a field is visited once per origin; the
origin's own field never inherits from itself. Removing an origin removes its inherited rows (``CASCADE``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import structlog
from django.db import transaction
from django.db.models import Q

from apps.catalog.choices import CategorySource
from apps.catalog.models import FieldCategory
from apps.catalog.services import fields_pii_status_refresh

logger = structlog.get_logger(__name__)

MAX_HOPS = 64  # a guard against pathological graphs; real pipelines are a few hops deep
BATCH = 1000


def _origins_for_fields(field_ids: list[int]) -> set[int]:
    """The origins to recompute: categories the fields hold in their own right, and origins they inherit from."""
    rows = FieldCategory.objects.filter(field_id__in=field_ids).values_list("pk", "inherited_from_id")
    return {inherited or pk for pk, inherited in rows}


def _reach(origins: dict[int, int]) -> dict[int, dict[int, int]]:
    """For each origin (id → its field id), every field downstream of it with the shortest hop count."""
    from apps.lineage.selectors import field_edges_carrying_tags

    reached: dict[int, dict[int, int]] = {origin: {} for origin in origins}
    visited: dict[int, set[int]] = {origin: {field} for origin, field in origins.items()}
    frontier: dict[int, set[int]] = {origin: {field} for origin, field in origins.items()}
    hops = 0
    while frontier and hops < MAX_HOPS:
        hops += 1
        sources = sorted({field for fields in frontier.values() for field in fields})
        downstream: dict[int, set[int]] = defaultdict(set)
        for start in range(0, len(sources), BATCH):
            for source, target in field_edges_carrying_tags(source_field_ids=sources[start : start + BATCH]):
                downstream[source].add(target)
        next_frontier: dict[int, set[int]] = {}
        for origin, fields in frontier.items():
            new = {t for f in fields for t in downstream.get(f, ())} - visited[origin]
            if new:
                visited[origin] |= new
                for target in new:
                    reached[origin][target] = hops
                next_frontier[origin] = new
        frontier = next_frontier
    if frontier:
        logger.warning("catalog.propagation_depth_limit", origins=len(frontier), max_hops=MAX_HOPS)
    return reached


def _recompute(origin_ids: set[int]) -> tuple[int, set[int]]:
    """Bring the inherited rows of these origins in line with the current graph; returns how many rows were
    inserted or deleted, and the fields whose rows changed."""
    origins = dict(
        FieldCategory.objects.filter(pk__in=origin_ids, inherited_from__isnull=True).values_list("pk", "field_id")
    )
    categories = dict(FieldCategory.objects.filter(pk__in=origins).values_list("pk", "category_id"))
    wanted = _reach(origins)
    existing: dict[tuple[int, int], tuple[int, int]] = {
        (origin, field): (pk, hops)
        for pk, origin, field, hops in FieldCategory.objects.filter(inherited_from_id__in=origin_ids).values_list(
            "pk", "inherited_from_id", "field_id", "hops"
        )
    }
    wanted_pairs = {(origin, field): hops for origin, fields in wanted.items() for field, hops in fields.items()}
    stale = [pk for pair, (pk, _) in existing.items() if pair not in wanted_pairs]
    moved = [
        FieldCategory(pk=existing[pair][0], hops=hops)
        for pair, hops in wanted_pairs.items()
        if pair in existing and existing[pair][1] != hops
    ]
    new = [
        FieldCategory(
            field_id=field,
            category_id=categories[origin],
            source=CategorySource.PROPAGATED,
            inherited_from_id=origin,
            hops=hops,
        )
        for (origin, field), hops in wanted_pairs.items()
        if (origin, field) not in existing
    ]
    for start in range(0, len(stale), BATCH):
        FieldCategory.objects.filter(pk__in=stale[start : start + BATCH]).delete()
    if moved:
        FieldCategory.objects.bulk_update(moved, ["hops"], batch_size=BATCH)
    # A concurrent recompute may have inserted the same rows; the unique constraint makes the second insert a no-op.
    FieldCategory.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
    gone = set(stale)
    touched = {field for (_, field), (pk, _) in existing.items() if pk in gone} | {row.field_id for row in new}
    return len(new) + len(stale), touched


def propagate_from_fields(*, field_ids: Iterable[int]) -> int:
    """Recompute the inherited categories downstream of these fields (their own categories and those they inherit);
    returns how many inherited rows were added or removed."""
    ids = sorted(set(field_ids))
    if not ids:
        return 0
    with transaction.atomic():
        origins = set()
        for start in range(0, len(ids), BATCH):
            origins |= _origins_for_fields(ids[start : start + BATCH])
        # Fields that lost an edge may hold inherited rows whose origin is upstream: the origin is in the set above.
        changed, touched = _recompute(origins) if origins else (0, set())
        fields_pii_status_refresh(field_ids=touched)
    logger.info("catalog.propagated", fields=len(ids), origins=len(origins), changed=changed)
    return changed


def propagate_origins(*, origin_ids: Iterable[int]) -> int:
    """Recompute the inherited rows of the given origin rows (after one was created or accepted)."""
    ids = set(origin_ids)
    if not ids:
        return 0
    with transaction.atomic():
        changed, touched = _recompute(ids)
        fields_pii_status_refresh(field_ids=touched)
    return changed


def propagation_recompute_all() -> int:
    """Recompute every origin (the daily safety net for edges removed without a call)."""
    ids = list(
        FieldCategory.objects.filter(inherited_from__isnull=True)
        .filter(~Q(source=CategorySource.PROPAGATED))
        .values_list("pk", flat=True)
    )
    changed = 0
    for start in range(0, len(ids), BATCH):
        changed += propagate_origins(origin_ids=ids[start : start + BATCH])
    # Inherited rows whose origin is gone are removed by CASCADE; nothing else can be orphaned.
    return changed
