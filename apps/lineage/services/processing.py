"""Applying one stored OpenLineage event: the job and run, the catalog's datasets and fields (only through the
catalog's services), what the job reads and writes, and the current dataset and column graph.

How the graph stays *current* (not a history):

- Every job keeps ``io_event_time``, the event time of the complete run that last defined what it reads and writes.
- A COMPLETE event at or after that time *replaces* the job's inputs and outputs, its dataset edges (every input x
  every output, plus the dataset pairs its column lineage names) and the column edges into its outputs: edges the
  new run no longer reports are deleted. Column edges are replaced per output that carries a ``columnLineage``
  facet; column edges into datasets the job no longer writes go with their dataset edge.
- Any other event at or after that time (START, RUNNING, FAIL, ABORT, OTHER, a JobEvent) only *adds*: a START may
  list what the run will touch before it knows everything.
- An event older than that time (a late event of an earlier run) updates its run and the catalog but never the graph,
  so a late COMPLETE of an old run cannot bring back edges a newer run dropped.
- A DatasetEvent's column lineage replaces the job-less column and dataset edges into its dataset.
- Dataset edges into an output come from its ``columnLineage`` facet when it has one (the datasets it names, through
  direct or indirect transformations), so a job that reads five datasets and writes five does not claim every
  pairing; an output without the facet is fed by every input of the run.

Schemas: an output's ``schema`` facet is the complete schema (fields not reported become inactive); an input's only
adds fields (a reader may report a projection). OpenLineage carries no nullability, so a known field keeps the
nullability the catalog has (a profile may have measured it); new fields are nullable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.catalog.models import Dataset, Field
from apps.catalog.services import FieldSpec, dataset_schema_apply, dataset_statistics_update, dataset_upsert
from apps.lineage.choices import FINAL_RUN_STATES, Direction, EventKind, RunState, TransformationType
from apps.lineage.ingest import parse_time
from apps.lineage.models import DatasetEdge, FieldEdge, Job, JobDataset, LineageEvent, Run, RunDataset

EdgeKey = tuple[int, int, str, str]  # source field id, target field id, transformation type, subtype


@dataclass
class ColumnLineage:
    """Column edges an event reports: per edge its description and masking, the datasets whose column lineage was
    reported (their edges are replaced), and the dataset pairs the column lineage implies."""

    edges: dict[EdgeKey, tuple[str, bool]] = field(default_factory=dict)
    targets: set[int] = field(default_factory=set)
    dataset_pairs: set[tuple[int, int]] = field(default_factory=set)


def event_apply(*, event: LineageEvent) -> set[int]:
    """Apply a stored event; returns the source field ids of column edges that were added, changed or removed."""
    payload = event.payload
    if event.kind == EventKind.DATASET:
        return _apply_dataset_event(event, payload)
    job = _job_upsert(payload.get("job") or {}, event.event_time)
    run = _run_upsert(job, event, payload) if event.kind == EventKind.RUN else None
    source = f"openlineage:{run.run_id}" if run is not None else f"openlineage:{job}"
    graph_current = job.io_event_time is None or event.event_time >= job.io_event_time
    replace = graph_current and event.kind == EventKind.RUN and event.event_type == RunState.COMPLETE
    resolver = _Resolver(event.event_time, source)
    inputs = [resolver.dataset(raw) for raw in _list(payload.get("inputs"))]
    outputs = [resolver.dataset(raw) for raw in _list(payload.get("outputs"))]
    for raw, dataset in zip(_list(payload.get("inputs")), inputs, strict=True):
        resolver.schema(dataset, _facet(raw, "facets", "schema"), replace=False)
    for raw, dataset in zip(_list(payload.get("outputs")), outputs, strict=True):
        if graph_current:  # a late event of an earlier run must not bring back an older schema
            resolver.schema(dataset, _facet(raw, "facets", "schema"), replace=True)
        statistics = _facet(raw, "outputFacets", "outputStatistics")
        completed = event.kind == EventKind.RUN and event.event_type == RunState.COMPLETE
        _statistics(dataset, statistics, event.event_time, completed=completed)
    columns = ColumnLineage()
    for raw, dataset in zip(_list(payload.get("outputs")), outputs, strict=True):
        resolver.column_lineage(dataset, _facet(raw, "facets", "columnLineage"), columns)
    if run is not None:
        _run_io(run, inputs, outputs)
    if not graph_current:
        return set()
    if replace:
        job.io_event_time = event.event_time
        job.save(update_fields=["io_event_time", "updated_at"])
    _job_io_sync(job, run, event.event_time, inputs, outputs, replace=replace)
    # An output whose column lineage the producer describes is fed by the datasets that description names (directly
    # or indirectly: joins, filters); the others by every input of the run, all OpenLineage says about them.
    pairs = {(i.pk, o.pk) for i in inputs for o in outputs if o.pk not in columns.targets} | columns.dataset_pairs
    _dataset_edges_sync(Q(job=job), job, pairs, event.event_time, replace=replace)
    scope = Q(job=job) if replace else Q(job=job, target__dataset_id__in=columns.targets)
    drop_scope = (~Q(target__dataset_id__in=[o.pk for o in outputs]) | Q(target__dataset_id__in=columns.targets)) & Q(
        job=job
    )
    return _field_edges_sync(scope, job, columns, event.event_time, delete=drop_scope if replace else None)


def _apply_dataset_event(event: LineageEvent, payload: dict[str, Any]) -> set[int]:
    raw = payload.get("dataset") or {}
    resolver = _Resolver(event.event_time, f"openlineage:{event.producer}"[:300])
    dataset = resolver.dataset(raw)
    resolver.schema(dataset, _facet(raw, "facets", "schema"), replace=True)
    columns = ColumnLineage()
    resolver.column_lineage(dataset, _facet(raw, "facets", "columnLineage"), columns)
    if not columns.targets:
        return set()
    _dataset_edges_sync(
        Q(job__isnull=True, target=dataset), None, columns.dataset_pairs, event.event_time, replace=True
    )
    scope = Q(job__isnull=True, target__dataset=dataset)
    return _field_edges_sync(scope, None, columns, event.event_time, delete=scope)


# --- jobs and runs ----------------------------------------------------------------------------------------------
def _job_upsert(raw: dict[str, Any], event_time: datetime) -> Job:
    """The job (namespace, name), locked for the rest of the transaction so a job's events apply one at a time."""
    namespace, name = str(raw.get("namespace", ""))[:500], str(raw.get("name", ""))[:500]
    job = Job.objects.select_for_update().filter(namespace=namespace, name=name).first()
    if job is None:
        try:
            with transaction.atomic():
                job = Job.objects.create(namespace=namespace, name=name)
        except IntegrityError:
            pass
        job = Job.objects.select_for_update().get(namespace=namespace, name=name)
    facets = _dict(raw.get("facets"))
    if facets:
        job_type = _dict(facets.get("jobType"))
        kind = "/".join(str(job_type[k]) for k in ("processingType", "integration", "jobType") if job_type.get(k))
        description = _dict(facets.get("documentation")).get("description")
        merged = {**job.facets, **facets}
        changed = merged != job.facets
        if kind and kind[:50] != job.job_type:
            job.job_type, changed = kind[:50], True
        if isinstance(description, str) and description != job.description:
            job.description, changed = description, True
        if changed:
            job.facets = merged
            job.save(update_fields=["facets", "job_type", "description", "updated_at"])
    return job


