"""Executing a request on a generated lake: the approved plan reaches the real ``dsr_erase`` job only through a
private file (never its arguments), the key only through its environment; the finished run is recorded once, the
subject is gone from the lake, and the request gets a certificate whose Ed25519 signature verifies and breaks when
the document is altered. Refusals (unapproved plan, a second run, the EMR backend) leave nothing behind."""

from __future__ import annotations

import argparse
import json
import stat
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import DataCategory, Dataset, RetentionPolicy
from apps.catalog.services import FieldSpec, dataset_schema_apply, dataset_upsert, field_category_add
from apps.common.errors import Conflict
from apps.privacy.certificates import certificate_verify
from apps.privacy.choices import RequestStatus, RunStatus
from apps.privacy.execution import HASH_KEY_ENV, plan_file, progress_file, request_run_consume, request_run_start
from apps.privacy.models import DataSubjectRequest, ErasureCertificate, RequestRun
from apps.privacy.planning import plan_approve, plan_build
from apps.privacy.requests import request_create, request_transition
from apps.privacy.services import subject_identity_add
from apps.sparkruns.choices import RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import job_environment
from tests.catalog.factories import dataset_edge
from tests.spark.conftest import spark  # noqa: F401 - the shared local Spark session

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

IDENTITY_FIELDS = {("raw/customers", "customer_id"): "customer_id", ("raw/customers", "email"): "email",
                   ("raw/orders", "customer_id"): "customer_id",
                   ("analytics/customer_segments", "customer_id"): "customer_id"}  # fmt: skip
CATEGORIES = {("raw/customers", "email"): "user.contact.email", ("raw/customers", "first_name"): "user.name",
              ("raw/orders", "ip_address"): "user.device.ip_address"}  # fmt: skip


@pytest.fixture
def lake(spark: Any, configured_lake: str) -> str:  # noqa: F811
    """A generated lake, its customers and orders catalogued with identity fields and categories; orders on hold."""
    from spark.jobs.generate import generate_lake
    from spark.schema import CUSTOMERS, ORDERS

    # The taxonomy and retention policies the migrations seed (a transactional test run before may have flushed them).
    seeded = import_module("apps.catalog.migrations.0003_taxonomy_and_retention")
    seeded.install(django_apps, None)
    generate_lake(spark, configured_lake, orders=300, seed=11, bad_share=0.0, days=12)
    for entry in (CUSTOMERS, ORDERS):
        dataset, _ = dataset_upsert(namespace=configured_lake, name=entry.path, defaults={"format": "parquet"})
        specs = [FieldSpec(f.name, f.dataType.simpleString(), True) for f in entry.schema.fields]
        dataset_schema_apply(dataset=dataset, fields=specs, source="test")
        if entry is ORDERS:
            dataset.retention_policy = RetentionPolicy.objects.get(name="transactions")
            dataset.save(update_fields=["retention_policy"])
    # A downstream copy (lineage raw/customers → analytics/customer_segments) the subject must vanish from too.
    copy = "analytics/customer_segments"
    customers = spark.read.parquet(f"{configured_lake}/{CUSTOMERS.path}")
    customers.selectExpr("customer_id", "country", "CAST(length(email) % 3 AS INT) AS segment").coalesce(
        2
    ).write.parquet(f"{configured_lake}/{copy}")
    segments, _ = dataset_upsert(namespace=configured_lake, name=copy, defaults={"format": "parquet"})
    specs = [FieldSpec("customer_id", "string", False), FieldSpec("country", "string", True),
             FieldSpec("segment", "int", True)]  # fmt: skip
    dataset_schema_apply(dataset=segments, fields=specs, source="test")
    dataset_edge(Dataset.objects.get(name=CUSTOMERS.path), segments)
    for (name, column), kind in IDENTITY_FIELDS.items():
        Dataset.objects.get(name=name).fields.filter(name=column).update(identity_kind=kind)
    for (name, column), key in CATEGORIES.items():
        field = Dataset.objects.get(name=name).fields.get(name=column)
        field_category_add(field=field, category=DataCategory.objects.get(key=key), actor=None)
    return configured_lake


