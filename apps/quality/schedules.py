"""When datasets are scanned: a cron schedule per dataset (a django-celery-beat row the portal owns) or each new
partition (a beat sweep lists the dataset's partitions in the lake and scans only the ones newer than the last
scanned).

Partition values compare as text: the lake's partition columns are ISO dates (``order_date=2025-03-01``), whose
text order is their time order. A partition scan reads ``column > last scanned value`` and, once it succeeds, moves
the schedule's watermark to the newest value it saw; a failed scan leaves the watermark, so the next sweep retries.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.catalog.models import Dataset
from apps.common.errors import DomainError
from apps.common.models import User
from apps.configuration.services import config_get
from apps.quality.choices import ScanState, ScanTrigger, ScheduleMode
from apps.quality.models import QualityRule, QualityScan, ScanSchedule

logger = structlog.get_logger(__name__)

TASK_PREFIX = "quality:scan:"
SCAN_TASK = "quality.scan_dataset"


class ScheduleInvalid(DomainError):
    code = "schedule_invalid"


def _crontab_fields(expression: str) -> dict[str, str]:
    """The five fields of a cron expression, checked by Celery's own parser."""
    from celery.schedules import crontab

    parts = expression.split()
    if len(parts) != 5:
        raise ScheduleInvalid(
            f"A cron expression has five fields (minute hour day-of-month month day-of-week), not {len(parts)}.",
            fields={"crontab": ["five fields"]},
        )
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    fields = dict(zip(names, parts, strict=True))
    try:
        crontab(**fields)
    except (ValueError, TypeError) as exc:
        raise ScheduleInvalid(f"Bad cron expression {expression!r}: {exc}.", fields={"crontab": [str(exc)]}) from exc
    return fields


def schedule_validate(
    *, dataset: Dataset, mode: str, crontab: str = "", partition_column: str = "", samples: int | None = None
) -> dict[str, str] | None:
    """Raise ``ScheduleInvalid`` naming what is wrong with a schedule; returns the cron fields of a cron schedule."""
    if mode not in ScheduleMode.values:
        raise ScheduleInvalid(f"Unknown mode {mode!r}.", fields={"mode": [", ".join(ScheduleMode.values)]})
    fields = _crontab_fields(crontab) if mode == ScheduleMode.CRON else None
    if mode == ScheduleMode.PARTITION:
        if not partition_column:
            raise ScheduleInvalid(
                "Partition mode needs the partition column.", fields={"partition_column": ["required"]}
            )
        active = dataset.fields.filter(is_active=True)
        if not active.filter(name=partition_column).exists() and active.exists():
            raise ScheduleInvalid(
                f"{dataset.name} has no field {partition_column}.", fields={"partition_column": ["unknown field"]}
            )
    if samples is not None and not 0 <= samples <= 100:
        raise ScheduleInvalid("samples must be between 0 and 100.", fields={"samples": ["out of range"]})
    return fields


def schedule_set(
    *,
    dataset: Dataset,
    mode: str,
    crontab: str = "",
    partition_column: str = "",
    samples: int | None = None,
) -> ScanSchedule:
    """Set how ``dataset`` is scanned; keeps its django-celery-beat row in step (created, changed or removed)."""
    fields = schedule_validate(
        dataset=dataset, mode=mode, crontab=crontab, partition_column=partition_column, samples=samples
    )
    with transaction.atomic():
        schedule, _ = ScanSchedule.objects.select_for_update().get_or_create(dataset=dataset)
        if schedule.partition_column != partition_column:
            schedule.last_partition = ""
        schedule.mode = mode
        schedule.crontab = crontab.strip() if fields else ""
        schedule.partition_column = partition_column if mode == ScheduleMode.PARTITION else ""
        if samples is not None:
            schedule.samples = samples
        schedule.periodic_task = _periodic_task_sync(schedule, fields)
        schedule.save()
    return schedule


