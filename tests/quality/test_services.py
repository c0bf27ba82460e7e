"""Rules, scan requests and the recording of finished scans: results, scores, trends and alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.catalog.models import Dataset
from apps.incidents.models import AlertPayload
from apps.quality.choices import Outcome, RuleKind, RuleSeverity, ScanState, ScanTrigger
from apps.quality.models import DatasetQualityDaily, QualityResult, QualityRule, QualityScan
from apps.quality.rules import RuleInvalid, RuleSpec, rule_validate
from apps.quality.services import ScanInvalid, rule_save, rule_test_run, scan_request, scans_consume_pending
from apps.sparkruns.choices import Job, RunState
from tests.catalog.factories import dataset_edge
from tests.quality.conftest import reported

pytestmark = pytest.mark.django_db


def make_rule(dataset: Dataset, name: str, kind: str, columns: list[str], **kwargs: Any) -> QualityRule:
    kwargs.setdefault("fail_threshold", 0.0)
    return rule_save(rule=QualityRule(dataset=dataset, name=name, kind=kind, columns=columns, **kwargs))


@pytest.mark.parametrize(
    ("kind", "columns", "params", "field"),
    [
        ("nonsense", ["email"], {}, "kind"),
        (RuleKind.NOT_NULL, ["no_such_column"], {}, "columns"),
        (RuleKind.RANGE, ["total_amount"], {}, "params"),
        (RuleKind.RANGE, ["total_amount", "order_id"], {"min": 0}, "columns"),
        (RuleKind.REGEX, ["email"], {"pattern": "(["}, "params"),
        (RuleKind.CUSTOM, [], {"expression": "1=1; DROP TABLE orders"}, "params"),
        (RuleKind.CUSTOM, [], {"expression": "order_id IN (SELECT order_id FROM x)"}, "params"),
        (RuleKind.ALLOWED_VALUES, ["status"], {"values": list(range(1001))}, "params"),
        (RuleKind.FRESHNESS, ["order_ts"], {"max_age_seconds": -1}, "params"),
        (RuleKind.REFERENTIAL, ["customer_id"], {}, "reference_dataset"),
        (RuleKind.NOT_NULL, ["email"], {"pattern": "x"}, "params"),
    ],
)
def test_bad_rules_are_refused_naming_the_problem(
    lake_datasets: dict[str, Dataset], kind: str, columns: list[str], params: dict[str, Any], field: str
) -> None:
    spec = RuleSpec(dataset=lake_datasets["raw/orders"], name="r", kind=kind, columns=columns, params=params)
    spec.fail_threshold = 0.0
    with pytest.raises(RuleInvalid) as error:
        rule_validate(spec)
    assert field in error.value.fields


def test_thresholds_must_be_given_and_ordered(lake_datasets: dict[str, Dataset]) -> None:
    spec = RuleSpec(dataset=lake_datasets["raw/orders"], name="r", kind=RuleKind.NOT_NULL, columns=["order_id"])
    with pytest.raises(RuleInvalid) as error:
        rule_validate(spec)
    assert "fail_threshold" in error.value.fields
    spec.warn_threshold, spec.fail_threshold = 0.5, 0.1
    with pytest.raises(RuleInvalid) as error:
        rule_validate(spec)
    assert "warn_threshold" in error.value.fields


def test_a_scan_request_sends_every_enabled_rule_as_one_argument_each(lake_datasets: dict[str, Dataset]) -> None:
    orders, products = lake_datasets["raw/orders"], lake_datasets["raw/products"]
    items = lake_datasets["raw/order_items"]
    make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    make_rule(orders, "off", RuleKind.NOT_NULL, ["order_id"], enabled=False)
    make_rule(
        items, "product", RuleKind.REFERENTIAL, ["product_id"], reference_dataset=products, reference_field="product_id"
    )
    scan = scan_request(dataset=orders, partitions=["order_date>2025-01-01"])
    run = scan.spark_run
    assert run is not None
    assert run.job == Job.QUALITY_SCAN
    assert run.args[:4] == ["--dataset", "raw/orders", "--samples", "10"]
    assert run.args[4:6] == ["--primary-key", "order_id"]
    assert run.args[6:8] == ["--partitions", "order_date>2025-01-01"]
    rules = [a for a in run.args if a.startswith("--rule=")]
    assert len(rules) == 1
    assert '"id":"amount"' in rules[0]
    assert '"min":0' in rules[0]
    joined = scan_request(dataset=items)
    assert joined.rules[0]["reference"] == {"dataset": "raw/products", "field": "product_id"}
    with pytest.raises(ScanInvalid):
        scan_request(dataset=lake_datasets["raw/customers"])  # no rules
    with pytest.raises(ScanInvalid) as error:
        scan_request(dataset=orders, partitions=["order_date; DROP"])
    assert "partitions.0" in error.value.fields


def test_a_finished_scan_records_results_scores_trend_and_opens_then_closes_one_incident_per_rule(
    lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]
) -> None:
    orders = lake_datasets["raw/orders"]
    amount = make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0}, severity="critical")
    fresh = make_rule(
        orders,
        "fresh",
        RuleKind.FRESHNESS,
        ["order_ts"],
        params={"max_age_seconds": 3600},
        warn_threshold=0.0,
        fail_threshold=None,
        severity=RuleSeverity.WARNING,
    )
    broken = make_rule(orders, "broken", RuleKind.CUSTOM, [], params={"expression": "nope(x)"})
    summary = {
        "rows_scanned": 1000,
        "primary_key": ["order_id"],
        "rules": [
            reported("amount", "FAIL", metric=0.01, failing_rows=10, failing_fraction=0.01,
                     samples=[{"order_id": "o-1", "total_amount": "-3.00"}]),
            reported("fresh", "WARN", metric=7200.0),
            reported("broken", "ERROR"),
        ],
    }  # fmt: skip
    scan = finish(scan_request(dataset=orders), summary)
    assert scan.state == ScanState.SUCCEEDED
    assert scan.rows_scanned == 1000
    assert scan.outcomes == {"PASS": 0, "WARN": 1, "FAIL": 1, "ERROR": 1}
    # critical FAIL (weight 8, credit 0) + warning WARN (weight 2, credit 0.5); the ERROR is left out.
    assert scan.quality_score == pytest.approx(100 * 1 / 10)
    # freshness from the freshness rule (WARN: 50), no upstream: (0.6 * 10 + 0.2 * 50) / 0.8
    assert scan.trust_score == pytest.approx((0.6 * 10 + 0.2 * 50) / 0.8)
    result = QualityResult.objects.get(scan=scan, rule=amount)
    assert result.failing_rows == 10
    assert result.samples == [{"order_id": "o-1", "total_amount": "-3.00"}]
    assert result.sample_columns == ["order_id", "total_amount"]
    day = DatasetQualityDaily.objects.get(dataset=orders)
    assert (day.scans, day.failed, day.warned, day.errored) == (1, 1, 1, 1)
    alerts = list(AlertPayload.objects.filter(body__labels__source="quality"))
    assert len(alerts) == 1
    assert alerts[0].body["dedup_key"] == f"quality:rule:{amount.public_id}"
    assert alerts[0].body["status"] == "firing"
    assert alerts[0].body["severity"] == "critical"
    amount.refresh_from_db()
    assert amount.alert_open
    assert amount.last_outcome == Outcome.FAIL

    again = finish(
        scan_request(dataset=orders), {**summary, "rules": [reported("amount", "FAIL"), reported("fresh", "PASS")]}
    )
    assert AlertPayload.objects.filter(body__labels__source="quality").count() == 2  # same dedup key: same incident
    assert again.outcomes["ERROR"] == 1  # "broken" was not reported: an ERROR, not a lost rule
    finish(scan_request(dataset=orders), {**summary, "rules": [reported("amount", "PASS"), reported("fresh", "PASS")]})
    resolved = AlertPayload.objects.filter(body__labels__source="quality").order_by("-pk").first()
    assert resolved is not None
    assert resolved.body["status"] == "resolved"
    amount.refresh_from_db()
    assert not amount.alert_open
    assert DatasetQualityDaily.objects.get(dataset=orders).scans == 3
    broken.refresh_from_db()
    fresh.refresh_from_db()
    assert broken.last_outcome == Outcome.ERROR
    assert fresh.last_outcome == Outcome.PASS


def test_upstream_health_lowers_trust_through_lineage(
    lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]
) -> None:
    orders, items = lake_datasets["raw/orders"], lake_datasets["raw/order_items"]
    dataset_edge(orders, items)
    make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    make_rule(items, "qty", RuleKind.RANGE, ["quantity"], params={"min": 1})
    finish(scan_request(dataset=orders), {"rows_scanned": 5, "rules": [reported("amount", "FAIL")]})
    scan = finish(scan_request(dataset=items), {"rows_scanned": 5, "rules": [reported("qty", "PASS")]})
    assert scan.quality_score == 100.0
    assert scan.score_details["parts"]["upstream"] == 0.0
    assert scan.trust_score == pytest.approx(0.6 * 100 / 0.8)


def test_a_failed_run_fails_the_scan_and_lost_consumptions_are_swept(
    lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]
) -> None:
    orders = lake_datasets["raw/orders"]
    make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    failed = finish(scan_request(dataset=orders), None, state=RunState.FAILED)
    assert failed.state == ScanState.FAILED
    assert failed.error
    lost = scan_request(dataset=orders)
    assert lost.spark_run is not None
    lost.spark_run.__class__.objects.filter(pk=lost.spark_run.pk).update(
        state=RunState.SUCCEEDED, summary={"rows_scanned": 1, "rules": [reported("amount", "PASS")]}
    )
    assert scans_consume_pending() == 1
    lost.refresh_from_db()
    assert lost.state == ScanState.SUCCEEDED
    assert scans_consume_pending() == 0


def test_a_test_run_reads_a_sample_and_changes_no_score_or_alert(
    lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]
) -> None:
    orders = lake_datasets["raw/orders"]
    spec = RuleSpec(
        dataset=orders,
        name="draft",
        kind=RuleKind.RANGE,
        columns=["total_amount"],
        params={"min": 0},
        fail_threshold=0.0,
    )
    scan = rule_test_run(spec=spec, sample_rows=500)
    assert scan.trigger == ScanTrigger.TEST
    assert scan.spark_run is not None
    assert scan.spark_run.args[-2:] == ["--sample-rows", "500"]
    done = finish(scan, {"rows_scanned": 500, "rules": [reported("draft", "FAIL", failing_rows=3)]})
    assert done.quality_score is None
    assert not DatasetQualityDaily.objects.exists()
    assert QualityResult.objects.get(scan=done).rule is None
    assert not AlertPayload.objects.filter(body__labels__source="quality").exists()
    assert not QualityScan.objects.filter(trigger=ScanTrigger.MANUAL).exists()


def test_a_finished_quality_run_is_recorded_through_the_signal_and_other_jobs_are_ignored(
    lake_datasets: dict[str, Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.quality import tasks
    from apps.sparkruns.models import SparkRun
    from apps.sparkruns.signals import spark_run_finished

    queued: list[int] = []
    monkeypatch.setattr(tasks.consume_run, "apply_async", lambda args, **kw: queued.append(args[0]))
    orders = lake_datasets["raw/orders"]
    make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    scan = scan_request(dataset=orders)
    assert scan.spark_run is not None
    SparkRun.objects.filter(pk=scan.spark_run.pk).update(
        state=RunState.SUCCEEDED, summary={"rows_scanned": 3, "rules": [reported("amount", "PASS")]}
    )
    scan.spark_run.refresh_from_db()
    spark_run_finished.send(sender=SparkRun, run=scan.spark_run)
    other = SparkRun.objects.create(job="profile", lake_root="x", backend="local", state=RunState.SUCCEEDED)
    spark_run_finished.send(sender=SparkRun, run=other)
    assert queued == [scan.spark_run.pk]
    tasks.consume_run(scan.spark_run.pk)
    tasks.consume_run(scan.spark_run.pk)  # delivered twice: recorded once
    scan.refresh_from_db()
    assert scan.state == ScanState.SUCCEEDED
    assert QualityResult.objects.filter(scan=scan).count() == 1


def test_deleting_a_failing_rule_resolves_its_alert_and_a_duplicate_name_is_refused(
    lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]
) -> None:
    from apps.quality.services import rule_delete

    orders = lake_datasets["raw/orders"]
    amount = make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    with pytest.raises(RuleInvalid) as error:
        make_rule(orders, "amount", RuleKind.NOT_NULL, ["order_id"])
    assert "name" in error.value.fields
    finish(scan_request(dataset=orders), {"rows_scanned": 5, "rules": [reported("amount", "FAIL")]})
    amount.refresh_from_db()
    rule_delete(rule=amount)
    last = AlertPayload.objects.filter(body__labels__source="quality").order_by("-pk").first()
    assert last is not None
    assert last.body["status"] == "resolved"
    assert last.body["dedup_key"] == f"quality:rule:{amount.public_id}"
