"""Scheduling: cron schedules as django-celery-beat rows, and scans of each new partition found in the lake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask

from apps.catalog.models import Dataset
from apps.quality.choices import RuleKind, ScanState, ScanTrigger, ScheduleMode
from apps.quality.models import QualityRule, QualityScan, ScanSchedule
from apps.quality.schedules import ScheduleInvalid, lake_partitions, partitions_check, schedule_set, scheduled_scan
from apps.quality.services import rule_save
from tests.quality.conftest import reported

pytestmark = pytest.mark.django_db


def amount_rule(dataset: Dataset) -> QualityRule:
    return rule_save(
        rule=QualityRule(
            dataset=dataset, name="amount", kind=RuleKind.RANGE, columns=["total_amount"], params={"min": 0},
            fail_threshold=0.0,
        )
    )  # fmt: skip


def partition_dirs(lake: str, path: str, *values: str) -> None:
    base = Path(lake.removeprefix("file://")) / path
    for value in values:
        (base / f"order_date={value}").mkdir(parents=True, exist_ok=True)
    (base / "_SUCCESS").parent.mkdir(parents=True, exist_ok=True)
    (base / "_SUCCESS").write_text("")


def test_a_cron_schedule_is_a_beat_row_that_follows_the_schedule(lake_datasets: dict[str, Dataset]) -> None:
    orders = lake_datasets["raw/orders"]
    schedule = schedule_set(dataset=orders, mode=ScheduleMode.CRON, crontab="15 6 * * 1-5")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "quality.scan_dataset"
    assert task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("15", "6", "1-5")
    assert task.name.startswith("quality:scan:")  # not a code-managed row: sync_periodic_tasks leaves it alone
    schedule_set(dataset=orders, mode=ScheduleMode.CRON, crontab="0 7 * * *")
    task.refresh_from_db()
    assert task.crontab is not None
    assert task.crontab.hour == "7"
    schedule_set(dataset=orders, mode=ScheduleMode.MANUAL)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    with pytest.raises(ScheduleInvalid) as error:
        schedule_set(dataset=orders, mode=ScheduleMode.CRON, crontab="61 * * * *")
    assert "crontab" in error.value.fields
    with pytest.raises(ScheduleInvalid):
        schedule_set(dataset=orders, mode=ScheduleMode.PARTITION, partition_column="no_such_column")


def test_a_scheduled_delivery_scans_once_per_minute(lake_datasets: dict[str, Dataset]) -> None:
    orders = lake_datasets["raw/orders"]
    assert scheduled_scan(dataset_id=orders.pk) is None  # no rules: nothing to scan
    amount_rule(orders)
    first = scheduled_scan(dataset_id=orders.pk)
    again = scheduled_scan(dataset_id=orders.pk)  # beat delivered twice
    assert first is not None
    assert again is not None
    assert first.pk == again.pk
    assert first.trigger == ScanTrigger.SCHEDULE
    schedule_set(dataset=orders, mode=ScheduleMode.CRON, crontab="0 6 * * *")
    dataset_id = orders.pk
    orders.delete()
    assert scheduled_scan(dataset_id=dataset_id) is None
    assert not PeriodicTask.objects.filter(name__startswith="quality:scan:").exists()  # the orphan row is gone


def test_new_partitions_are_scanned_once_and_only_newer_ones_next_time(
    lake: str, lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]
) -> None:
    orders = lake_datasets["raw/orders"]
    amount_rule(orders)
    schedule_set(dataset=orders, mode=ScheduleMode.PARTITION, partition_column="order_date")
    partition_dirs(lake, "raw/orders", "2025-03-01", "2025-03-02")
    assert lake_partitions(path="raw/orders", column="order_date") == ["2025-03-01", "2025-03-02"]
    assert partitions_check() == 1
    first = QualityScan.objects.get(trigger=ScanTrigger.PARTITION)
    assert first.partitions == []
    assert first.watermark == "2025-03-02"
    assert partitions_check() == 0  # one partition scan at a time
    finish(first, {"rows_scanned": 10, "rules": [reported("amount", "PASS")]})
    assert ScanSchedule.objects.get(dataset=orders).last_partition == "2025-03-02"
    assert partitions_check() == 0  # nothing new
    partition_dirs(lake, "raw/orders", "2025-03-03")
    assert partitions_check() == 1
    second = QualityScan.objects.filter(trigger=ScanTrigger.PARTITION).exclude(pk=first.pk).get()
    assert second.partitions == ["order_date>2025-03-02"]
    assert second.watermark == "2025-03-03"
    assert second.spark_run is not None
    assert "order_date>2025-03-02" in second.spark_run.args
    finish(second, None, state="failed")
    assert ScanSchedule.objects.get(dataset=orders).last_partition == "2025-03-02"  # a failed scan keeps it
    assert partitions_check() == 1  # and the next sweep tries again with a fresh scan
    assert QualityScan.objects.filter(trigger=ScanTrigger.PARTITION, state=ScanState.QUEUED).count() == 1
