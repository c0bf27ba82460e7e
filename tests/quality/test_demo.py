"""The quality demo: the baseline rules on the demo lake's datasets, their schedules, and a first scan of each
queued after the demo lake's generator run; seeding twice changes nothing."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from apps.catalog import demo as catalog_demo
from apps.common.demo import demo_users_ensure
from apps.quality import demo
from apps.quality.choices import ScheduleMode
from apps.quality.models import QualityRule, QualityScan, ScanSchedule
from apps.quality.seed import DEFAULT_RULES

pytestmark = pytest.mark.django_db


def test_seeding_installs_rules_schedules_and_first_scans_once() -> None:
    demo_users_ensure()
    catalog_demo.seed()
    demo.seed()
    assert QualityRule.objects.count() == len(DEFAULT_RULES)
    assert set(QualityRule.objects.values_list("owner__username", flat=True)) == {"steward"}
    orders = ScanSchedule.objects.get(dataset__name="raw/orders")
    assert (orders.mode, orders.partition_column) == (ScheduleMode.PARTITION, "order_date")
    customers = ScanSchedule.objects.get(dataset__name="raw/customers")
    assert customers.periodic_task is not None
    assert customers.periodic_task.task == "quality.scan_dataset"
    scans = list(QualityScan.objects.select_related("spark_run__depends_on"))
    assert len(scans) == 3
    assert all(s.spark_run and s.spark_run.depends_on and s.spark_run.depends_on.job == "generate" for s in scans)
    demo.seed()
    assert QualityRule.objects.count() == len(DEFAULT_RULES)
    assert QualityScan.objects.count() == 3
    assert PeriodicTask.objects.filter(name__startswith="quality:scan:").count() == 2