def _periodic_task_sync(schedule: ScanSchedule, fields: dict[str, str] | None) -> PeriodicTask | None:
    task = schedule.periodic_task
    if fields is None:
        if task is not None:
            task.delete()
        return None
    cron, _ = CrontabSchedule.objects.get_or_create(**fields, timezone="UTC")
    values: dict[str, Any] = {
        "task": SCAN_TASK,
        "crontab": cron,
        "interval": None,
        "kwargs": json.dumps({"dataset_id": schedule.dataset_id}),
        "enabled": True,
        "description": f"Quality scan of {schedule.dataset.name}",
    }
    if task is None:
        return PeriodicTask.objects.create(name=f"{TASK_PREFIX}{schedule.dataset.public_id}"[:200], **values)
    for name, value in values.items():
        setattr(task, name, value)
    task.save()
    return task


def scheduled_scan(*, dataset_id: int, at: datetime | None = None) -> QualityScan | None:
    """The beat entry point of a cron schedule: one scan per dataset and minute (None when nothing to scan)."""
    from apps.quality.services import scan_due_key, scan_request

    dataset = Dataset.objects.filter(pk=dataset_id, is_active=True).first()
    if dataset is None and not Dataset.objects.filter(pk=dataset_id).exists():
        # The dataset was deleted (its schedule with it): its beat row goes too, rather than firing forever.
        PeriodicTask.objects.filter(task=SCAN_TASK, kwargs=json.dumps({"dataset_id": dataset_id})).delete()
        return None
    if dataset is None or not QualityRule.objects.filter(dataset=dataset, enabled=True).exists():
        return None
    schedule = ScanSchedule.objects.filter(dataset=dataset).first()
    return scan_request(
        dataset=dataset,
        trigger=ScanTrigger.SCHEDULE,
        samples=schedule.samples if schedule else None,
        idempotency_key=scan_due_key(dataset, at=at),
    )


def lake_partitions(*, path: str, column: str) -> list[str]:
    """The values of ``column`` that have a partition directory (``column=value``) under the dataset in the lake."""
    root = str(config_get("lake.root")).rstrip("/")
    prefix = f"{column}="
    parts = urlsplit(root if "://" in root else "file://" + root)
    if parts.scheme == "file":
        from pathlib import Path

        base = Path(parts.path) / path
        if not base.is_dir():
            return []
        names = [p.name for p in base.iterdir() if p.is_dir()]
    else:
        from apps.audit.anchors import s3_client

        key = f"{parts.path.strip('/')}/{path}/".lstrip("/")
        paginator = s3_client().get_paginator("list_objects_v2")
        names = []
        for page in paginator.paginate(Bucket=parts.netloc, Prefix=key, Delimiter="/"):
            names += [p["Prefix"][len(key) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(unquote(n[len(prefix) :]) for n in names if n.startswith(prefix))


def partitions_check(*, requested_by: User | None = None) -> int:
    """For every dataset scanned on new partitions: queue a scan of the partitions newer than the last scanned."""
    from apps.quality.services import dataset_lake_path, scan_request

    queued = 0
    schedules = ScanSchedule.objects.filter(mode=ScheduleMode.PARTITION).select_related("dataset")
    for schedule in schedules:
        dataset = schedule.dataset
        if QualityScan.objects.filter(dataset=dataset, trigger=ScanTrigger.PARTITION, state=ScanState.QUEUED).exists():
            continue  # one partition scan at a time: the watermark moves when it finishes
        try:
            values = lake_partitions(path=dataset_lake_path(dataset), column=schedule.partition_column)
            newer = [v for v in values if not schedule.last_partition or v > schedule.last_partition]
            if not newer or not QualityRule.objects.filter(dataset=dataset, enabled=True).exists():
                continue
            column, last = schedule.partition_column, schedule.last_partition
            # A failed scan leaves the watermark; the attempt number lets the next sweep queue a fresh one.
            attempt = QualityScan.objects.filter(
                dataset=dataset, trigger=ScanTrigger.PARTITION, watermark=newer[-1], state=ScanState.FAILED
            ).count()
            scan_request(
                dataset=dataset,
                trigger=ScanTrigger.PARTITION,
                requested_by=requested_by,
                partitions=[f"{column}>{last}"] if last else [],
                samples=schedule.samples,
                idempotency_key=f"quality:partition:{dataset.public_id}:{last}:{newer[-1]}:{attempt}"[:200],
                watermark=newer[-1],
            )
            queued += 1
        except Exception:  # one unreadable dataset must not keep the others from being scanned
            logger.exception("quality.partition_check_failed", dataset=dataset.name)
    return queued
