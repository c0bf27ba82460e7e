"""Discovery: the catalog asks Spark to profile and scan the lake, and consumes what the runs report.

``discovery_request`` queues a ``profile`` run and a ``pii_scan`` run after it (through
``apps.sparkruns.services.spark_run_request``). When any profile or PII-scan run succeeds, the sparkruns app sends
``spark_run_finished``; the catalog's receiver queues ``catalog.consume_run``, which calls ``run_consume``:

- profile: every dataset is upserted by its OpenLineage pair (the lake root as the job normalised it, and the dataset
  path — the same pair the job's lineage events carry), its schema applied (versions, diffs, breaking-change alerts),
  its size and freshness recorded, and per field the statistics that are not personal values (nulls, distinct count,
  string lengths, numeric range);
- pii_scan: flagged findings become PII suggestions (``apps.catalog.review.suggestions_offer``).

Consuming is recorded per run (``RunConsumption``, unique by run id, written in the consumption's transaction), so a
run consumed twice changes nothing, and a PII scan first consumes any profile run that finished before it, so its
fields exist. ``catalog.consume_pending_runs`` picks up runs whose consumption task was lost.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.catalog.models import Dataset, Field, RunConsumption
from apps.catalog.review import OfferReport, suggestions_offer
from apps.catalog.services import (
    FieldSpec,
    dataset_pii_status_refresh,
    dataset_schema_apply,
    dataset_statistics_update,
    dataset_upsert,
)
from apps.common.models import User
from apps.sparkruns.choices import Job, RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request

logger = structlog.get_logger(__name__)

CONSUMED_JOBS = (Job.PROFILE, Job.PII_SCAN)
# Per-column profile statistics the catalog keeps: counts and shapes, never values (top values and string extremes
# may be personal data).
KEPT_STATISTICS = ("nulls", "null_fraction", "approx_distinct", "min_length", "max_length")
NUMERIC_PREFIXES = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


def discovery_request(
    *, requested_by: User | None = None, idempotency_key: str | None = None, datasets: list[str] | None = None
) -> tuple[SparkRun, SparkRun]:
    """Queue a profile run and a PII scan that waits for it; the same key gives the same two runs."""
    key = idempotency_key or f"catalog:discovery:{uuid.uuid4()}"
    args = ["--datasets", ",".join(datasets)] if datasets else []
    profile = spark_run_request(
        job=Job.PROFILE, args=args, requested_by=requested_by, idempotency_key=f"{key}:profile"[:200]
    )
    scan = spark_run_request(
        job=Job.PII_SCAN,
        args=args,
        requested_by=requested_by,
        idempotency_key=f"{key}:pii_scan"[:200],
        after=profile,
    )
    logger.info("catalog.discovery_requested", profile=str(profile.run_id), pii_scan=str(scan.run_id))
    return profile, scan


def daily_discovery_key(now: datetime | None = None) -> str:
    """One discovery per UTC day from the beat schedule, however often the task is delivered."""
    return f"catalog:discovery:daily:{(now or timezone.now()).date().isoformat()}"


def run_consume(*, run: SparkRun) -> dict[str, Any] | None:
    """Consume a succeeded profile or PII-scan run's summary once; returns what changed (None: nothing to do)."""
    if run.job not in CONSUMED_JOBS or run.state != RunState.SUCCEEDED or not isinstance(run.summary, dict):
        return None
    if RunConsumption.objects.filter(run_id=run.run_id).exists():
        return None
    if run.job == Job.PII_SCAN:
        for earlier in _unconsumed_profiles(before=run.finished_at or timezone.now()):
            run_consume(run=earlier)
    with transaction.atomic():
        try:
            with transaction.atomic():
                marker = RunConsumption.objects.create(run_id=run.run_id, job=run.job)
        except IntegrityError:
            return None  # another worker consumed it meanwhile
        source = f"spark {run.job} run {run.run_id}"
        if run.job == Job.PROFILE:
            outcome = profile_consume(summary=run.summary, source=source)
        else:
            outcome = pii_scan_consume(summary=run.summary, source=str(run.run_id))
        marker.outcome = outcome
        marker.save(update_fields=["outcome"])
    logger.info("catalog.run_consumed", job=run.job, run_id=str(run.run_id), **outcome)
    return outcome


def _unconsumed_profiles(*, before: datetime) -> list[SparkRun]:
    done = RunConsumption.objects.filter(job=Job.PROFILE).values("run_id")
    return list(
        SparkRun.objects.filter(job=Job.PROFILE, state=RunState.SUCCEEDED, finished_at__lte=before)
        .exclude(run_id__in=done)
        .order_by("finished_at")
    )


