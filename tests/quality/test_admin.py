"""The quality admin: stewards write rules of their datasets only, validated field by field; a test run evaluates the
unsaved form on a sample and answers its result with personal values masked; schedules follow django-celery-beat;
scans are read-only history with their results inline and no sample values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from apps.catalog.models import Dataset
from apps.catalog.stewardship import dataset_role_assign
from apps.common.models import User
from apps.quality.choices import Outcome, RuleKind, ScanState, ScanTrigger, ScheduleMode
from apps.quality.models import QualityRule, QualityScan, ScanSchedule
from apps.quality.samples import MASK
from apps.quality.services import rule_save, scan_request
from apps.sparkruns.choices import RunState
from tests.quality.conftest import reported

pytestmark = pytest.mark.django_db

TEST_RUN = "admin:quality_qualityrule_test_run"


@pytest.fixture
def steward_of(make_user: Callable[..., User]) -> Callable[..., User]:
    """A staff data steward who stewards exactly the given datasets."""

    def make(*datasets: Dataset) -> User:
        user = make_user(role="data_steward", is_staff=True)
        for dataset in datasets:
            dataset_role_assign(dataset=dataset, user=user, role="steward", actor=None)
        return user

    return make


def make_rule(dataset: Dataset, name: str, kind: str, columns: list[str], **kwargs: Any) -> QualityRule:
    kwargs.setdefault("fail_threshold", 0.0)
    return rule_save(rule=QualityRule(dataset=dataset, name=name, kind=kind, columns=columns, **kwargs))


def rule_form(dataset: Dataset, **changes: str) -> dict[str, str]:
    """The rule change form as a browser posts it."""
    form = {
        "dataset": str(dataset.pk), "name": "amount-positive", "description": "", "kind": RuleKind.RANGE,
        "columns": '["total_amount"]', "params": '{"min": 0}', "reference_dataset": "", "reference_field": "",
        "warn_threshold": "", "fail_threshold": "0", "severity": "error", "owner": "", "enabled": "on",
    }  # fmt: skip
    form.update(changes)
    return form


def test_a_steward_lists_opens_and_changes_only_the_rules_of_datasets_they_steward(
    client: Client,
    lake_datasets: dict[str, Dataset],
    steward_of: Callable[..., User],
    make_user: Callable[..., User],
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    mine = make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    theirs = make_rule(customers, "email", RuleKind.NOT_NULL, ["email"])
    client.force_login(steward_of(orders))

    page = client.get(reverse("admin:quality_qualityrule_changelist"))
    assert page.status_code == 200
    assert [r.pk for r in page.context["cl"].result_list] == [mine.pk]
    add = client.get(reverse("admin:quality_qualityrule_add"))
    assert [d.pk for d in add.context["adminform"].form.fields["dataset"].queryset] == [orders.pk]
    assert b"/raw/orders</option>" in add.content
    assert b"/raw/customers</option>" not in add.content
    assert b"Test run on a sample" in add.content
    assert b"quality/admin-test-run.js" in add.content

    assert client.get(reverse("admin:quality_qualityrule_change", args=[mine.pk])).status_code == 200
    other = reverse("admin:quality_qualityrule_change", args=[theirs.pk])
    assert client.get(other).status_code == 302  # not in the steward's queryset: "does not exist"
    client.post(other, rule_form(customers, name="email", kind=RuleKind.NOT_NULL, columns='["email"]', params="{}"))
    client.post(reverse("admin:quality_qualityrule_delete", args=[theirs.pk]), {"post": "yes"})
    theirs.refresh_from_db()
    assert (theirs.kind, theirs.fail_threshold) == (RuleKind.NOT_NULL, 0.0)

    changed = client.post(
        reverse("admin:quality_qualityrule_change", args=[mine.pk]),
        rule_form(orders, name="amount", params='{"min": 1}', warn_threshold="0"),
    )
    assert changed.status_code == 302
    mine.refresh_from_db()
    assert (mine.params, mine.warn_threshold) == ({"min": 1}, 0.0)

    client.force_login(make_user(role="auditor", is_staff=True))  # read-only roles read every rule
    assert len(client.get(reverse("admin:quality_qualityrule_changelist")).context["cl"].result_list) == 2
    read = client.get(reverse("admin:quality_qualityrule_change", args=[theirs.pk]))
    assert read.status_code == 200
    assert b"Test run on a sample" not in read.content


def test_adding_a_valid_rule_saves_it_with_the_current_user_as_owner(
    client: Client, lake_datasets: dict[str, Dataset], steward_of: Callable[..., User]
) -> None:
    orders = lake_datasets["raw/orders"]
    steward = steward_of(orders)
    client.force_login(steward)
    assert client.get(reverse("admin:quality_qualityrule_add")).context["adminform"].form.initial["owner"] == steward.pk
    response = client.post(reverse("admin:quality_qualityrule_add"), rule_form(orders))
    assert response.status_code == 302
    rule = QualityRule.objects.get()
    assert (rule.dataset, rule.name, rule.kind, rule.columns, rule.params) == (
        orders, "amount-positive", RuleKind.RANGE, ["total_amount"], {"min": 0},
    )  # fmt: skip
    assert rule.owner == steward


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"kind": RuleKind.REGEX, "columns": '["status"]', "params": '{"pattern": "(["}'}, "params", "invalid regular"),
        ({"kind": RuleKind.NOT_NULL, "columns": '["no_such_column"]', "params": "{}"}, "columns", "no_such_column"),
        ({"warn_threshold": "0.5", "fail_threshold": "0.1"}, "warn_threshold", "above the fail threshold"),
        ({"kind": RuleKind.REFERENTIAL, "columns": '["customer_id"]', "params": "{}"}, "reference_dataset", "needs"),
        ({"columns": "not json"}, "columns", "JSON"),
    ],
)
def test_an_invalid_rule_is_shown_again_with_the_error_on_its_field_and_nothing_is_saved(
    client: Client,
    lake_datasets: dict[str, Dataset],
    steward_of: Callable[..., User],
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    orders = lake_datasets["raw/orders"]
    client.force_login(steward_of(orders))
    response = client.post(reverse("admin:quality_qualityrule_add"), rule_form(orders, **changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert not QualityRule.objects.exists()


def test_a_test_run_of_the_unsaved_form_queues_a_test_scan_and_saves_no_rule(
    lake_datasets: dict[str, Dataset], steward_of: Callable[..., User]
) -> None:
    orders = lake_datasets["raw/orders"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(steward_of(orders))
    url = reverse(TEST_RUN)
    assert client.post(url, rule_form(orders)).status_code == 403  # CSRF protected
    client.get(reverse("admin:quality_qualityrule_add"))
    token = client.cookies["csrftoken"].value
    response = client.post(url, {**rule_form(orders), "sample_rows": "500", "csrfmiddlewaretoken": token})
    assert response.status_code == 202
    answer = response.json()
    scan = QualityScan.objects.get()
    assert answer == {
        "scan": str(scan.public_id),
        "status_url": reverse("admin:quality_qualityrule_test_run_status", args=[scan.public_id]),
    }
    assert (scan.trigger, scan.sample_rows, scan.dataset) == (ScanTrigger.TEST, 500, orders)
    assert scan.rules[0]["id"] == "amount-positive"
    assert not QualityRule.objects.exists()


def test_a_test_run_of_a_saved_rule_validates_as_its_change_form_and_leaves_the_rule_as_it_was(
    client: Client, lake_datasets: dict[str, Dataset], steward_of: Callable[..., User]
) -> None:
    orders = lake_datasets["raw/orders"]
    rule = make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    client.force_login(steward_of(orders))
    assert (
        f"?rule={rule.public_id}"
        in client.get(reverse("admin:quality_qualityrule_change", args=[rule.pk])).content.decode()
    )
    # Without naming the rule, its own name collides with itself; named, the form knows it edits that rule.
    collides = client.post(reverse(TEST_RUN), rule_form(orders, name="amount"))
    assert collides.status_code == 400
    assert "already exists" in " ".join(collides.json()["fields"]["non_field_errors"])
    response = client.post(
        f"{reverse(TEST_RUN)}?rule={rule.public_id}", rule_form(orders, name="amount", params='{"min": 5}')
    )
    assert response.status_code == 202
    assert QualityScan.objects.get().rules[0]["min"] == 5
    rule.refresh_from_db()
    assert rule.params == {"min": 0}


def test_an_invalid_test_run_answers_400_with_the_fields_and_queues_nothing(
    client: Client, lake_datasets: dict[str, Dataset], steward_of: Callable[..., User]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    client.force_login(steward_of(orders))
    response = client.post(reverse(TEST_RUN), rule_form(orders, params='{"pattern": "(["}', kind=RuleKind.REGEX))
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "rule_invalid"
    assert "params" in answer["fields"]
    assert "invalid regular expression" in answer["detail"]
    refused = client.post(reverse(TEST_RUN), {**rule_form(customers), "sample_rows": "0"})
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) >= {"dataset", "sample_rows"}  # not a dataset they steward
    assert not QualityScan.objects.exists()


def test_the_status_of_a_finished_test_run_shows_the_outcome_and_masks_samples_for_a_viewer(
    lake_datasets: dict[str, Dataset],
    steward_of: Callable[..., User],
    finish: Callable[..., QualityScan],
) -> None:
    customers = lake_datasets["raw/customers"]
    customers.fields.filter(name="email").update(identity_kind="email")
    steward = Client()
    steward.force_login(steward_of(customers))
    form = rule_form(
        customers, name="email-format", kind=RuleKind.REGEX, columns='["email"]', params='{"pattern": "^[^@]+@.+$"}'
    )
    queued = steward.post(reverse(TEST_RUN), form).json()
    viewer = Client()
    viewer.force_login(steward_of(lake_datasets["raw/orders"]))  # reads scans, may not see customers' e-mails

    waiting = viewer.get(queued["status_url"]).json()
    assert (waiting["state"], waiting["finished"], waiting["result"]) == (ScanState.QUEUED, False, None)
    assert waiting["run_state"] == RunState.QUEUED

    samples = [{"customer_id": "c-1", "email": "not-an-email"}, {"customer_id": "c-2", "email": "x@"}]
    summary = {
        "rows_scanned": 800,
        "rules": [reported("email-format", "FAIL", metric=0.0025, failing_rows=2, failing_fraction=0.0025,
                           samples=samples)],
    }  # fmt: skip
    finish(QualityScan.objects.get(public_id=queued["scan"]), summary)
    answer = viewer.get(queued["status_url"]).json()
    assert answer["finished"] is True
    assert answer["rows_scanned"] == 800
    result = answer["result"]
    assert (result["rule"], result["outcome"], result["failing_rows"]) == ("email-format", Outcome.FAIL, 2)
    assert result["failing_fraction"] == pytest.approx(0.0025)
    assert result["message"] == "email-format FAIL"
    assert result["samples"]["masked"] is True
    assert result["samples"]["personal"] == ["email"]
    assert result["samples"]["rows"] == [{"customer_id": "c-1", "email": MASK}, {"customer_id": "c-2", "email": MASK}]
    assert "not-an-email" not in str(answer)
    shown = steward.get(queued["status_url"]).json()["result"]["samples"]
    assert (shown["masked"], shown["rows"]) == (False, samples)  # the dataset's steward sees them


def test_a_cron_schedule_saved_in_the_admin_creates_the_beat_task_and_manual_removes_it(
    client: Client, lake_datasets: dict[str, Dataset], steward_of: Callable[..., User]
) -> None:
    orders = lake_datasets["raw/orders"]
    client.force_login(steward_of(orders))
    form = {"dataset": str(orders.pk), "mode": ScheduleMode.CRON, "crontab": "15 6 * * 1-5", "samples": "10"}
    bad = client.post(reverse("admin:quality_scanschedule_add"), {**form, "crontab": "99 6 * * *"})
    assert bad.status_code == 200
    assert "crontab" in bad.context["adminform"].form.errors
    assert not ScanSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="quality.scan_dataset").exists()

    assert client.post(reverse("admin:quality_scanschedule_add"), form).status_code == 302
    schedule = ScanSchedule.objects.get(dataset=orders)
    task = PeriodicTask.objects.get(task="quality.scan_dataset")
    assert schedule.periodic_task == task
    assert task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("15", "6", "1-5")
    assert task.enabled

    change = reverse("admin:quality_scanschedule_change", args=[schedule.pk])
    assert client.post(change, {**form, "mode": ScheduleMode.MANUAL, "crontab": ""}).status_code == 302
    schedule.refresh_from_db()
    assert (schedule.mode, schedule.periodic_task) == (ScheduleMode.MANUAL, None)
    assert not PeriodicTask.objects.filter(task="quality.scan_dataset").exists()


def test_the_scan_admin_shows_results_inline_without_sample_values_and_allows_no_changes(
    client: Client,
    lake_datasets: dict[str, Dataset],
    steward_of: Callable[..., User],
    finish: Callable[..., QualityScan],
) -> None:
    orders = lake_datasets["raw/orders"]
    make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    samples = [{"order_id": "o-secret-77", "total_amount": "-3.00"}]
    scan = finish(
        scan_request(dataset=orders),
        {"rows_scanned": 10, "rules": [reported("amount", "FAIL", failing_rows=1, samples=samples)]},
    )
    client.force_login(steward_of(orders))
    assert client.get(reverse("admin:quality_qualityscan_changelist")).status_code == 200
    page = client.get(reverse("admin:quality_qualityscan_change", args=[scan.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "amount FAIL" in html  # the result's message, inline
    assert "o-secret-77" not in html
    assert 'name="_save"' not in html  # read-only
    assert client.get(reverse("admin:quality_qualityscan_add")).status_code == 403


def test_cancelling_queued_scans_takes_stewardship_and_skips_finished_ones(
    client: Client,
    lake_datasets: dict[str, Dataset],
    steward_of: Callable[..., User],
    finish: Callable[..., QualityScan],
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0})
    make_rule(customers, "email", RuleKind.NOT_NULL, ["email"])
    queued, theirs = scan_request(dataset=orders), scan_request(dataset=customers)
    done = finish(scan_request(dataset=orders), {"rows_scanned": 1, "rules": [reported("amount", "PASS")]})
    client.force_login(steward_of(orders))
    response = client.post(
        reverse("admin:quality_qualityscan_changelist"),
        {"action": "cancel_selected", "_selected_action": [queued.pk, theirs.pk, done.pk]},
        follow=True,
    )
    notes = " ".join(str(m) for m in response.context["messages"])
    assert "Cancelled 1 scan(s)." in notes
    assert "you do not steward raw/customers" in notes
    states = {s.pk: s.spark_run.state for s in QualityScan.objects.select_related("spark_run") if s.spark_run}
    assert states[queued.pk] == RunState.CANCELLED
    assert states[theirs.pk] == RunState.QUEUED


def test_rule_actions_enable_disable_and_scan_only_stewarded_datasets(
    client: Client, lake_datasets: dict[str, Dataset], steward_of: Callable[..., User]
) -> None:
    orders, customers = lake_datasets["raw/orders"], lake_datasets["raw/customers"]
    amount = make_rule(orders, "amount", RuleKind.RANGE, ["total_amount"], params={"min": 0}, enabled=False)
    make_rule(orders, "ids", RuleKind.NOT_NULL, ["order_id"])
    email = make_rule(customers, "email", RuleKind.NOT_NULL, ["email"])
    admin_client = Client()
    admin_client.force_login(User.objects.create_user("quality-admin", is_staff=True, is_superuser=True))
    changelist = reverse("admin:quality_qualityrule_changelist")
    assert len(admin_client.get(changelist).context["cl"].result_list) == 3

    client.force_login(steward_of(orders))
    client.post(changelist, {"action": "enable_selected", "_selected_action": [amount.pk]})
    amount.refresh_from_db()
    assert amount.enabled
    # The changelist only offers the steward's own rules; another dataset's rule is not even selectable.
    client.post(changelist, {"action": "disable_selected", "_selected_action": [email.pk]})
    email.refresh_from_db()
    assert email.enabled

    response = client.post(
        changelist, {"action": "scan_datasets", "_selected_action": [amount.pk, amount.pk]}, follow=True
    )
    scan = QualityScan.objects.get()
    assert (scan.dataset, scan.trigger, len(scan.rules)) == (orders, ScanTrigger.MANUAL, 2)
    assert f"scan {scan.public_id} queued" in " ".join(str(m) for m in response.context["messages"])
    QualityRule.objects.filter(dataset=orders).update(enabled=False)
    refused = client.post(changelist, {"action": "scan_datasets", "_selected_action": [amount.pk]}, follow=True)
    assert "no enabled quality rule" in " ".join(str(m) for m in refused.context["messages"])
