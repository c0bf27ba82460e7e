"""Demo data of data quality: the lake's baseline rules owned by the demo steward, schedules (orders on each new
partition, customers and order lines daily), and a first scan of each dataset queued after the demo lake is
generated, so results, scores, samples and — for the generator's deliberately bad rows — incidents appear."""

from __future__ import annotations

from typing import Any

from apps.catalog.models import Dataset
from apps.common.models import User
from apps.configuration.services import config_get
from apps.quality.choices import ScheduleMode
from apps.quality.models import QualityScan
from apps.quality.schedules import schedule_set
from apps.quality.seed import default_rules_install
from apps.quality.services import scan_request
from apps.sparkruns.demo import demo_generate_run

SCHEDULES: dict[str, dict[str, Any]] = {
    "raw/orders": {"mode": ScheduleMode.PARTITION, "partition_column": "order_date"},
    "raw/customers": {"mode": ScheduleMode.CRON, "crontab": "0 6 * * *"},
    "raw/order_items": {"mode": ScheduleMode.CRON, "crontab": "30 6 * * *"},
}


def seed() -> list[str]:
    """Idempotent: rules only where missing, schedules set, the first scans requested once (by key)."""
    from spark.paths import normalize_root

    namespace = normalize_root(str(config_get("lake.root")))
    steward = User.objects.filter(username="steward").first()
    created = default_rules_install(namespace=namespace, owner=steward)
    datasets = {d.name: d for d in Dataset.objects.filter(namespace=namespace, name__in=list(SCHEDULES))}
    for name, options in SCHEDULES.items():
        if name in datasets and not hasattr(datasets[name], "quality_schedule"):
            schedule_set(dataset=datasets[name], **options)
    generate = demo_generate_run()
    scans = 0
    for name, dataset in datasets.items():
        key = f"demo:quality:{name}"
        if not QualityScan.objects.filter(spark_run__idempotency_key=key).exists():
            scan_request(dataset=dataset, idempotency_key=key, after=generate)
            scans += 1
    return [
        f"quality: {len(created)} baseline rule(s) added, schedules on {len(datasets)} dataset(s), "
        f"{scans} first scan(s) queued after the demo lake is generated"
    ]
