"""Retention in the portal: the policy built from rules per dataset and per category (winners, skipped rules with
their reason), the dry run first and the applied run with exactly its policy, automatic application only for the
daily cycle's dry runs, the policy file handed to the job privately, and the retention page."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import DataCategory
from apps.catalog.services import FieldSpec, dataset_schema_apply, dataset_upsert, field_category_add
from apps.common.errors import Conflict
from apps.incidents.models import Alert
from apps.incidents.services import payloads_sweep
from apps.privacy.choices import RetentionMode, RunStatus
from apps.privacy.models import RetentionRule, RetentionRun
from apps.privacy.retention import (
    HASH_KEY_ENV,
    policy_file,
    retention_cycle,
    retention_policy,
    retention_run_consume,
    retention_run_start,
    retention_runs_sweep,
)
from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import job_environment
from tests.catalog.factories import DatasetFactory, FieldFactory
from tests.spark.conftest import spark  # noqa: F401 - the shared local Spark session

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)


@pytest.fixture
def lake(configured_lake: str) -> dict[str, Any]:
    events = DatasetFactory(name="raw/user_events")
    FieldFactory(dataset=events, name="event_ts", data_type="timestamp")
    ip_events = FieldFactory(dataset=events, name="ip_address", data_type="string")
    customers = DatasetFactory(name="raw/customers")
    FieldFactory(dataset=customers, name="customer_id", data_type="string", identity_kind="customer_id")
    email = FieldFactory(dataset=customers, name="email", data_type="string", identity_kind="email")
    FieldFactory(dataset=customers, name="first_name", data_type="string")
    FieldFactory(dataset=customers, name="updated_at", data_type="timestamp")
    orders = DatasetFactory(name="raw/orders")
    FieldFactory(dataset=orders, name="order_ts", data_type="timestamp")
    ip_orders = FieldFactory(dataset=orders, name="ip_address", data_type="string")
    FieldFactory(dataset=orders, name="total_amount", data_type="decimal(12,2)")
    for field, key in ((email, "user.contact.email"), (ip_events, "user.device.ip_address"),
                       (ip_orders, "user.device.ip_address")):  # fmt: skip
        field_category_add(field=field, category=DataCategory.objects.get(key=key), actor=None)
    RetentionRule.objects.create(name="events-13m", dataset=events, time_field="event_ts", days=395)
    RetentionRule.objects.create(
        name="customers-7y", dataset=customers, time_field="updated_at", days=2555, action="anonymise"
    )
    RetentionRule.objects.create(
        name="ip-2y",
        category=DataCategory.objects.get(key="user.device"),
        time_field="order_ts",
        days=730,
        action="anonymise",
    )
    RetentionRule.objects.create(name="off", dataset=orders, time_field="order_ts", days=1, enabled=False)
    return {"events": events, "customers": customers, "orders": orders}


def finish(run: RetentionRun, summary: dict[str, Any] | None, state: str = RunState.SUCCEEDED) -> RetentionRun:
    assert run.spark_run is not None
    now = timezone.now()
    SparkRun.objects.filter(pk=run.spark_run.pk).update(
        state=state, summary=summary, started_at=now, finished_at=now, error="" if summary else "boom"
    )
    run.spark_run.refresh_from_db()
    done = retention_run_consume(spark_run=run.spark_run)
    assert done is not None
    return done


def test_the_policy_names_each_dataset_once_with_its_cutoff_and_says_what_it_left_out(lake: dict[str, Any]) -> None:
    policy, skipped = retention_policy(as_of=AS_OF)
    entries = {e["dataset"]: e for e in policy["datasets"]}
    assert set(entries) == {"raw/user_events", "raw/customers", "raw/orders"}
    assert entries["raw/user_events"] == {
        "dataset": "raw/user_events", "time_column": "event_ts", "action": "delete", "rule": "events-13m",
        "older_than": (AS_OF - timedelta(days=395)).isoformat(),
    }  # fmt: skip
    # Anonymising customers touches their personal fields (strategies as for erasure), never the time column.
    assert entries["raw/customers"]["fields"] == {"customer_id": "hash", "email": "hash"}
    # The category rule reaches orders through ip_address (a child of user.device) and masks only that field.
    assert entries["raw/orders"]["fields"] == {"ip_address": "mask"}
    assert entries["raw/orders"]["older_than"] == (AS_OF - timedelta(days=730)).isoformat()
    # The category rule also reaches user events, which have no order_ts; disabled rules are not considered.
    assert {"rule": "ip-2y", "dataset": "raw/user_events", "reason": "no date or timestamp column 'order_ts'"} in (
        skipped
    )
    assert all(s["rule"] != "off" for s in skipped)


def test_where_rules_meet_deletion_wins_then_the_shorter_period(lake: dict[str, Any]) -> None:
    events = lake["events"]
    RetentionRule.objects.create(name="events-ip-90d", dataset=events, time_field="event_ts", days=90,
                                 action="anonymise")  # fmt: skip
    RetentionRule.objects.create(name="events-1y", dataset=events, time_field="event_ts", days=365)
    policy, skipped = retention_policy(as_of=AS_OF)
    chosen = next(e for e in policy["datasets"] if e["dataset"] == "raw/user_events")
    assert chosen["rule"] == "events-1y"
    reasons = {(s["rule"], s["reason"]) for s in skipped if s["dataset"] == "raw/user_events"}
    assert ("events-ip-90d", "events-1y applies") in reasons or ("events-ip-90d", "events-13m applies") in reasons
    assert ("events-13m", "events-1y applies") in reasons
    assert policy["hash_key_env"] == HASH_KEY_ENV


def test_a_rule_without_its_time_column_is_skipped_not_guessed(lake: dict[str, Any]) -> None:
    RetentionRule.objects.filter(name="customers-7y").update(time_field="last_login")
    policy, skipped = retention_policy(as_of=AS_OF)
    assert "raw/customers" not in {e["dataset"] for e in policy["datasets"]}
    assert {
        "rule": "customers-7y",
        "dataset": "raw/customers",
        "reason": "no date or timestamp column 'last_login'",
    } in (skipped)


def test_a_dry_run_comes_first_and_the_applied_run_uses_exactly_its_policy(
    lake: dict[str, Any], make_user: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    officer = make_user(role="compliance_officer")
    with pytest.raises(Conflict) as refused:
        retention_run_start(mode=RetentionMode.APPLY, actor=officer)
    assert refused.value.code == "dry_run_required"

    dry = retention_run_start(mode=RetentionMode.DRY_RUN, actor=officer, as_of=AS_OF)
    assert dry.spark_run is not None
    assert dry.spark_run.job == "retention"
    assert dry.spark_run.args == ["--policy", str(policy_file(dry)), "--dry-run"]
    env = job_environment(dry.spark_run)
    assert set(env) == {HASH_KEY_ENV}
    written = policy_file(dry)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert json.loads(written.read_text()) == dry.policy
    with pytest.raises(Conflict):
        retention_run_start(mode=RetentionMode.DRY_RUN, actor=officer)  # one run at a time

    report = {"dry_run": True, "datasets": {"raw/user_events": {"rows_expired": 12, "files_affected": 3}}}
    with django_capture_on_commit_callbacks(execute=True):
        dry = finish(dry, report)
    assert dry.status == RunStatus.SUCCEEDED
    assert not written.exists()
    # A dry run started by staff waits for them, whatever the automatic setting says.
    assert not RetentionRun.objects.filter(mode=RetentionMode.APPLY).exists()

    RetentionRule.objects.filter(name="events-13m").update(days=30)  # a later edit does not change what was reviewed
    applied = retention_run_start(mode=RetentionMode.APPLY, actor=officer, dry_run=dry)
    assert applied.policy == dry.policy
    assert applied.as_of == dry.as_of
    assert applied.spark_run is not None
    assert "--dry-run" not in applied.spark_run.args
    with pytest.raises(Conflict) as twice:
        retention_run_start(mode=RetentionMode.APPLY, actor=officer, dry_run=dry)
    assert twice.value.code in ("dry_run_applied", "retention_active")
    failed = finish(applied, None, RunState.FAILED)
    assert failed.status == RunStatus.FAILED
    payloads_sweep(older_than=timedelta(0))  # alerts are stored first and processed by the sweeper
    assert Alert.objects.filter(name="RetentionRunFailed", status="firing").exists()


def test_the_daily_cycle_dry_runs_once_a_day_and_applies_its_own_dry_run(lake: dict[str, Any]) -> None:
    first = retention_cycle(now=AS_OF)
    assert first is not None
    assert first.mode == RetentionMode.DRY_RUN
    assert retention_cycle(now=AS_OF + timedelta(hours=1)) is None  # a run is active / one a day
    assert first.spark_run is not None
    SparkRun.objects.filter(pk=first.spark_run.pk).update(state=RunState.SUCCEEDED, summary={"datasets": {}})
    assert retention_runs_sweep() == 1  # the consumption task was lost: the sweeper records it
    applied = RetentionRun.objects.get(mode=RetentionMode.APPLY)
    assert applied.dry_run_id == first.pk
    assert applied.requested_by is None


def test_the_retention_page_shows_rules_and_reports_and_starts_a_dry_run(
    lake: dict[str, Any], make_user: Callable[..., Any], client: Any
) -> None:
    client.force_login(make_user(role="auditor"))
    page = client.get(reverse("privacy:retention"))
    assert page.status_code == 200
    assert "events-13m" in page.content.decode()
    assert client.post(reverse("privacy:retention")).status_code == 403  # auditors read, never run

    client.force_login(make_user(role="compliance_officer"))
    response = client.post(reverse("privacy:retention"), follow=True)
    assert "Retention dry run started." in response.content.decode()
    run = RetentionRun.objects.get()
    finish(run, {"dry_run": True, "datasets": {"raw/user_events": {"rows_expired": 12, "files_affected": 3}}})
    page = client.get(reverse("privacy:retention")).content.decode()
    assert "Apply this dry run" in page
    assert "12" in page


@pytest.mark.slow
def test_the_real_retention_job_runs_the_dry_run_then_applies_exactly_it(
    spark: Any,  # noqa: F811
    configured_lake: str,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """On a generated lake: the dry run writes nothing and counts the expired clickstream rows; the applied run
    removes exactly them; both reports land on their runs."""
    import argparse

    from spark.jobs import retention as job
    from spark.jobs.base import base_parser, execute
    from spark.jobs.generate import generate_lake
    from spark.schema import USER_EVENTS

    generate_lake(spark, configured_lake, orders=200, seed=5, bad_share=0.0, days=20)
    dataset, _ = dataset_upsert(namespace=configured_lake, name=USER_EVENTS.path, defaults={"format": "parquet"})
    specs = [FieldSpec(f.name, f.dataType.simpleString(), True) for f in USER_EVENTS.schema.fields]
    dataset_schema_apply(dataset=dataset, fields=specs, source="test")
    events = spark.read.parquet(f"{configured_lake}/{USER_EVENTS.path}")
    newest = events.agg({"event_ts": "max"}).collect()[0][0]
    as_of = newest.replace(tzinfo=UTC) + timedelta(days=10)  # keep 15 days: the oldest ~5 days expire
    cutoff = as_of - timedelta(days=15)
    expected = events.where(events.event_ts < cutoff.replace(tzinfo=None)).count()
    total = events.count()
    assert 0 < expected < total
    RetentionRule.objects.create(name="events-15d", dataset=dataset, time_field="event_ts", days=15)

    def run_job(run: RetentionRun) -> RetentionRun:
        assert run.spark_run is not None
        for name, value in job_environment(run.spark_run).items():
            monkeypatch.setenv(name, value)
        parser: argparse.ArgumentParser = base_parser(job.NAME)
        job.add_arguments(parser)
        args = parser.parse_args(
            ["--lake", configured_lake, "--run-id", str(run.spark_run.run_id), *run.spark_run.args]
        )
        summary = execute(job.NAME, job.run, args, spark=spark).summary
        with django_capture_on_commit_callbacks(execute=True):
            return finish(run, summary)

    dry = run_job(retention_run_start(mode=RetentionMode.DRY_RUN, actor=None, as_of=as_of))
    assert dry.status == RunStatus.SUCCEEDED
    assert dry.summary["datasets"][USER_EVENTS.path]["rows_expired"] == expected
    spark.catalog.clearCache()
    assert spark.read.parquet(f"{configured_lake}/{USER_EVENTS.path}").count() == total  # nothing written
    applied = RetentionRun.objects.get(mode=RetentionMode.APPLY)  # the cycle's own dry run is applied by itself
    applied = run_job(applied)
    assert applied.status == RunStatus.SUCCEEDED
    report = applied.summary["datasets"][USER_EVENTS.path]
    assert report["rows_deleted"] == expected
    assert report["verification"]["verified"] is True
    spark.catalog.clearCache()
    left = spark.read.parquet(f"{configured_lake}/{USER_EVENTS.path}")
    assert left.count() == total - expected
    assert left.where(left.event_ts < cutoff.replace(tzinfo=None)).count() == 0
