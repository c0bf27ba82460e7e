"""Path traversal in file and lake-location arguments is refused with a 400 naming the field:

- Spark run arguments from the API (``args.<index>``): dataset paths must be plain paths under the lake root (no
  ``..``, absolute paths, ``file://``, another bucket, percent-encoding), and arguments that may name a local file
  (plans, policies, rules) are taken inline as JSON only; the portal's own local paths are not accepted from the API;
- OpenLineage dataset names that climb out of their namespace (``..``, encoded or behind backslashes);
- quality scans of a dataset whose catalogued location is outside the configured lake;
- erasure plans naming a dataset outside the lake, and lake paths in general never resolve outside the root;
- the lineage CSV export's download name, built from a producer's dataset name, cannot break out of its header;
- links sent with an alert (shown to responders) are http(s) URLs only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.catalog.models import Dataset
from apps.catalog.services import dataset_upsert
from apps.incidents.models import AlertPayload
from apps.lineage.models import LineageEvent
from apps.quality.models import QualityRule, QualityScan
from apps.sparkruns.models import SparkRun
from spark.paths import LakePathError, check_relative, dataset_uri, normalize_root
from spark.privacy.erase import PlanError, parse_plan
from tests.hostile.conftest import assert_error, dataset, run_event

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/sparkruns/runs/"
LINEAGE = "/api/v1/lineage"
TRAVERSALS = [
    "../../etc/passwd",
    "raw/../../../etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "s3://other-bucket/raw/orders",
    "%2e%2e/%2e%2e/etc/passwd",
    "raw\\..\\..\\etc",
]


# --- Spark run arguments -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize(
    ("job", "before", "option"),
    [
        ("rfm", ["--as-of", "2026-11-01"], "--input"),
        ("rfm", ["--as-of", "2026-11-01"], "--output"),
        ("quality_scan", [], "--dataset"),
        ("profile", [], "--datasets"),
        ("pii_scan", ["--seed", "1"], "--datasets"),
        ("profile", [], "--out"),
    ],
)
def test_spark_lake_path_arguments_outside_the_lake_are_400_naming_the_argument(
    job: str, before: list[str], option: str, path: str, admin_api: APIClient
) -> None:
    spaced = admin_api.post(RUNS, {"job": job, "args": [*before, option, path]}, format="json")
    body = assert_error(spaced, 400, "validation_error", f"args.{len(before) + 1}")
    assert option in body["fields"][f"args.{len(before) + 1}"][0]
    joined = admin_api.post(RUNS, {"job": job, "args": [*before, f"{option}={path}"]}, format="json")
    assert_error(joined, 400, "validation_error", f"args.{len(before)}")
    assert not SparkRun.objects.exists()


def test_a_list_of_datasets_is_refused_for_one_bad_entry(admin_api: APIClient) -> None:
    response = admin_api.post(RUNS, {"job": "profile", "args": ["--datasets", "raw/orders,../x"]}, format="json")
    assert_error(response, 400, "validation_error", "args.1")


@pytest.mark.parametrize(
    ("job", "args", "field"),
    [
        ("dsr_erase", ["--plan", "/etc/passwd"], "args.1"),
        ("dsr_export", ["--plan", "../../var/plan.json"], "args.1"),
        ("retention", ["--policy=/etc/shadow"], "args.0"),
        ("quality_scan", ["--dataset", "raw/orders", "--rules", "/root/rules.json"], "args.3"),
        ("dsr_export", ["--plan", '{"subjects": []}', "--out", "/srv/elsewhere"], "args.3"),
        ("dsr_erase", ["--plan", '{"subjects": []}', "--progress", "/etc/cron.d/x"], "args.3"),
    ],
)
def test_spark_file_arguments_are_inline_json_only(job: str, args: list[str], field: str, admin_api: APIClient) -> None:
    response = admin_api.post(RUNS, {"job": job, "args": args}, format="json")
    assert_error(response, 400, "validation_error", field)
    assert not SparkRun.objects.exists()


def test_plain_lake_paths_and_inline_json_are_accepted(admin_api: APIClient) -> None:
    for job, args in (
        ("rfm", ["--as-of", "2026-11-01", "--input", "raw/orders", "--output=curated/rfm_segments"]),
        ("profile", ["--datasets", "raw/orders,curated/orders", "--out", "reports/profile.json"]),
        ("quality_scan", ["--dataset", "raw/orders", "--rules", '[{"id": "a", "kind": "not_null"}]']),
    ):
        response = admin_api.post(RUNS, {"job": job, "args": args}, format="json")
        assert response.status_code == 201, response.content
    assert SparkRun.objects.count() == 3


# --- OpenLineage dataset names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc/passwd", "raw/%2e%2e/%2e%2e/etc", "raw\\..\\..\\etc", "raw/%252e%252e/x"])
def test_lineage_dataset_names_climbing_out_of_their_namespace_are_400(name: str, integrator: APIClient) -> None:
    event = run_event("COMPLETE", inputs=[dataset("raw/orders")], outputs=[dataset(name)])
    response = integrator.post(LINEAGE, data=json.dumps(event), content_type="application/json")
    body = assert_error(response, 400, "validation_error", "outputs.0.name")
    assert body["fields"]["outputs.0.name"] == ["Must not contain a '..' path segment."]
    batch = [run_event("COMPLETE"), {"eventType": "COMPLETE", **event}]
    response = integrator.post(LINEAGE, data=json.dumps(batch), content_type="application/json")
    assert_error(response, 400, "validation_error", "1.outputs.0.name")
    assert LineageEvent.objects.count() == 0
    assert not Dataset.objects.filter(name=name).exists()


def test_lineage_dataset_event_names_are_checked_too(integrator: APIClient) -> None:
    event = run_event("COMPLETE")
    dataset_event = {
        "eventTime": event["eventTime"],
        "producer": event["producer"],
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {"namespace": "file:///srv/lake", "name": "../secrets"},
    }
    response = integrator.post(LINEAGE, data=json.dumps(dataset_event), content_type="application/json")
    assert_error(response, 400, "validation_error", "dataset.name")


# --- quality scans -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("namespace_of", "name"),
    [("other", "raw/orders"), ("lake", "../../etc/passwd"), ("lake", "raw/%2e%2e/x")],
    ids=["other-bucket", "traversal", "encoded"],
)
def test_a_quality_scan_of_a_dataset_outside_the_lake_is_400_naming_the_dataset(
    namespace_of: str, name: str, lake: str, admin_api: APIClient
) -> None:
    namespace = lake if namespace_of == "lake" else "s3://other-bucket"
    target, _ = dataset_upsert(namespace=namespace, name=name)  # a catalogue row from before names were checked
    QualityRule.objects.create(dataset=target, name="rows", kind="row_count", params={"min": 1}, fail_threshold=0.0)
    response = admin_api.post("/api/v1/quality/scans/", {"dataset": str(target.public_id)}, format="json")
    body = assert_error(response, 400, "scan_invalid", "dataset")
    assert body["fields"]["dataset"] != ["no rules"]
    assert "lake" in body["detail"]
    assert not QualityScan.objects.exists()
    assert not SparkRun.objects.exists()


def test_partition_filters_name_a_column_and_a_value_only(admin_api: APIClient, lake_datasets: dict) -> None:
    target = lake_datasets["raw/orders"]
    QualityRule.objects.create(dataset=target, name="rows", kind="row_count", params={"min": 1}, fail_threshold=0.0)
    for bad in ("order_date; DROP TABLE x >= 1", "../order_date=1", "1=1 OR order_date"):
        response = admin_api.post(
            "/api/v1/quality/scans/", {"dataset": str(target.public_id), "partitions": [bad]}, format="json"
        )
        assert_error(response, 400, "scan_invalid", "partitions.0")


# --- erasure plans and lake paths ----------------------------------------------------------------------------------
def erase_plan(path: str) -> dict[str, Any]:
    subject = {"id": "6b1c6a52-2b0e-4b64-9d8e-0d3f3f3a1e11", "keys": {"email": ["a@example.test"]}}
    return {"subjects": [subject], "datasets": [{"dataset": path, "keys": {"email": "email"}, "action": "delete"}]}


@pytest.mark.parametrize("path", ["../../etc/passwd", "raw/../../x", "s3://other-bucket/x", "file:///etc", "%2e%2e/x"])
def test_erasure_plans_naming_a_dataset_outside_the_lake_are_refused(path: str) -> None:
    with pytest.raises(PlanError, match=r"datasets\[0\]\.dataset"):
        parse_plan(erase_plan(path))


def test_lake_paths_never_resolve_outside_the_root() -> None:
    root = "s3://ecap-lake/prod"
    for path in TRAVERSALS:
        try:
            uri = dataset_uri(root, path)
        except LakePathError:
            continue
        assert uri.startswith(root + "/"), uri
        assert ".." not in unquote(uri).split("/"), uri
    assert check_relative("raw/orders/") == "raw/orders"
    for root_text in ("file:///srv/lake/../etc", "ftp://lake", "relative/lake", "s3:///no-bucket"):
        with pytest.raises(LakePathError):
            normalize_root(root_text)


# --- download names ------------------------------------------------------------------------------------------------
def test_the_lineage_export_name_cannot_break_out_of_its_header(admin_api: APIClient, integrator: APIClient) -> None:
    name = 'raw/orders"; filename="evil.exe\r\nSet-Cookie: x=1'
    event = run_event("COMPLETE", inputs=[dataset(name)], outputs=[dataset("curated/orders")])
    assert integrator.post(LINEAGE, data=json.dumps(event), content_type="application/json").status_code == 201
    dataset_upsert(namespace="file:///srv/lake", name=name)
    response = admin_api.get(
        "/api/v1/lineage/graph/export/", {"namespace": "file:///srv/lake", "name": name, "direction": "both"}
    )
    assert response.status_code == 200, response.content
    disposition = response["Content-Disposition"]
    assert disposition == 'attachment; filename="lineage-raw_orders_filename=_evil.exe_Set-Cookie_x=1.csv"'
    assert "Set-Cookie" not in {key for key, _ in response.items()}


# --- links in alerts -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "href",
    ["file:///etc/passwd", "../../etc/passwd", "javascript:alert(1)", "//evil.example/x", "data:text/html,x", " http"],
)
def test_links_sent_with_an_alert_must_be_http_urls(href: str, client: Client, webhook_url: str) -> None:
    links = [{"href": "https://runbooks.example/disk", "text": "ok"}, {"href": href}]
    delivery = {"title": "disk full", "links": links}
    response = client.post(webhook_url, data=json.dumps(delivery), content_type="application/json")
    assert_error(response, 400, "invalid_payload", "links.1.href")
    assert not AlertPayload.objects.exists()