def _outranks(new: str, new_time: datetime, current: str, current_time: datetime | None) -> bool:
    """Whether an event's state replaces the run's: a final state beats a running one whatever the order of
    arrival (a late START never regresses a COMPLETE run), and among equals the later event wins. OTHER carries
    metadata and never changes the state."""
    if new == RunState.OTHER:
        return current == RunState.OTHER
    if current == RunState.OTHER or current_time is None:
        return True
    new_final, current_final = new in FINAL_RUN_STATES, current in FINAL_RUN_STATES
    if new_final != current_final:
        return new_final
    return new_time >= current_time


def _run_upsert(job: Job, event: LineageEvent, payload: dict[str, Any]) -> Run:
    raw = _dict(payload.get("run"))
    facets = _dict(raw.get("facets"))
    state = event.event_type or RunState.OTHER
    at = event.event_time
    if event.run_id is None:  # validation guarantees a run id on run events
        raise ValueError("a run event without a run id")
    run = Run.objects.select_for_update().filter(run_id=event.run_id).first()
    if run is None:
        run = Run(run_id=event.run_id, job=job, state=state, state_time=at, started_at=at, last_event_time=at)
    else:
        run.started_at = min(run.started_at, at) if run.started_at else at
        run.last_event_time = max(run.last_event_time, at) if run.last_event_time else at
        if _outranks(state, at, run.state, run.state_time):
            run.state, run.state_time = state, at
    if run.state in FINAL_RUN_STATES and run.state_time is not None:
        run.ended_at = run.state_time
    nominal = _dict(facets.get("nominalTime"))
    run.nominal_start = parse_time(nominal.get("nominalStartTime")) or run.nominal_start
    run.nominal_end = parse_time(nominal.get("nominalEndTime")) or run.nominal_end
    parent = _dict(_dict(facets.get("parent")).get("run")).get("runId")
    if isinstance(parent, str):
        run.parent_run_id = _uuid(parent) or run.parent_run_id
    message = _dict(facets.get("errorMessage")).get("message")
    if isinstance(message, str) and message:
        run.error_message = message[:10_000]
    run.facets = {**run.facets, **facets}
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:  # the run was created concurrently by an event naming another job: merge into it
        return _run_upsert(job, event, payload)
    latest = job.latest_run
    newer = latest is None or (run.started_at and latest.started_at and run.started_at >= latest.started_at)
    if newer and job.latest_run_id != run.pk:
        job.latest_run = run
        job.save(update_fields=["latest_run", "updated_at"])
    return run


