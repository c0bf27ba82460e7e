"""Reads of lineage. The public surface for other apps (``lineage_graph`` and ``graph_root`` come from
``apps.lineage.graph``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from apps.lineage.choices import TAG_CARRYING_SUBTYPES, TransformationType
from apps.lineage.graph import GraphRoot, dataset_owners, graph_root, lineage_graph, lineage_graph_rows
from apps.lineage.models import DatasetEdge, FieldEdge, Job, JobDataset, LineageEvent, Run, RunDataset

__all__ = [
    "GraphRoot",
    "dataset_downstream_count",
    "dataset_owners",
    "event_list",
    "field_edges_carrying_tags",
    "graph_root",
    "job_list",
    "lineage_graph",
    "lineage_graph_rows",
    "run_list",
]


def job_list() -> QuerySet[Job]:
    """Jobs with their latest run and what they currently read and write (datasets prefetched)."""
    io = JobDataset.objects.select_related("dataset").order_by("direction", "dataset__namespace", "dataset__name")
    return Job.objects.select_related("latest_run").prefetch_related(Prefetch("io", queryset=io))


def run_list() -> QuerySet[Run]:
    """Runs with their job and the datasets each read and wrote, newest first."""
    io = RunDataset.objects.select_related("dataset").order_by("direction", "dataset__namespace", "dataset__name")
    return (
        Run.objects.select_related("job").prefetch_related(Prefetch("io", queryset=io)).order_by("-started_at", "-pk")
    )


def event_list() -> QuerySet[LineageEvent]:
    """Stored events as received, newest first."""
    return LineageEvent.objects.select_related("submitted_by").order_by("-received_at", "-pk")


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


def dataset_neighbours(*, dataset_ids: Iterable[int], direction: str, hops: int) -> dict[int, int]:
    """The datasets reached from ``dataset_ids`` along the current edges, ``upstream`` (what they are built from) or
    ``downstream`` (what is built from them), up to ``hops`` hops: {dataset id: nearest hop}; the start is left out."""
    near, far = ("target_id", "source_id") if direction == "upstream" else ("source_id", "target_id")
    start = set(dataset_ids)
    seen: dict[int, int] = {}
    frontier = set(start)
    for hop in range(1, hops + 1):
        reached = set(DatasetEdge.objects.filter(**{f"{near}__in": frontier}).values_list(far, flat=True))
        reached -= set(seen) | start
        if not reached:
            break
        seen.update(dict.fromkeys(reached, hop))
        frontier = reached
    return seen