def customer(spark: Any, lake: str, position: int = 0) -> dict[str, str]:  # noqa: F811
    """A customer of the lake with orders: its id and e-mail."""
    orders = spark.read.parquet(f"{lake}/raw/orders").select("customer_id").distinct()
    rows = (
        spark.read.parquet(f"{lake}/raw/customers")
        .join(orders, "customer_id")
        .where("email IS NOT NULL")
        .orderBy("customer_id")
        .collect()
    )
    return {"customer_id": rows[position]["customer_id"], "email": rows[position]["email"]}


def verified_request(who: dict[str, str], request_type: str = "gdpr.erasure") -> DataSubjectRequest:
    request = request_create(kind="email", value=who["email"], request_type=request_type, channel="web")
    subject_identity_add(subject=request.subject, kind="customer_id", value=who["customer_id"])
    for status in (RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED):
        request = request_transition(request=request, status=status, actor=None)
    return request


def execute_job(spark: Any, run: SparkRun, lake: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # noqa: F811
    """Run the Spark run's job in this process exactly as submitted: its arguments, and the environment the portal
    hands the backend (which also writes the plan file)."""
    from spark.jobs import dsr_erase
    from spark.jobs.base import base_parser, execute

    env = job_environment(run)
    assert set(env) == {HASH_KEY_ENV}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parser: argparse.ArgumentParser = base_parser(run.job)
    dsr_erase.add_arguments(parser)
    args = parser.parse_args(["--lake", lake, "--run-id", str(run.run_id), *run.args])
    return execute(run.job, dsr_erase.run, args, spark=spark).summary


def finish(run: SparkRun, summary: dict[str, Any] | None, state: str = RunState.SUCCEEDED) -> None:
    now = timezone.now()
    SparkRun.objects.filter(pk=run.pk).update(
        state=state, summary=summary, started_at=now, finished_at=now, error="" if summary else "boom"
    )
    run.refresh_from_db()


@pytest.fixture
def officer(make_user: Callable[..., Any]) -> Any:
    return make_user(role="compliance_officer")


def test_an_erasure_runs_from_a_private_plan_file_and_ends_with_a_signed_certificate(
    spark: Any,  # noqa: F811
    lake: str,
    officer: Any,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer(spark, lake)
    request = verified_request(who)
    plan_build(request=request, actor=officer)
    with pytest.raises(Conflict) as refused:
        request_run_start(request=request, actor=officer)
    assert refused.value.code == "plan_not_approved"
    plan_approve(request=request, actor=officer)

    with django_capture_on_commit_callbacks(execute=False):
        run = request_run_start(request=request, actor=officer)
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    assert run.status == RunStatus.QUEUED
    spark_run = run.spark_run
    assert spark_run is not None
    assert spark_run.job == "dsr_erase"
    # Only the plan file's path travels in the stored, displayed arguments; never an identity value.
    assert spark_run.args == ["--plan", str(plan_file(run)), "--progress", str(progress_file(run))]
    stored = json.dumps([spark_run.args, run.plan])
    assert who["email"] not in stored
    assert who["customer_id"] not in stored
    assert {r["dataset"]: r["action"] for r in run.plan} == {
        "raw/customers": "delete",
        "raw/orders": "anonymise",
        "analytics/customer_segments": "delete",
    }
    with pytest.raises(Conflict) as again:
        request_run_start(request=request, actor=officer)
    assert again.value.code == "run_active"

    summary = execute_job(spark, spark_run, lake, monkeypatch)
    path = plan_file(run)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["subjects"][0]["keys"]["email"] == [who["email"]]
    import os

    assert os.environ[HASH_KEY_ENV] not in json.dumps(summary)
    assert summary["verified"] is True
    # While the run is open, the request page follows the job's progress file (counts only).
    client.force_login(officer)
    following = client.get(reverse("privacy:request-detail", kwargs={"public_id": request.public_id})).content.decode()
    assert 'value="5" max="5"' in following  # resolution, three datasets, verification
    assert "raw/customers delete: 1 row in 1 file" in following
    assert who["email"] not in progress_file(run).read_text()

    finish(spark_run, summary)
    with django_capture_on_commit_callbacks(execute=True):
        consumed = request_run_consume(spark_run=spark_run)
    assert consumed is not None
    assert consumed.status == RunStatus.SUCCEEDED
    assert consumed.document == ""  # the identity values are not kept once the run ended
    assert not path.exists()
    assert not progress_file(run).exists()
    assert request_run_consume(spark_run=spark_run).pk == consumed.pk  # recorded once
    assert ErasureCertificate.objects.filter(run=consumed).count() == 1

    customers = spark.read.parquet(f"{lake}/raw/customers")
    assert customers.where(f"customer_id = '{who['customer_id']}'").count() == 0
    orders = spark.read.parquet(f"{lake}/raw/orders")
    assert orders.where(f"customer_id = '{who['customer_id']}'").count() == 0
    segments = spark.read.parquet(f"{lake}/analytics/customer_segments")
    assert segments.where(f"customer_id = '{who['customer_id']}'").count() == 0  # gone from the downstream copy
    assert segments.count() == customers.count()  # and nobody else is

    certificate = ErasureCertificate.objects.get(run=consumed)
    document = json.loads(certificate.document)
    assert document["verified"] is True
    assert document["request"]["reference"] == request.reference
    by_name = {d["dataset"]: d for d in document["datasets"]}
    assert by_name["raw/customers"]["rows_deleted"] == 1
    assert by_name["raw/orders"]["rows_anonymised"] == by_name["raw/orders"]["rows_matched"] > 0
    assert all(f["sha256_before"] != f["sha256_after"] for f in by_name["raw/orders"]["files_rewritten"])
    assert who["email"] not in certificate.document
    assert certificate_verify(certificate)
    certificate.document = certificate.document.replace('"verified":true', '"verified":false')
    assert not certificate_verify(certificate)

    # Every step is on the timeline and in the audit log (with the run's plan document masked).
    from apps.audit.models import AuditEvent
    from apps.audit.services import audit_seal_pending

    steps = [e.data.get("status", e.kind) if e.kind == "status" else e.kind for e in request.timeline.all()]
    for kind in ("received", "verified", "planned", "plan_approved", "in_progress", "run_started", "certificate",
                 "run_succeeded"):  # fmt: skip
        assert kind in steps
    assert document["request"]["verified_at"] is not None
    audit_seal_pending()
    audited = set(AuditEvent.objects.values_list("target_type", "action"))
    for target in ("privacy.requestevent", "privacy.requestplan", "privacy.requestrun", "privacy.erasurecertificate"):
        assert (target, "create") in audited, target
    run_events = AuditEvent.objects.filter(target_type="privacy.requestrun")
    assert all(who["email"] not in json.dumps(e.changes) for e in run_events)

    client.force_login(officer)
    page = client.get(reverse("privacy:request-detail", kwargs={"public_id": request.public_id}))
    assert certificate.number in page.content.decode()
    shown = client.get(reverse("privacy:certificate", kwargs={"public_id": certificate.public_id}))
    assert shown.status_code == 200
    assert "Signature valid" in shown.content.decode()
    signed = client.get(reverse("privacy:certificate-json", kwargs={"public_id": certificate.public_id})).json()
    assert signed["algorithm"] == "Ed25519"
    assert signed["document"] == ErasureCertificate.objects.get(pk=certificate.pk).document


def test_a_failed_run_is_recorded_and_the_request_can_run_again(
    spark: Any,  # noqa: F811
    lake: str,
    officer: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    request = verified_request(customer(spark, lake, 1))
    plan_build(request=request, actor=officer)
    plan_approve(request=request, actor=officer)
    run = request_run_start(request=request, actor=officer)
    assert run.spark_run is not None
    job_environment(run.spark_run)
    assert plan_file(run).exists()
    finish(run.spark_run, None, RunState.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        failed = request_run_consume(spark_run=run.spark_run)
    assert failed is not None
    assert failed.status == RunStatus.FAILED
    assert "boom" in failed.error
    assert not plan_file(run).exists()
    assert not ErasureCertificate.objects.exists()
    assert request.timeline.filter(kind="run_failed").exists()
    second = request_run_start(request=request, actor=officer)
    assert second.pk != run.pk
    assert RequestRun.objects.filter(request=request).count() == 2


def test_privacy_runs_refuse_the_emr_backend(
    spark: Any,  # noqa: F811
    lake: str,
    officer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.configuration.services import get_store

    request = verified_request(customer(spark, lake, 2))
    plan_build(request=request, actor=officer)
    plan_approve(request=request, actor=officer)
    monkeypatch.setenv("ECAP_SPARK__SUBMIT_BACKEND", "emr")
    get_store().invalidate()
    with pytest.raises(Conflict) as refused:
        request_run_start(request=request, actor=officer)
    assert refused.value.code == "backend_unsupported"
    assert not RequestRun.objects.exists()
    assert not SparkRun.objects.exists()


def test_plan_files_of_ended_runs_are_swept(lake: str, officer: Any, spark: Any) -> None:  # noqa: F811
    from apps.privacy.execution import plan_dir, runs_sweep

    plan_dir().mkdir(parents=True, exist_ok=True)
    stale = Path(plan_dir()) / "00000000-0000-0000-0000-000000000000.json"
    stale.write_text("{}")
    runs_sweep()
    assert not stale.exists()


def test_an_access_request_gives_an_encrypted_package_downloadable_by_staff_and_by_the_subjects_link(
    spark: Any,  # noqa: F811
    lake: str,
    officer: Any,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    mailoutbox: list[Any],
) -> None:
    import io
    import zipfile

    from apps.audit.models import AuditEvent
    from apps.privacy.execution import export_out
    from apps.privacy.models import ExportPackage
    from apps.privacy.packages import package_dir, package_link_path
    from spark.jobs import dsr_export
    from spark.jobs.base import base_parser, execute

    who = customer(spark, lake, 3)
    request = verified_request(who, "gdpr.access")
    plan_build(request=request, actor=officer)
    plan_approve(request=request, actor=officer)
    run = request_run_start(request=request, actor=officer)
    spark_run = run.spark_run
    assert spark_run is not None
    assert spark_run.job == "dsr_export"
    assert spark_run.args == ["--plan", str(plan_file(run)), "--out", str(export_out(run))]
    for name, value in job_environment(spark_run).items():
        monkeypatch.setenv(name, value)
    parser = base_parser(spark_run.job)
    dsr_export.add_arguments(parser)
    args = parser.parse_args(["--lake", lake, "--run-id", str(spark_run.run_id), *spark_run.args])
    summary = execute(spark_run.job, dsr_export.run, args, spark=spark).summary
    finish(spark_run, summary)
    with django_capture_on_commit_callbacks(execute=True):
        done = request_run_consume(spark_run=spark_run)
    assert done is not None
    assert done.status == RunStatus.SUCCEEDED
    package = ExportPackage.objects.get(run=done)
    assert not export_out(run).exists()  # the clear-text output is gone once the package is stored
    stored = (package_dir() / package.path).read_bytes()
    assert b"PK" not in stored[:4]  # encrypted at rest
    assert who["email"].encode() not in stored
    assert stat.S_IMODE((package_dir() / package.path).stat().st_mode) == 0o600
    expected_orders = spark.read.parquet(f"{lake}/raw/orders").where(f"customer_id = '{who['customer_id']}'").count()
    assert package.rows == {"raw/customers": 1, "raw/orders": expected_orders, "analytics/customer_segments": 1}

    client.force_login(officer)
    before = AuditEvent.objects.filter(action="export").count()
    download = client.get(reverse("privacy:package-download", kwargs={"public_id": package.public_id}))
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert {"manifest.json", "raw__customers.json", "raw__customers.csv"} <= set(archive.namelist())
    assert json.loads(archive.read("raw__customers.json"))[0]["email"] == who["email"]
    assert AuditEvent.objects.filter(action="export").count() == before + 1

    # The subject's link: the GET page downloads nothing, its POST does; both audited as reads by the subject.
    client.logout()
    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(officer)
        sent = client.post(reverse("privacy:request-action", kwargs={"public_id": request.public_id,
                                                                   "action": "send-package-link"}))  # fmt: skip
    assert sent.status_code == 302
    assert len(mailoutbox) == 1
    assert package_link_path(package).split("/package/")[0] in mailoutbox[0].body
    client.logout()
    link = package_link_path(package)
    assert client.get(link).status_code == 200
    assert ExportPackage.objects.get(pk=package.pk).downloads == 1
    posted = client.post(link)
    assert posted.status_code == 200
    assert posted["Content-Type"] == "application/zip"
    assert ExportPackage.objects.get(pk=package.pk).downloads == 2
    assert client.get(link[:-3] + "xyz/").status_code == 404
    ExportPackage.objects.filter(pk=package.pk).update(expires_at=timezone.now())
    assert client.get(link).status_code == 410
    assert client.post(link).status_code == 410


def test_a_rectification_corrects_the_named_fields_through_the_page_and_is_certified(
    spark: Any,  # noqa: F811
    lake: str,
    officer: Any,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer(spark, lake, 4)
    request = verified_request(who, "gdpr.rectification")
    plan = plan_build(request=request, actor=officer)
    assert {i["dataset"]: i["action"] for i in plan.items} == {
        "raw/customers": "update",
        "raw/orders": "update",
        "analytics/customer_segments": "update",
    }
    plan_approve(request=request, actor=officer)
    client.force_login(officer)
    url = reverse("privacy:request-action", kwargs={"public_id": request.public_id, "action": "run"})
    page = client.get(reverse("privacy:request-detail", kwargs={"public_id": request.public_id})).content.decode()
    assert 'name="update:raw/customers:first_name"' in page
    assert 'name="update:raw/customers:email"' not in page  # key fields find the subject; they are not corrected
    refused = client.post(url, {"update:raw/customers:email": "new@example.com"}, follow=True).content.decode()
    assert "nothing changed" in refused
    assert not RequestRun.objects.filter(request=request).exists()

    client.post(url, {"update:raw/customers:first_name": "Zoë", "update:raw/orders:ip_address": ""})
    run = RequestRun.objects.get(request=request)
    assert run.kind == "update"
    assert run.plan == [{"dataset": "raw/customers", "keys": {"customer_id": "customer_id", "email": "email"},
                         "action": "update"}]  # fmt: skip
    assert "Zoë" not in json.dumps(run.plan)
    assert run.spark_run is not None
    assert "Zoë" not in json.dumps(run.spark_run.args)
    summary = execute_job(spark, run.spark_run, lake, monkeypatch)
    assert summary["verified"] is True
    finish(run.spark_run, summary)
    with django_capture_on_commit_callbacks(execute=True):
        done = request_run_consume(spark_run=run.spark_run)
    assert done is not None
    assert done.status == RunStatus.SUCCEEDED
    rows = spark.read.parquet(f"{lake}/raw/customers").where(f"customer_id = '{who['customer_id']}'").collect()
    assert [r["first_name"] for r in rows] == ["Zoë"]
    others = spark.read.parquet(f"{lake}/raw/customers").where("first_name = 'Zoë'").count()
    assert others == 1
    certificate = ErasureCertificate.objects.get(run=done)
    assert "Zoë" not in certificate.document
    assert json.loads(certificate.document)["datasets"][0]["rows_updated"] == 1