def _run_io(run: Run, inputs: list[Dataset], outputs: list[Dataset]) -> None:
    rows = {(d.pk, Direction.INPUT) for d in inputs} | {(d.pk, Direction.OUTPUT) for d in outputs}
    if rows:
        RunDataset.objects.bulk_create(
            [RunDataset(run=run, dataset_id=pk, direction=direction) for pk, direction in sorted(rows)],
            ignore_conflicts=True,
        )


def _job_io_sync(
    job: Job, run: Run | None, at: datetime, inputs: list[Dataset], outputs: list[Dataset], *, replace: bool
) -> None:
    wanted = {(d.pk, Direction.INPUT) for d in inputs} | {(d.pk, Direction.OUTPUT) for d in outputs}
    existing = {(row.dataset_id, row.direction): row for row in JobDataset.objects.filter(job=job)}
    JobDataset.objects.bulk_create(
        [
            JobDataset(job=job, dataset_id=pk, direction=direction, last_run=run, last_seen=at)
            for pk, direction in sorted(wanted - existing.keys())
        ]
    )
    stale = [row for key, row in existing.items() if key in wanted and row.last_seen < at]
    for row in stale:
        row.last_seen, row.last_run = at, run or row.last_run
    if stale:
        JobDataset.objects.bulk_update(stale, ["last_seen", "last_run"])
    if replace:
        gone = [row.pk for key, row in existing.items() if key not in wanted]
        if gone:
            JobDataset.objects.filter(pk__in=gone).delete()


def _dataset_edges_sync(scope: Q, job: Job | None, pairs: set[tuple[int, int]], at: datetime, *, replace: bool) -> None:
    existing = {(e.source_id, e.target_id): e for e in DatasetEdge.objects.filter(scope)}
    DatasetEdge.objects.bulk_create(
        [DatasetEdge(source_id=s, target_id=t, job=job, last_seen=at) for s, t in sorted(pairs - existing.keys())],
        ignore_conflicts=True,
    )
    stale = [edge for key, edge in existing.items() if key in pairs and edge.last_seen < at]
    for edge in stale:
        edge.last_seen = at
    if stale:
        DatasetEdge.objects.bulk_update(stale, ["last_seen"])
    if replace:
        gone = [edge.pk for key, edge in existing.items() if key not in pairs]
        if gone:
            DatasetEdge.objects.filter(pk__in=gone).delete()