def runs_consume_pending(*, within: timedelta = timedelta(days=7)) -> int:
    """Consume succeeded profile and PII-scan runs of the last ``within`` not consumed yet; returns how many."""
    done = RunConsumption.objects.values("run_id")
    runs = (
        SparkRun.objects.filter(
            job__in=CONSUMED_JOBS, state=RunState.SUCCEEDED, finished_at__gte=timezone.now() - within
        )
        .exclude(run_id__in=done)
        .order_by("finished_at")
    )
    count = 0
    for run in runs:
        try:
            if run_consume(run=run) is not None:
                count += 1
        except Exception:  # one malformed summary must not block the others
            logger.exception("catalog.consume_failed", run_id=str(run.run_id))
    return count


def _time(value: Any) -> datetime | None:
    moment = parse_datetime(str(value)) if value else None
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _column_statistics(column: dict[str, Any]) -> dict[str, Any]:
    kept = {name: column[name] for name in KEPT_STATISTICS if name in column}
    if str(column.get("type", "")).startswith(NUMERIC_PREFIXES):
        kept.update({name: column[name] for name in ("min", "max") if name in column})
    return kept


def profile_consume(*, summary: dict[str, Any], source: str) -> dict[str, Any]:
    """Apply a profile document: datasets, schemas (versions), statistics and per-field statistics."""
    from spark.paths import lineage_pair

    lake = str(summary.get("lake") or "")
    profiled_at = _time(summary.get("generated_at")) or timezone.now()
    datasets = versions = 0
    for path, profile in (summary.get("datasets") or {}).items():
        if not isinstance(profile, dict):
            continue
        namespace, name = lineage_pair(lake, str(profile.get("path") or path))
        dataset, _ = dataset_upsert(namespace=namespace, name=name, defaults={"format": "parquet"})
        specs = [
            FieldSpec(name=str(f["name"]), data_type=str(f.get("type", "")), nullable=bool(f.get("nullable", True)))
            for f in profile.get("schema") or []
            if isinstance(f, dict) and f.get("name")
        ]
        if dataset_schema_apply(dataset=dataset, fields=specs, source=source) is not None:
            versions += 1
        dataset_statistics_update(
            dataset=dataset,
            row_count=profile.get("rows"),
            size_bytes=profile.get("bytes"),
            file_count=profile.get("files"),
            profiled_at=profiled_at,
        )
        columns = profile.get("columns") or {}
        changed = []
        for row in Field.objects.filter(dataset=dataset, name__in=list(columns)):
            statistics = _column_statistics(columns[row.name])
            if statistics != row.statistics:
                row.statistics = statistics
                changed.append(row)
        Field.objects.bulk_update(changed, ["statistics"])
        datasets += 1
    return {"datasets": datasets, "schema_versions": versions}


def _scanned_columns_add(*, dataset: Dataset, columns: list[Any], source: str) -> None:
    """Catalogue the scanned columns the catalog does not know yet (a dataset scanned before it was ever profiled or
    reported by lineage), so their findings have a field to land on; known fields are left as they are."""
    known = set(Field.objects.filter(dataset=dataset).values_list("name", flat=True))
    missing = [
        FieldSpec(name=str(c["column"])[:300], data_type=str(c.get("type") or "")[:200])
        for c in columns
        if isinstance(c, dict) and c.get("column") and str(c["column"]) not in known
    ]
    if missing:
        dataset_schema_apply(dataset=dataset, fields=missing, source=source, replace=False)


def pii_scan_consume(*, summary: dict[str, Any], source: str) -> dict[str, Any]:
    """Apply a PII scan summary: suggestions from flagged findings, and every scanned dataset marked scanned."""
    report = OfferReport()
    scanned_at = _time(summary.get("generated_at")) or timezone.now()
    dataset_ids = []
    for entry in summary.get("datasets") or []:
        if not isinstance(entry, dict) or not entry.get("dataset") or not entry.get("namespace"):
            continue
        dataset, _ = dataset_upsert(namespace=str(entry["namespace"]), name=str(entry["dataset"]))
        _scanned_columns_add(dataset=dataset, columns=entry.get("columns") or [], source=source)
        with transaction.atomic():
            locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
            suggestions_offer(dataset=locked, columns=entry.get("columns") or [], source_run=source, report=report)
            Dataset.objects.filter(pk=locked.pk).update(last_pii_scan_at=scanned_at)
        dataset_ids.append(dataset.pk)
    dataset_pii_status_refresh(dataset_ids=dataset_ids)
    if report.unknown_categories:
        logger.warning("catalog.unknown_categories", categories=sorted(report.unknown_categories))
    if report.missing_fields:
        logger.warning("catalog.pii_fields_not_catalogued", fields=sorted(report.missing_fields)[:50])
    return {
        "datasets": len(dataset_ids),
        "suggestions_created": report.created,
        "suggestions_refreshed": report.refreshed,
        "suggestions_superseded": report.superseded,
        "skipped_known": report.skipped_known,
        "skipped_rejected": report.skipped_rejected,
    }
