"""Discovery from real Spark runs: the profile and PII-scan jobs run on a small generated lake, and their summaries
are consumed into datasets, schema versions, statistics and suggestions, once per run, in either order."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from apps.catalog.choices import PiiStatus, SuggestionStatus
from apps.catalog.discovery import discovery_request, pii_scan_consume, run_consume, runs_consume_pending
from apps.catalog.models import Dataset, Field, PiiSuggestion, RunConsumption, SchemaVersion
from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.signals import spark_run_finished
from tests.spark.conftest import spark  # noqa: F401 - the shared local Spark session

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def summaries(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    """The summaries the profile and pii_scan jobs produce on a lake of 400 generated orders."""
    from spark.jobs import pii_scan, profile
    from spark.jobs.base import base_parser, execute
    from spark.jobs.generate import generate_lake

    base = tmp_path_factory.mktemp("catalog_lake")
    root = "file://" + str(base)
    generate_lake(spark, root, orders=400, seed=11)
    out: dict[str, Any] = {"lake": root}
    for module in (profile, pii_scan):
        parser: argparse.ArgumentParser = base_parser(module.NAME)
        module.add_arguments(parser)
        args = parser.parse_args(["--lake", root, "--lineage-file", str(base / f"{module.NAME}.jsonl")])
        out[module.NAME] = execute(module.NAME, module.run, args, spark=spark).summary
    return out


def finished_run(job: str, summary: dict[str, Any], lake: str) -> SparkRun:
    return SparkRun.objects.create(
        job=job,
        lake_root=lake,
        backend="local",
        state=RunState.SUCCEEDED,
        summary=summary,
        finished_at=timezone.now(),
    )


def test_a_profile_run_registers_datasets_schemas_and_statistics(summaries: dict[str, Any]) -> None:
    run = finished_run("profile", summaries["profile"], summaries["lake"])
    outcome = run_consume(run=run)
    assert outcome is not None
    assert outcome["datasets"] >= 5
    customers = Dataset.objects.get(name="raw/customers")
    assert customers.namespace == summaries["lake"]  # the pair the job's lineage events carry
    assert customers.row_count == summaries["profile"]["datasets"]["raw/customers"]["rows"]
    assert customers.last_profiled_at is not None
    assert customers.schema_version == 1
    email = Field.objects.get(dataset=customers, name="email")
    assert email.data_type == "string"
    assert set(email.statistics) <= {"nulls", "null_fraction", "approx_distinct", "min_length", "max_length"}
    assert "top" not in email.statistics  # profile values are never kept
    assert run_consume(run=run) is None  # consumed once
    again = finished_run("profile", summaries["profile"], summaries["lake"])
    assert run_consume(run=again) == {"datasets": outcome["datasets"], "schema_versions": 0}
    assert SchemaVersion.objects.filter(dataset=customers).count() == 1


def test_a_pii_scan_consumes_the_profile_before_it_and_suggests_what_it_flagged(summaries: dict[str, Any]) -> None:
    profile = finished_run("profile", summaries["profile"], summaries["lake"])
    scan = finished_run("pii_scan", summaries["pii_scan"], summaries["lake"])
    outcome = run_consume(run=scan)  # the scan's consumer first applies the profile that finished before it
    assert RunConsumption.objects.filter(run_id=profile.run_id).exists()
    assert outcome is not None
    assert outcome["suggestions_created"] >= 3
    email = PiiSuggestion.objects.get(field__dataset__name="raw/customers", field__name="email")
    assert (email.category.key, email.status, email.detector) == (
        "user.contact.email",
        SuggestionStatus.PENDING,
        "email",
    )
    assert email.confidence > 0.9
    assert email.source_run == str(scan.run_id)
    assert PiiSuggestion.objects.filter(field__name="ip_address", category__key="user.device.ip_address").exists()
    assert Dataset.objects.get(name="raw/customers").pii_status == PiiStatus.SUGGESTED
    assert Dataset.objects.get(name="raw/products").pii_status in (PiiStatus.NONE, PiiStatus.SUGGESTED)
    count = PiiSuggestion.objects.count()
    rescan = finished_run("pii_scan", summaries["pii_scan"], summaries["lake"])
    assert run_consume(run=rescan)["suggestions_created"] == 0  # the same evidence refreshes, never duplicates
    assert PiiSuggestion.objects.count() == count


def test_a_pii_scan_of_a_dataset_never_profiled_catalogues_its_columns_and_suggests(summaries: dict[str, Any]) -> None:
    scan = finished_run("pii_scan", summaries["pii_scan"], summaries["lake"])
    outcome = pii_scan_consume(summary=scan.summary, source=str(scan.run_id))  # no profile consumed before it
    assert outcome["suggestions_created"] >= 3
    customers = Dataset.objects.get(name="raw/customers")
    scanned = {
        c["column"] for e in summaries["pii_scan"]["datasets"] if e["dataset"] == "raw/customers" for c in e["columns"]
    }
    assert scanned <= set(Field.objects.filter(dataset=customers).values_list("name", flat=True))
    assert Field.objects.get(dataset=customers, name="email").data_type == "string"
    assert PiiSuggestion.objects.filter(field__dataset=customers, field__name="email").exists()
    assert SchemaVersion.objects.get(dataset=customers).source == str(scan.run_id)


def test_a_finished_run_is_consumed_through_the_signal_and_lost_ones_by_the_sweeper(
    summaries: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.catalog import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.consume_run, "apply_async", lambda args, **kw: queued.append(args[0]))
    run = finished_run("profile", summaries["profile"], summaries["lake"])
    spark_run_finished.send(sender=SparkRun, run=run)
    failed = SparkRun.objects.create(job="profile", lake_root="x", backend="local", state=RunState.FAILED)
    spark_run_finished.send(sender=SparkRun, run=failed)
    assert queued == [run.pk]
    tasks.consume_run(run.pk)
    assert RunConsumption.objects.filter(run_id=run.run_id).exists()
    lost = finished_run("pii_scan", summaries["pii_scan"], summaries["lake"])
    assert runs_consume_pending() == 1
    assert RunConsumption.objects.filter(run_id=lost.run_id).exists()


def test_discovery_requests_a_profile_and_a_scan_after_it(settings: Any, make_user: Callable[..., Any]) -> None:
    profile, scan = discovery_request(idempotency_key="catalog:test", datasets=["raw/orders"])
    assert (profile.job, scan.job, scan.depends_on_id) == ("profile", "pii_scan", profile.pk)
    assert profile.args == ["--datasets", "raw/orders"]
    assert discovery_request(idempotency_key="catalog:test") == (profile, scan)