def _field_edges_sync(scope: Q, job: Job | None, columns: ColumnLineage, at: datetime, *, delete: Q | None) -> set[int]:
    """Make the column edges in ``scope`` match what was reported; edges outside the reported ones are deleted only
    within ``delete``. Returns the source field ids of edges added, changed or removed."""
    touched: set[int] = set()
    existing = {
        (e.source_id, e.target_id, e.transformation_type, e.transformation_subtype): e
        for e in FieldEdge.objects.filter(scope)
    }
    if delete is not None:  # before adding, so the edges about to be added are not mistaken for stale ones
        kept = [edge.pk for key, edge in existing.items() if key in columns.edges]
        gone = list(FieldEdge.objects.filter(delete).exclude(pk__in=kept).values_list("pk", "source_id"))
        if gone:
            FieldEdge.objects.filter(pk__in=[pk for pk, _ in gone]).delete()
            touched.update(source for _, source in gone)
    new = [
        FieldEdge(
            source_id=key[0],
            target_id=key[1],
            job=job,
            transformation_type=key[2],
            transformation_subtype=key[3],
            description=description,
            masking=masking,
            last_seen=at,
        )
        for key, (description, masking) in sorted(columns.edges.items())
        if key not in existing
    ]
    FieldEdge.objects.bulk_create(new, ignore_conflicts=True)
    touched.update(edge.source_id for edge in new)
    changed = []
    for key, (description, masking) in columns.edges.items():
        edge = existing.get(key)
        if edge is None:
            continue
        if (edge.description, edge.masking) != (description, masking):
            edge.description, edge.masking = description, masking
            touched.add(edge.source_id)
            changed.append(edge)
        elif edge.last_seen < at:
            changed.append(edge)
        edge.last_seen = max(edge.last_seen, at)
    if changed:
        FieldEdge.objects.bulk_update(changed, ["description", "masking", "last_seen"])
    return touched


# --- datasets, schemas, statistics and column lineage (through the catalog's services) ------------------------
class _Resolver:
    """Catalog datasets and fields named by one event, each looked up once."""

    def __init__(self, at: datetime, source: str) -> None:
        self.at, self.source = at, source[:300]
        self.datasets: dict[tuple[str, str], Dataset] = {}

    def dataset(self, raw: dict[str, Any]) -> Dataset:
        return self.named(str(raw.get("namespace", "")), str(raw.get("name", "")), raw)

    def named(self, namespace: str, name: str, raw: dict[str, Any] | None = None) -> Dataset:
        key = (namespace, name)
        if key not in self.datasets:
            defaults: dict[str, Any] = {}
            description = _dict(_dict((raw or {}).get("facets")).get("documentation")).get("description")
            if isinstance(description, str):
                defaults["description"] = description
            self.datasets[key], _ = dataset_upsert(namespace=namespace, name=name, defaults=defaults)
        return self.datasets[key]

    def schema(self, dataset: Dataset, facet: dict[str, Any], *, replace: bool) -> None:
        reported = [f for f in _list(facet.get("fields")) if isinstance(f.get("name"), str) and f["name"]]
        if not reported:
            return
        known = dict(Field.objects.filter(dataset=dataset).values_list("name", "nullable"))
        specs = [
            FieldSpec(
                name=f["name"][:300],
                data_type=str(f.get("type") or "")[:200],
                nullable=known.get(f["name"][:300], True),
                description=str(f.get("description") or ""),
            )
            for f in reported
        ]
        dataset_schema_apply(dataset=dataset, fields=specs, source=self.source, replace=replace, reported_at=self.at)

    def column_lineage(self, target: Dataset, facet: dict[str, Any], out: ColumnLineage) -> None:
        """Column edges of a ``columnLineage`` facet (per-field ``inputFields`` and the dataset-wide ``dataset``
        list, which feeds every output field); fields it names that the catalog lacks are added to their dataset."""
        fields = _dict(facet.get("fields"))
        if not facet:
            return
        out.targets.add(target.pk)
        wanted: list[tuple[Dataset, str, Dataset, str, str, str, str, bool]] = []
        for out_field, spec in fields.items():
            spec = _dict(spec)
            fallback = _legacy_transformation(spec)
            for item in _list(spec.get("inputFields")):
                source = self._source(item)
                if source is not None:
                    for kind, subtype, description, masking in _transformations(item, fallback):
                        wanted.append((source[0], source[1], target, out_field, kind, subtype, description, masking))
        dataset_wide = [(self._source(item), item) for item in _list(facet.get("dataset"))]
        if any(source for source, _ in dataset_wide):
            out_fields = set(fields) | set(
                Field.objects.filter(dataset=target, is_active=True).values_list("name", flat=True)
            )
            for source, item in dataset_wide:
                if source is None:
                    continue
                source_ds, source_field = source
                wanted.extend(
                    (source_ds, source_field, target, out_field, kind, subtype, description, masking)
                    for kind, subtype, description, masking in _transformations(item, None)
                    for out_field in sorted(out_fields)
                )
        if not wanted:
            return
        ids = self.field_ids({(w[0], w[1]) for w in wanted} | {(w[2], w[3]) for w in wanted})
        for source_ds, source_field, target_ds, target_field, kind, subtype, description, masking in wanted:
            key = (ids[(source_ds.pk, source_field)], ids[(target_ds.pk, target_field)], kind, subtype)
            out.edges[key] = (description, masking)
            if source_ds.pk != target_ds.pk:
                out.dataset_pairs.add((source_ds.pk, target_ds.pk))

    def _source(self, item: Any) -> tuple[Dataset, str] | None:
        item = _dict(item)
        namespace, name, column = item.get("namespace"), item.get("name"), item.get("field")
        if not all(isinstance(v, str) and v for v in (namespace, name, column)):
            return None
        return self.named(str(namespace)[:500], str(name)[:500]), str(column)[:300]

    def field_ids(self, wanted: Iterable[tuple[Dataset, str]]) -> dict[tuple[int, str], int]:
        """Catalog field ids for (dataset, field name); unknown fields are added to their dataset's schema."""
        wanted = list(wanted)
        dataset_ids = {d.pk for d, _ in wanted}
        ids = {(ds, name): pk for pk, ds, name in Field.objects.filter(dataset_id__in=dataset_ids).values_list(
            "pk", "dataset_id", "name"
        )}  # fmt: skip
        missing: dict[int, tuple[Dataset, set[str]]] = {}
        for dataset, name in wanted:
            if (dataset.pk, name) not in ids:
                missing.setdefault(dataset.pk, (dataset, set()))[1].add(name)
        for dataset, names in missing.values():
            dataset_schema_apply(
                dataset=dataset, fields=[FieldSpec(name=n) for n in sorted(names)], source=self.source, replace=False
            )
        if missing:
            ids.update(
                {
                    (ds, name): pk
                    for pk, ds, name in Field.objects.filter(dataset_id__in=list(missing)).values_list(
                        "pk", "dataset_id", "name"
                    )
                }
            )
        return ids


