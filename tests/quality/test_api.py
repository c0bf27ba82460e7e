"""The data-quality API: reads for every quality role, writes only for the stewards of the dataset (or an
administrator), invalid rules and scans answered 400 naming the problem, a scan from request to masked or audited
samples, schedules kept in django-celery-beat, test runs, and list query counts that do not grow with the page."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.catalog.models import Dataset
from apps.catalog.services import dataset_upsert
from apps.catalog.stewardship import dataset_role_assign
from apps.common.models import User
from apps.common.testing import assert_queries_constant
from apps.quality.choices import RuleKind, RuleSeverity
from apps.quality.models import QualityResult, QualityRule, QualityScan, ScanSchedule
from apps.quality.rules import RuleSpec
from apps.quality.samples import MASK
from apps.quality.schedules import TASK_PREFIX, schedule_set
from apps.quality.services import TEST_SAMPLE_ROWS, rule_save, rule_test_run, scan_request
from tests.quality.conftest import reported

pytestmark = pytest.mark.django_db
BASE = "/api/v1/quality"
TokenClient = Callable[..., tuple[APIClient, User]]
Finish = Callable[..., QualityScan]


def make_rule(dataset: Dataset, name: str, kind: str, columns: list[str], **kwargs: Any) -> QualityRule:
    kwargs.setdefault("fail_threshold", 0.0)
    return rule_save(rule=QualityRule(dataset=dataset, name=name, kind=kind, columns=columns, **kwargs))


def steward_of(token_client: TokenClient, *datasets: Dataset) -> tuple[APIClient, User]:
    """A data steward's client, steward of ``datasets`` only."""
    client, steward = token_client("data_steward")
    for dataset in datasets:
        dataset_role_assign(dataset=dataset, user=steward, role="steward", actor=None)
    return client, steward


def not_null(dataset: Dataset, name: str = "id-present", column: str = "order_id", **extra: Any) -> dict[str, Any]:
    """The body of a not-null rule."""
    return {
        "dataset": str(dataset.public_id),
        "name": name,
        "kind": RuleKind.NOT_NULL,
        "columns": [column],
        "fail_threshold": 0.0,
        **extra,
    }


# --- who may do what --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", ["rules", "scans", "results", "datasets"])
def test_calls_without_credentials_answer_401_and_without_a_role_403(
    api_client: APIClient, token_client: TokenClient, resource: str
) -> None:
    anonymous = api_client.get(f"{BASE}/{resource}/")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert api_client.post(f"{BASE}/{resource}/", {}).status_code == 401
    nobody, _ = token_client()
    assert nobody.get(f"{BASE}/{resource}/").status_code == 403


