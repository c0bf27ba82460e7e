"""End to end on a generated lake: the baseline rules are scanned by the real ``quality_scan`` job (Spark in local
mode), the generator's deliberately bad rows fail their rules and open one incident each, and once the data is
fixed the next scheduled scan passes and the incidents resolve."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.incidents.choices import IncidentStatus
from apps.incidents.models import Incident
from apps.incidents.services import payloads_sweep
from apps.lineage.models import LineageEvent
from apps.lineage.services import lineage_ingest_events
from apps.quality.choices import Outcome, ScanState, ScanTrigger
from apps.quality.models import QualityResult, QualityRule, QualityScan
from apps.quality.schedules import scheduled_scan
from apps.quality.seed import DEFAULT_RULES, default_rules_install
from apps.quality.services import rule_alert_key
from tests.spark.conftest import spark  # noqa: F401 - the shared local Spark session

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def generated(spark: Any, lake: str) -> str:  # noqa: F811
    from spark.jobs.generate import generate_lake

    # The window ends today, so once the future orders are rewritten away the newest left is hours old: fresh.
    start = timezone.now().date() - timedelta(days=29)
    generate_lake(spark, lake, orders=600, seed=5, bad_share=0.05, start=start, days=30)
    return lake


def run_job(spark: Any, scan: QualityScan, lake: str, tmp_path: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # noqa: F811
    """Run the scan's Spark run in this process, exactly with the arguments the portal gave it."""
    import json

    from spark.jobs import quality_scan
    from spark.jobs.base import base_parser, execute

    assert scan.spark_run is not None
    parser: argparse.ArgumentParser = base_parser(quality_scan.NAME)
    quality_scan.add_arguments(parser)
    lineage = tmp_path / f"{scan.public_id}.jsonl"
    run = scan.spark_run
    args = parser.parse_args(["--lake", lake, "--run-id", str(run.run_id), "--lineage-file", str(lineage), *run.args])
    summary = execute(quality_scan.NAME, quality_scan.run, args, spark=spark).summary
    return summary, [json.loads(line) for line in lineage.read_text().splitlines()]


def outcomes(scan: QualityScan) -> dict[str, str]:
    return dict(QualityResult.objects.filter(scan=scan).values_list("rule_name", "outcome"))


def test_bad_rows_open_incidents_that_close_when_the_data_is_fixed(
    spark: Any,  # noqa: F811
    generated: str,
    lake_datasets: dict[str, Dataset],
    finish: Callable[..., QualityScan],
    tmp_path: Any,
) -> None:
    created = default_rules_install(namespace=generated)
    assert len(created) == len(DEFAULT_RULES)
    orders, items = lake_datasets["raw/orders"], lake_datasets["raw/order_items"]

    scan = scheduled_scan(dataset_id=orders.pk)
    assert scan is not None
    assert scan.trigger == ScanTrigger.SCHEDULE
    summary, events = run_job(spark, scan, generated, tmp_path)
    lineage_ingest_events(events=events)
    # Lineage shows the results: the scanned input carries the quality facets of the run that completed.
    complete = LineageEvent.objects.get(run_id=scan.spark_run.run_id, event_type="COMPLETE")
    facets = complete.payload["inputs"][0]["inputFacets"]
    assertions = {a["assertion"]: a["success"] for a in facets["dataQualityAssertions"]["assertions"]}
    assert assertions["range"] is False
    assert facets["dataQualityMetrics"]["rowCount"] == summary["rows_scanned"]
    scan = finish(scan, summary)
    found = outcomes(scan)
    assert found["total-amount-non-negative"] == Outcome.FAIL
    assert found["no-future-orders"] == Outcome.FAIL
    assert found["orders-fresh"] == Outcome.PASS
    assert scan.state == ScanState.SUCCEEDED
    assert scan.rows_scanned
    assert scan.rows_scanned > 600
    assert scan.quality_score is not None
    assert scan.quality_score < 100
    negative = QualityResult.objects.get(scan=scan, rule_name="total-amount-non-negative")
    assert negative.failing_rows
    assert negative.sample_count == min(10, negative.failing_rows)
    assert all(float(row["total_amount"]) < 0 and row["order_id"] for row in negative.samples)

    items_scan = scheduled_scan(dataset_id=items.pk)
    assert items_scan is not None
    items_scan = finish(items_scan, run_job(spark, items_scan, generated, tmp_path)[0])
    assert outcomes(items_scan)["product-exists"] == Outcome.FAIL
    orphan = QualityResult.objects.get(scan=items_scan, rule_name="product-exists")
    assert orphan.samples
    assert {"order_id", "line_no", "product_id"} <= set(orphan.samples[0])

    payloads_sweep(older_than=timedelta(0))
    failing = {"total-amount-non-negative", "no-future-orders"}
    for name in failing:
        rule = QualityRule.objects.get(dataset=orders, name=name)
        incident = Incident.objects.get(group_key=rule_alert_key(rule))
        assert incident.status == IncidentStatus.TRIGGERED
    assert Incident.objects.filter(status=IncidentStatus.TRIGGERED).count() == 3  # one per failing rule

    # The data is fixed: the bad orders are rewritten away.
    uri = f"{generated}/raw/orders"
    fixed = spark.read.parquet(uri).where("total_amount >= 0 AND order_ts <= current_timestamp()")
    # Static overwrite: the future orders' own partitions must go too, not only those the fixed rows land in.
    writer = fixed.localCheckpoint().write.mode("overwrite").option("partitionOverwriteMode", "static")
    writer.partitionBy("order_date").parquet(uri)

    later = scheduled_scan(dataset_id=orders.pk, at=timezone.now() + timedelta(minutes=1))
    assert later is not None
    assert later.pk != scan.pk
    later = finish(later, run_job(spark, later, generated, tmp_path)[0])
    assert outcomes(later)["total-amount-non-negative"] == Outcome.PASS
    assert outcomes(later)["no-future-orders"] == Outcome.PASS
    payloads_sweep(older_than=timedelta(0))
    for name in failing:
        rule = QualityRule.objects.get(dataset=orders, name=name)
        assert Incident.objects.get(group_key=rule_alert_key(rule)).status == IncidentStatus.RESOLVED
        assert not rule.alert_open
    assert Incident.objects.filter(status=IncidentStatus.TRIGGERED).count() == 1  # the orphan lines remain
    assert later.quality_score is not None
    assert later.quality_score > scan.quality_score