def _statistics(dataset: Dataset, facet: dict[str, Any], at: datetime, *, completed: bool) -> None:
    """Output statistics and freshness, never moved backwards by a late event of an earlier run."""
    if dataset.last_modified_at is not None and at < dataset.last_modified_at:
        return
    values = {
        "row_count": _int(facet.get("rowCount")),
        "size_bytes": _int(facet.get("size")),
        "file_count": _int(facet.get("fileCount")),
        "modified_at": at if completed else None,
    }
    if any(v is not None for v in values.values()):
        dataset_statistics_update(dataset=dataset, **values)  # type: ignore[arg-type]
        if completed:
            dataset.last_modified_at = at


def _transformations(
    item: dict[str, Any], fallback: tuple[str, str, str, bool] | None
) -> list[tuple[str, str, str, bool]]:
    out = []
    for raw in _list(item.get("transformations")):
        kind = str(raw.get("type") or "").upper()
        kind = kind if kind in TransformationType.values else TransformationType.INDIRECT
        subtype = str(raw.get("subtype") or "").upper()[:30]
        out.append((kind, subtype, str(raw.get("description") or ""), raw.get("masking") is True))
    if out:
        return list(dict.fromkeys(out))
    return [fallback or (TransformationType.DIRECT, "", "", False)]


def _legacy_transformation(spec: dict[str, Any]) -> tuple[str, str, str, bool] | None:
    """The deprecated field-level ``transformationType`` (IDENTITY or MASKED) and description."""
    kind = str(spec.get("transformationType") or "").upper()
    description = str(spec.get("transformationDescription") or "")
    if kind == "IDENTITY":
        return TransformationType.DIRECT, "IDENTITY", description, False
    if kind == "MASKED":
        return TransformationType.DIRECT, "TRANSFORMATION", description, True
    return (TransformationType.DIRECT, "", description, False) if description else None


def _facet(raw: Any, holder: str, name: str) -> dict[str, Any]:
    return _dict(_dict(_dict(raw).get(holder)).get(name))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