def test_an_integrator_reads_quality_but_changes_nothing(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders = lake_datasets["raw/orders"]
    rule = make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    client, _ = token_client("integrator")
    assert client.get(f"{BASE}/rules/").json()["count"] == 1
    assert client.get(f"{BASE}/rules/{rule.public_id}/").json()["name"] == "id-present"
    assert client.get(f"{BASE}/datasets/{orders.public_id}/").status_code == 200
    refused = [
        client.post(f"{BASE}/rules/", not_null(orders, name="another")),
        client.patch(f"{BASE}/rules/{rule.public_id}/", {"enabled": False}),
        client.delete(f"{BASE}/rules/{rule.public_id}/"),
        client.post(f"{BASE}/rules/{rule.public_id}/test/"),
        client.post(f"{BASE}/rules/test/", not_null(orders)),
        client.post(f"{BASE}/scans/", {"dataset": str(orders.public_id)}),
        client.put(f"{BASE}/datasets/{orders.public_id}/schedule/", {"mode": "manual"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert {r.json()["code"] for r in refused} == {"permission_denied"}
    assert QualityRule.objects.get().enabled
    assert not QualityScan.objects.exists()


def test_a_steward_of_another_dataset_is_refused_as_not_its_steward(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    rule = make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    queued = scan_request(dataset=orders)
    client, _ = steward_of(token_client, customers)
    refused = [
        client.post(f"{BASE}/rules/", not_null(orders, name="another")),
        client.patch(f"{BASE}/rules/{rule.public_id}/", {"enabled": False}),
        client.delete(f"{BASE}/rules/{rule.public_id}/"),
        client.post(f"{BASE}/rules/{rule.public_id}/test/"),
        client.post(f"{BASE}/rules/test/", not_null(orders)),
        client.post(f"{BASE}/scans/", {"dataset": str(orders.public_id)}),
        client.post(f"{BASE}/scans/{queued.public_id}/cancel/"),
        client.put(f"{BASE}/datasets/{orders.public_id}/schedule/", {"mode": "cron", "crontab": "0 6 * * *"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert {r.json()["code"] for r in refused} == {"not_dataset_steward"}
    assert QualityRule.objects.get().enabled
    assert QualityScan.objects.get().pk == queued.pk
    assert not ScanSchedule.objects.exists()
    assert client.get(f"{BASE}/rules/").json()["count"] == 1  # reading is not stewarding


def test_the_datasets_steward_creates_changes_filters_and_deletes_a_rule(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    client, steward = steward_of(token_client, customers)
    created = client.post(
        f"{BASE}/rules/",
        {
            "dataset": str(customers.public_id),
            "name": "email-format",
            "kind": RuleKind.REGEX,
            "columns": ["email"],
            "params": {"pattern": "^[^@]+@[^@]+$"},
            "warn_threshold": 0.02,
            "severity": RuleSeverity.WARNING,
        },
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["dataset"] == str(customers.public_id)
    assert (body["owner"], body["owner_name"]) == (str(steward.public_id), steward.username)
    assert (body["kind"], body["severity"], body["fail_threshold"], body["enabled"]) == (
        "regex", "warning", None, True,
    )  # fmt: skip
    created_event = AuditEvent.objects.get(action="create", target_type="quality.qualityrule", target_id=body["id"])
    assert created_event.actor_id == str(steward.public_id)
    url = f"{BASE}/rules/{body['id']}/"
    patched = client.patch(url, {"fail_threshold": 0.1, "enabled": False})
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["warn_threshold"], patched.json()["fail_threshold"]) == (0.02, 0.1)
    assert not QualityRule.objects.get(public_id=body["id"]).enabled

    def names(**params: str) -> list[str]:
        return [r["name"] for r in client.get(f"{BASE}/rules/", params).json()["results"]]

    assert names() == ["email-format", "id-present"]  # by dataset name (raw/customers first), then rule name
    assert names(dataset=str(customers.public_id)) == ["email-format"]
    assert names(kind="regex", severity="warning", enabled="false", search="EMAIL") == ["email-format"]
    assert names(owner=str(steward.public_id)) == ["email-format"]
    assert names(kind="range") == []
    assert client.delete(url).status_code == 204
    assert not QualityRule.objects.filter(public_id=body["id"]).exists()
    assert AuditEvent.objects.filter(action="delete", target_type="quality.qualityrule", target_id=body["id"]).exists()
    assert client.get(url).status_code == 404


def test_an_administrator_changes_the_rules_of_any_dataset(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders = lake_datasets["raw/orders"]
    client, _ = token_client("admin")
    created = client.post(f"{BASE}/rules/", not_null(orders))
    assert created.status_code == 201, created.json()
    requested = client.post(f"{BASE}/scans/", {"dataset": str(orders.public_id)})
    assert requested.status_code == 202, requested.json()
    schedule = client.put(f"{BASE}/datasets/{orders.public_id}/schedule/", {"mode": "manual"})
    assert schedule.status_code == 200, schedule.json()


# --- validation -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "nonsense"}, "kind"),
        ({"columns": ["no_such_column"]}, "columns"),
        ({"kind": RuleKind.RANGE, "columns": ["total_amount"]}, "params"),
        ({"kind": RuleKind.REGEX, "params": {"pattern": "(["}}, "params"),
        ({"params": {"pattern": "x"}}, "params"),
        ({"fail_threshold": None}, "fail_threshold"),
        ({"warn_threshold": 0.5, "fail_threshold": 0.1}, "warn_threshold"),
        ({"kind": RuleKind.REFERENTIAL, "columns": ["customer_id"]}, "reference_dataset"),
        ({"severity": "catastrophic"}, "severity"),
        ({"name": "not a slug"}, "name"),
        ({"dataset": "00000000-0000-0000-0000-000000000000"}, "dataset"),
        ({"dataset": "raw/orders"}, "dataset"),
        ({"owner": "00000000-0000-0000-0000-000000000000"}, "owner"),
    ],
)
def test_invalid_rules_answer_400_naming_the_problem(
    token_client: TokenClient, lake_datasets: dict[str, Dataset], changes: dict[str, Any], field: str
) -> None:
    orders = lake_datasets["raw/orders"]
    client, _ = steward_of(token_client, orders)
    response = client.post(f"{BASE}/rules/", {**not_null(orders), **changes})
    assert response.status_code == 400, response.json()
    assert response.json()["code"] in ("rule_invalid", "validation_error")
    assert field in response.json()["fields"]
    assert not QualityRule.objects.exists()


def test_a_rule_keeps_its_dataset_and_a_name_unique_within_it(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    client, _ = steward_of(token_client, orders, customers)
    assert client.post(f"{BASE}/rules/", not_null(orders)).status_code == 201
    again = client.post(f"{BASE}/rules/", not_null(orders))
    assert again.status_code == 400, again.json()
    assert again.json()["code"] == "rule_invalid"
    assert list(again.json()["fields"]) == ["name"]
    elsewhere = client.post(f"{BASE}/rules/", not_null(customers, column="customer_id"))
    assert elsewhere.status_code == 201  # the same name on another dataset
    url = f"{BASE}/rules/{elsewhere.json()['id']}/"
    moved = client.patch(url, {"dataset": str(orders.public_id)})
    assert moved.status_code == 400
    assert "dataset" in moved.json()["fields"]
    broken = client.patch(url, {"columns": ["no_such_column"]})
    assert broken.status_code == 400
    assert "columns" in broken.json()["fields"]
    assert QualityRule.objects.get(public_id=elsewhere.json()["id"]).columns == ["customer_id"]
    renamed = client.patch(url, {"name": "customer-id-present"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "customer-id-present"


def test_a_scan_the_service_refuses_answers_400_with_fields(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    client, _ = steward_of(token_client, orders, customers)
    cases = [
        ({"dataset": str(customers.public_id)}, "dataset"),  # no rules
        ({"dataset": str(orders.public_id), "partitions": ["order_date; DROP TABLE x"]}, "partitions.0"),
        ({"dataset": str(orders.public_id), "samples": 1000}, "samples"),
        ({"dataset": "00000000-0000-0000-0000-000000000000"}, "dataset"),
    ]
    for body, field in cases:
        response = client.post(f"{BASE}/scans/", body)
        assert response.status_code == 400, response.json()
        assert field in response.json()["fields"], response.json()
    assert not QualityScan.objects.exists()


# --- a scan from request to samples -----------------------------------------------------------------------------
def test_a_finished_scan_shows_results_without_samples_and_samples_masked_or_audited(
    token_client: TokenClient, lake_datasets: dict[str, Dataset], finish: Finish
) -> None:
    customers = lake_datasets["raw/customers"]
    customers.fields.filter(name="email").update(identity_kind="email")
    client, steward = steward_of(token_client, customers)
    created = client.post(
        f"{BASE}/rules/",
        {
            "dataset": str(customers.public_id),
            "name": "email-format",
            "kind": RuleKind.REGEX,
            "columns": ["email"],
            "params": {"pattern": "^[^@]+@[^@]+$"},
            "warn_threshold": 0.02,
        },
    )
    assert created.status_code == 201, created.json()
    requested = client.post(f"{BASE}/scans/", {"dataset": str(customers.public_id), "samples": 5})
    assert requested.status_code == 202, requested.json()
    queued = requested.json()
    scan = QualityScan.objects.select_related("spark_run").get(public_id=queued["id"])
    assert scan.spark_run is not None
    assert (queued["state"], queued["trigger"], queued["requested_by"]) == ("queued", "manual", steward.username)
    assert queued["spark_run"] == {"id": str(scan.spark_run.public_id), "state": "queued"}
    assert queued["results"] == []

    samples = [{"customer_id": "c-1", "email": "not-an-email"}, {"customer_id": "c-2", "email": "x@"}]
    summary = {
        "rows_scanned": 2,
        "rules": [reported("email-format", "WARN", metric=1.0, failing_rows=2, failing_fraction=1.0, samples=samples)],
    }
    finish(scan, summary)
    detail = client.get(f"{BASE}/scans/{scan.public_id}/")
    assert detail.json()["state"] == "succeeded"
    assert detail.json()["spark_run"]["state"] == "succeeded"
    assert detail.json()["outcomes"]["WARN"] == 1
    [result] = detail.json()["results"]
    assert result["id"] == str(QualityResult.objects.get(scan=scan, rule_name="email-format").public_id)
    assert (result["outcome"], result["rule"], result["sample_count"]) == ("WARN", created.json()["id"], 2)
    assert sorted(result["sample_columns"]) == ["customer_id", "email"]
    assert "samples" not in result
    assert b"not-an-email" not in detail.content

    listed = client.get(f"{BASE}/results/", {"dataset": str(customers.public_id), "outcome": "WARN"})
    assert [r["id"] for r in listed.json()["results"]] == [result["id"]]
    assert b"not-an-email" not in listed.content
    assert client.get(f"{BASE}/results/", {"outcome": "FAIL"}).json()["count"] == 0
    assert client.get(f"{BASE}/results/", {"rule": created.json()["id"]}).json()["count"] == 1
    assert client.get(f"{BASE}/results/", {"scan": str(scan.public_id)}).json()["count"] == 1
    one = client.get(f"{BASE}/results/{result['id']}/")
    assert one.json()["scan"] == str(scan.public_id)
    assert b"not-an-email" not in one.content
    assert client.get(f"{BASE}/results/{scan.public_id}/").status_code == 404  # a scan's id is no result's

    def reads() -> int:
        return AuditEvent.objects.filter(action="read", target_type="quality.qualityresult").count()

    viewer, _ = token_client("auditor")
    masked = viewer.get(f"{BASE}/results/{result['id']}/samples/")
    assert masked.status_code == 200, masked.json()
    assert sorted(masked.json()["columns"]) == ["customer_id", "email"]
    assert masked.json()["rows"] == [{"customer_id": "c-1", "email": MASK}, {"customer_id": "c-2", "email": MASK}]
    assert (masked.json()["personal"], masked.json()["masked"]) == (["email"], True)
    assert reads() == 0
    shown = client.get(f"{BASE}/results/{result['id']}/samples/")
    assert shown.json()["rows"] == samples
    assert not shown.json()["masked"]
    event = AuditEvent.objects.get(action="read", target_type="quality.qualityresult")
    assert event.actor_id == str(steward.public_id)
    assert event.details["fields"] == ["email"]
    assert event.details["rows"] == 2


def test_a_steward_cancels_a_queued_scan(token_client: TokenClient, lake_datasets: dict[str, Dataset]) -> None:
    orders = lake_datasets["raw/orders"]
    make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    client, _ = steward_of(token_client, orders)
    queued = client.post(f"{BASE}/scans/", {"dataset": str(orders.public_id)}).json()
    cancelled = client.post(f"{BASE}/scans/{queued['id']}/cancel/")
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["spark_run"]["state"] == "cancelled"
    again = client.post(f"{BASE}/scans/{queued['id']}/cancel/")
    assert again.status_code == 409
    assert again.json()["code"] in ("run_finished", "scan_finished")


def test_scans_filter_by_dataset_state_trigger_and_creation_time(
    token_client: TokenClient, lake_datasets: dict[str, Dataset], finish: Finish
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    rule = make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    make_rule(customers, "id-present", RuleKind.NOT_NULL, ["customer_id"])
    old = scan_request(dataset=orders)
    done = finish(scan_request(dataset=customers), {"rows_scanned": 5, "rules": [reported("id-present", "PASS")]})
    test = rule_test_run(spec=RuleSpec.of(rule))
    QualityScan.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    client, _ = token_client("oncall_engineer")

    def ids(**params: str) -> set[str]:
        return {s["id"] for s in client.get(f"{BASE}/scans/", params).json()["results"]}

    assert ids(dataset=str(orders.public_id)) == {str(old.public_id), str(test.public_id)}
    assert ids(state="succeeded") == {str(done.public_id)}
    assert ids(trigger="test") == {str(test.public_id)}
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(created_before=yesterday) == {str(old.public_id)}
    assert ids(created_after=yesterday) == {str(done.public_id), str(test.public_id)}
    assert client.get(f"{BASE}/scans/", {"state": "exploded"}).status_code == 400


# --- schedules and test runs ------------------------------------------------------------------------------------
def test_a_cron_schedule_is_a_beat_entry_until_the_dataset_is_set_back_to_manual(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    client, _ = steward_of(token_client, orders, customers)
    url = f"{BASE}/datasets/{orders.public_id}/schedule/"
    name = f"{TASK_PREFIX}{orders.public_id}"
    cron = client.put(url, {"mode": "cron", "crontab": "30 6 * * 1-5", "samples": 20})
    assert cron.status_code == 200, cron.json()
    assert cron.json() == {
        "mode": "cron",
        "crontab": "30 6 * * 1-5",
        "partition_column": "",
        "last_partition": "",
        "samples": 20,
        "periodic_task": name,
    }
    task = PeriodicTask.objects.select_related("crontab").get(name=name)
    assert task.task == "quality.scan_dataset"
    assert task.enabled
    assert task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "6", "1-5")
    assert client.get(f"{BASE}/datasets/{orders.public_id}/").json()["schedule"]["mode"] == "cron"

    for body, field in [
        ({"mode": "cron", "crontab": "every morning"}, "crontab"),
        ({"mode": "cron", "crontab": "61 6 * * *"}, "crontab"),
        ({"mode": "partition"}, "partition_column"),
        ({"mode": "partition", "partition_column": "no_such_column"}, "partition_column"),
        ({"mode": "hourly"}, "mode"),
        ({"mode": "manual", "samples": 500}, "samples"),
    ]:
        refused = client.put(url, body)
        assert refused.status_code == 400, (body, refused.json())
        assert field in refused.json()["fields"], refused.json()
    assert PeriodicTask.objects.filter(name=name).exists()

    manual = client.put(url, {"mode": "manual"})
    assert manual.status_code == 200, manual.json()
    assert (manual.json()["mode"], manual.json()["periodic_task"]) == ("manual", None)
    assert not PeriodicTask.objects.filter(name=name).exists()
    assert ScanSchedule.objects.get(dataset=orders).periodic_task is None
    # A schedule may be set before a dataset's first rule; an unknown dataset is not found.
    early = client.put(f"{BASE}/datasets/{customers.public_id}/schedule/", {"mode": "cron", "crontab": "0 0 * * *"})
    assert early.status_code == 200, early.json()
    assert client.put(f"{BASE}/datasets/{uuid.uuid4()}/schedule/", {"mode": "manual"}).status_code == 404


def test_test_runs_of_a_saved_and_an_unsaved_rule_queue_test_scans(
    token_client: TokenClient, lake_datasets: dict[str, Dataset]
) -> None:
    orders = lake_datasets["raw/orders"]
    rule = make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    client, _ = steward_of(token_client, orders)
    saved = client.post(f"{BASE}/rules/{rule.public_id}/test/", {"sample_rows": 500})
    assert saved.status_code == 202, saved.json()
    assert (saved.json()["trigger"], saved.json()["sample_rows"]) == ("test", 500)
    assert [r["id"] for r in saved.json()["rules"]] == ["id-present"]
    run = QualityScan.objects.select_related("spark_run").get(public_id=saved.json()["id"]).spark_run
    assert run is not None
    assert run.args[-2:] == ["--sample-rows", "500"]
    default = client.post(f"{BASE}/rules/{rule.public_id}/test/")
    assert default.status_code == 202, default.json()
    assert default.json()["sample_rows"] == TEST_SAMPLE_ROWS

    unsaved = client.post(
        f"{BASE}/rules/test/",
        {
            "dataset": str(orders.public_id),
            "kind": RuleKind.RANGE,
            "columns": ["total_amount"],
            "params": {"min": 0},
            "fail_threshold": 0.0,
            "sample_rows": 100,
        },
    )
    assert unsaved.status_code == 202, unsaved.json()
    assert (unsaved.json()["trigger"], unsaved.json()["sample_rows"]) == ("test", 100)
    assert unsaved.json()["rules"][0]["kind"] == "range"
    assert unsaved.json()["rules"][0]["min"] == 0
    assert list(QualityRule.objects.values_list("name", flat=True)) == ["id-present"]

    invalid = client.post(
        f"{BASE}/rules/test/", {"dataset": str(orders.public_id), "kind": RuleKind.RANGE, "columns": ["total_amount"]}
    )
    assert invalid.status_code == 400
    assert {"params", "fail_threshold"} <= set(invalid.json()["fields"])
    too_few = client.post(f"{BASE}/rules/{rule.public_id}/test/", {"sample_rows": 0})
    assert too_few.status_code == 400
    assert "sample_rows" in too_few.json()["fields"]
    assert QualityScan.objects.count() == 3


# --- dataset quality --------------------------------------------------------------------------------------------
def test_dataset_quality_shows_rule_counts_latest_scores_trend_and_schedule(
    token_client: TokenClient, lake_datasets: dict[str, Dataset], finish: Finish
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    amount = make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0}, severity="critical")
    make_rule(orders, "id-present", RuleKind.NOT_NULL, ["order_id"])
    make_rule(orders, "off", RuleKind.NOT_NULL, ["customer_id"], enabled=False)
    summary = {
        "rows_scanned": 1000,
        "rules": [reported("amount", "FAIL", metric=0.01, failing_rows=10), reported("id-present", "PASS")],
    }
    scan = finish(scan_request(dataset=orders), summary)
    # A later test run counts in no score: the latest scan stays the scored one.
    finish(rule_test_run(spec=RuleSpec.of(amount)), {"rows_scanned": 10, "rules": [reported("amount", "PASS")]})
    client, _ = token_client("auditor")

    listed = client.get(f"{BASE}/datasets/").json()
    assert [d["id"] for d in listed["results"]] == [str(orders.public_id)]  # customers has no rules
    item = listed["results"][0]
    assert (item["rules"], item["enabled_rules"], item["failing_rules"], item["warning_rules"]) == (3, 2, 1, 0)
    latest = item["latest_scan"]
    assert latest["id"] == str(scan.public_id)
    assert (latest["quality_score"], latest["trust_score"]) == (scan.quality_score, scan.trust_score)
    assert latest["quality_score"] is not None
    assert latest["score_details"]["parts"]["quality"] == scan.quality_score
    assert (latest["outcomes"]["FAIL"], latest["outcomes"]["PASS"]) == (1, 1)
    assert item["schedule"]["mode"] == "manual"
    assert "trend" not in item

    detail = client.get(f"{BASE}/datasets/{orders.public_id}/").json()
    assert detail["latest_scan"]["id"] == str(scan.public_id)
    [day] = detail["trend"]
    assert (day["quality_score"], day["failed"], day["passed"], day["scans"]) == (scan.quality_score, 1, 1, 1)
    assert client.get(f"{BASE}/datasets/{customers.public_id}/").status_code == 404
    products = lake_datasets["raw/products"]
    make_rule(products, "id-present", RuleKind.NOT_NULL, ["product_id"])

    def ids(**params: str) -> list[str]:
        return [d["id"] for d in client.get(f"{BASE}/datasets/", params).json()["results"]]

    assert ids(failing="true") == [str(orders.public_id)]
    assert ids(failing="false") == [str(products.public_id)]
    assert ids() == [str(orders.public_id), str(products.public_id)]  # by name
    assert ids(ordering="failing_rules") == [str(products.public_id), str(orders.public_id)]
    assert client.get(f"{BASE}/datasets/{products.public_id}/").json()["latest_scan"] is None


# --- query counts -----------------------------------------------------------------------------------------------
@pytest.fixture
def grow(lake: str, finish: Finish, make_user: Callable[..., User]) -> Callable[[int], None]:
    """Add datasets, each with two rules (one referencing a dataset), a cron schedule, a finished and a queued scan."""
    numbers = itertools.count()

    def add(count: int) -> None:
        for _ in range(count):
            dataset, _ = dataset_upsert(namespace=lake, name=f"raw/extra_{next(numbers)}")
            owner = make_user()
            make_rule(dataset, "rows", RuleKind.ROW_COUNT, [], params={"min": 1}, owner=owner)
            make_rule(
                dataset, "ref", RuleKind.REFERENTIAL, ["x"], reference_dataset=dataset, reference_field="x", owner=owner
            )
            schedule_set(dataset=dataset, mode="cron", crontab="0 6 * * *")
            summary = {"rows_scanned": 10, "rules": [reported("rows", "PASS"), reported("ref", "FAIL")]}
            finish(scan_request(dataset=dataset, requested_by=owner), summary)
            scan_request(dataset=dataset, requested_by=owner)

    return add


@pytest.mark.parametrize("resource", ["rules", "scans", "results", "datasets"])
def test_list_queries_do_not_grow_with_the_page(
    token_client: TokenClient, grow: Callable[[int], None], resource: str
) -> None:
    client, _ = token_client("auditor")
    url = f"{BASE}/{resource}/"
    assert_queries_constant(lambda: client.get(url), grow)
    assert client.get(url).json()["count"] == {"rules": 24, "scans": 24, "results": 24, "datasets": 12}[resource]
    assert QualityResult.objects.count() == 24
