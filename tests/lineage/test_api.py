"""The graph API (both directions, depth, cycles, field level, owners, node limit, bad parameters), its CSV export,
the jobs, runs and events lists (filters, UUID addressing, query counts) and who may read them."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.catalog.models import Dataset
from apps.catalog.services import dataset_upsert
from apps.lineage import graph as graph_module
from apps.lineage.models import DatasetEdge, Job
from apps.lineage.services import lineage_ingest_events
from tests.lineage.conftest import LAKE, at, column_lineage, dataset, run_event

pytestmark = pytest.mark.django_db

GRAPH = "/api/v1/lineage/graph/"


def ds(name: str) -> Dataset:
    return dataset_upsert(namespace=LAKE, name=name)[0]


def link(*pairs: tuple[str, str], job: Job | None = None) -> None:
    now = timezone.now()
    DatasetEdge.objects.bulk_create([DatasetEdge(source=ds(a), target=ds(b), job=job, last_seen=now) for a, b in pairs])


def names(body: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {n["name"] + (f".{n['field']}" if n["field"] else ""): (n["hops"], n["side"]) for n in body["nodes"]}


def edge_names(body: dict[str, Any]) -> set[tuple[str, str]]:
    by_id = {n["id"]: n["name"] + (f".{n['field']}" if n["field"] else "") for n in body["nodes"]}
    return {(by_id[e["source"]], by_id[e["target"]]) for e in body["edges"]}


@pytest.fixture
def chain() -> None:
    """raw → curated → analytics → export, plus a side branch and a cycle analytics ↔ model."""
    job = Job.objects.create(namespace="airflow", name="pipeline")
    link(
        ("raw", "curated"),
        ("curated", "analytics"),
        ("analytics", "export"),
        ("curated", "quarantine"),
        ("analytics", "model"),
        ("model", "analytics"),
        job=job,
    )


def test_downstream_graph_with_hops_sides_jobs_and_the_exact_shape(steward, chain) -> None:
    response = steward.get(GRAPH, {"namespace": LAKE, "name": "curated", "direction": "downstream", "depth": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"root", "direction", "depth", "truncated", "nodes", "edges", "owners"}
    curated = Dataset.objects.get(name="curated")
    assert body["root"] == {
        "id": str(curated.public_id),
        "type": "dataset",
        "namespace": LAKE,
        "name": "curated",
        "field": None,
    }
    assert (body["direction"], body["depth"], body["truncated"]) == ("downstream", 2, False)
    assert names(body) == {
        "curated": (0, "root"),
        "analytics": (1, "downstream"),
        "quarantine": (1, "downstream"),
        "export": (2, "downstream"),
        "model": (2, "downstream"),
    }
    assert set(body["nodes"][0]) == {"id", "type", "namespace", "name", "field", "hops", "side"}
    assert edge_names(body) == {
        ("curated", "analytics"),
        ("curated", "quarantine"),
        ("analytics", "export"),
        ("analytics", "model"),
        ("model", "analytics"),
    }
    assert body["edges"][0]["job"] == "airflow/pipeline"
    assert body["edges"][0]["transformation"] is None


def test_upstream_and_both_directions(steward, chain) -> None:
    up = steward.get(GRAPH, {"namespace": LAKE, "name": "analytics", "direction": "upstream", "depth": 5}).json()
    assert names(up) == {
        "analytics": (0, "root"),
        "curated": (1, "upstream"),
        "raw": (2, "upstream"),
        "model": (1, "upstream"),
    }
    both = steward.get(GRAPH, {"namespace": LAKE, "name": "curated", "direction": "both", "depth": 1}).json()
    assert names(both) == {
        "curated": (0, "root"),
        "raw": (1, "upstream"),
        "analytics": (1, "downstream"),
        "quarantine": (1, "downstream"),
    }
    assert edge_names(both) == {("raw", "curated"), ("curated", "analytics"), ("curated", "quarantine")}


def test_a_cycle_terminates_and_each_node_appears_once_at_its_nearest_hop(steward, chain) -> None:
    body = steward.get(GRAPH, {"namespace": LAKE, "name": "analytics", "depth": 20}).json()
    assert names(body) == {"analytics": (0, "root"), "export": (1, "downstream"), "model": (1, "downstream")}
    assert ("model", "analytics") in edge_names(body)  # the edge back to the root is shown


def test_default_depth_is_three(steward) -> None:
    link(*[(f"d{i}", f"d{i + 1}") for i in range(6)])
    body = steward.get(GRAPH, {"namespace": LAKE, "name": "d0"}).json()
    assert body["depth"] == 3
    assert max(n["hops"] for n in body["nodes"]) == 3


def test_the_node_limit_truncates_nearest_first(steward, monkeypatch) -> None:
    link(*[("hub", f"leaf{i:02d}") for i in range(30)], *[("leaf00", f"far{i}") for i in range(5)])
    monkeypatch.setattr(graph_module, "NODE_LIMIT", 10)
    body = steward.get(GRAPH, {"namespace": LAKE, "name": "hub", "depth": 2}).json()
    assert body["truncated"] is True
    assert len(body["nodes"]) == 10
    assert all(n["hops"] <= 1 for n in body["nodes"])
    kept = {n["id"] for n in body["nodes"]}
    assert all(e["source"] in kept and e["target"] in kept for e in body["edges"])


def test_field_level_graph_with_transformations(steward) -> None:
    lineage_ingest_events(
        events=[
            run_event(
                "COMPLETE",
                time=at(0),
                inputs=[dataset("raw/customers")],
                outputs=[
                    dataset(
                        "curated/customers", columnLineage=column_lineage({"email": [(LAKE, "raw/customers", "email")]})
                    )
                ],
            ),
            run_event(
                "COMPLETE",
                job="export",
                time=at(0),
                inputs=[dataset("curated/customers")],
                outputs=[
                    dataset(
                        "marketing/export",
                        columnLineage=column_lineage(
                            {"email_hash": [(LAKE, "curated/customers", "email")]},
                            subtype="TRANSFORMATION",
                            masking=True,
                        ),
                    )
                ],
            ),
        ]
    )
    response = steward.get(GRAPH, {"namespace": LAKE, "name": "raw/customers", "field": "email", "depth": 5})
    body = response.json()
    assert body["root"]["type"] == "field"
    assert body["root"]["field"] == "email"
    assert names(body) == {
        "raw/customers.email": (0, "root"),
        "curated/customers.email": (1, "downstream"),
        "marketing/export.email_hash": (2, "downstream"),
    }
    transformations = {
        (e["job"], e["transformation"]["subtype"], e["transformation"]["masking"]) for e in body["edges"]
    }
    assert transformations == {
        ("airflow/orders_curation", "IDENTITY", False),
        ("airflow/export", "TRANSFORMATION", True),
    }
    assert all(n["type"] == "field" for n in body["nodes"])


def test_owners_and_stewards_of_downstream_datasets_directly_or_through_a_group(steward, chain, make_user) -> None:
    alice = make_user(username="alice", display_name="Alice Owner", email="alice@example.com")
    bob = make_user(username="bob", display_name="Bob Steward", email="bob@example.com")
    carol = make_user(username="carol", display_name="Carol", email="carol@example.com")
    team = Group.objects.create(name="analytics-team")
    carol.groups.add(team)
    assign_perm("catalog.own_dataset", alice, Dataset.objects.get(name="analytics"))
    assign_perm("catalog.own_dataset", alice, Dataset.objects.get(name="export"))
    assign_perm("catalog.steward_dataset", bob, Dataset.objects.get(name="quarantine"))
    assign_perm("catalog.steward_dataset", team, Dataset.objects.get(name="export"))
    assign_perm("catalog.own_dataset", bob, Dataset.objects.get(name="raw"))  # upstream: not listed
    body = steward.get(GRAPH, {"namespace": LAKE, "name": "curated", "direction": "both", "depth": 3}).json()
    assert body["owners"] == [
        {
            "username": "alice",
            "display_name": "Alice Owner",
            "email": "alice@example.com",
            "datasets": [f"{LAKE}/analytics", f"{LAKE}/export"],
        },
        {
            "username": "bob",
            "display_name": "Bob Steward",
            "email": "bob@example.com",
            "datasets": [f"{LAKE}/quarantine"],
        },
        {"username": "carol", "display_name": "Carol", "email": "carol@example.com", "datasets": [f"{LAKE}/export"]},
    ]


def test_graph_queries_do_not_grow_with_the_graph(steward) -> None:
    link(*[("root", f"a{i}") for i in range(5)])
    steward.get(GRAPH, {"namespace": LAKE, "name": "root"})  # warm permission and content type caches
    with CaptureQueriesContext(connection) as small:
        steward.get(GRAPH, {"namespace": LAKE, "name": "root"})
    link(*[(f"a{i}", f"b{i}{j}") for i in range(5) for j in range(20)])
    with CaptureQueriesContext(connection) as large:
        assert len(steward.get(GRAPH, {"namespace": LAKE, "name": "root"}).json()["nodes"]) == 106
    assert len(large) == len(small)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"name": "curated"}, "namespace"),
        ({"namespace": LAKE}, "name"),
        ({"namespace": LAKE, "name": "curated", "direction": "sideways"}, "direction"),
        ({"namespace": LAKE, "name": "curated", "depth": "0"}, "depth"),
        ({"namespace": LAKE, "name": "curated", "depth": "21"}, "depth"),
        ({"namespace": LAKE, "name": "curated", "depth": "many"}, "depth"),
    ],
)
def test_bad_graph_parameters_are_400_naming_them(steward, chain, params, field) -> None:
    response = steward.get(GRAPH, params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_unknown_dataset_or_field_is_404(steward, chain) -> None:
    assert steward.get(GRAPH, {"namespace": LAKE, "name": "nowhere"}).status_code == 404
    assert steward.get(GRAPH, {"namespace": LAKE, "name": "curated", "field": "nope"}).status_code == 404


def test_csv_export_streams_every_node_and_edge(steward, chain) -> None:
    response = steward.get(GRAPH + "export/", {"namespace": LAKE, "name": "curated", "direction": "both", "depth": 3})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    nodes = {r["name"]: (r["hops"], r["side"]) for r in rows if r["record"] == "node"}
    assert nodes == {
        "curated": ("0", "root"),
        "raw": ("1", "upstream"),
        "analytics": ("1", "downstream"),
        "quarantine": ("1", "downstream"),
        "export": ("2", "downstream"),
        "model": ("2", "downstream"),
    }
    edges = [r for r in rows if r["record"] == "edge"]
    assert len(edges) == 6
    assert {r["job"] for r in edges} == {"airflow/pipeline"}


@pytest.mark.parametrize("role", ["data_steward", "integrator", "oncall_engineer", "auditor", "compliance_officer"])
def test_every_lineage_reader_role_may_read_the_graph_and_lists(token_client, chain, role) -> None:
    client, _ = token_client(role=role)
    assert client.get(GRAPH, {"namespace": LAKE, "name": "curated"}).status_code == 200
    for resource in ("jobs", "runs", "events"):
        assert client.get(f"/api/v1/lineage/{resource}/").status_code == 200


def test_reads_need_a_login_and_a_lineage_role(api_client, token_client, chain) -> None:
    assert api_client.get(GRAPH, {"namespace": LAKE, "name": "curated"}).status_code == 401
    assert api_client.get("/api/v1/lineage/jobs/").status_code == 401
    nobody, _ = token_client(role=None)
    assert nobody.get(GRAPH, {"namespace": LAKE, "name": "curated"}).status_code == 403
    assert nobody.get(GRAPH + "export/", {"namespace": LAKE, "name": "curated"}).status_code == 403
    for resource in ("jobs", "runs", "events"):
        assert nobody.get(f"/api/v1/lineage/{resource}/").status_code == 403


def test_the_lineage_index_lists_its_resources(steward) -> None:
    body = steward.get("/api/v1/lineage/").json()
    assert set(body) == {"jobs", "runs", "events", "graph"}


# --- jobs, runs, events ----------------------------------------------------------------------------------------
def seed_runs(count: int) -> None:
    events = []
    for n in range(count):
        run_id = str(uuid.uuid4())
        for kind, minute in (("START", 0), ("COMPLETE", 5)):
            events.append(
                run_event(
                    kind,
                    job=f"job{n}",
                    run_id=run_id,
                    time=at(n * 10 + minute),
                    inputs=[dataset(f"raw/t{n}")],
                    outputs=[dataset(f"curated/t{n}")],
                )
            )
    lineage_ingest_events(events=events)


def test_runs_list_their_inputs_and_outputs_and_are_addressed_by_run_id(steward) -> None:
    seed_runs(2)
    body = steward.get("/api/v1/lineage/runs/", {"job_name": "job1"}).json()
    assert body["count"] == 1
    run = body["results"][0]
    assert run["state"] == "COMPLETE"
    assert [d["name"] for d in run["inputs"]] == ["raw/t1"]
    assert [d["name"] for d in run["outputs"]] == ["curated/t1"]
    detail = steward.get(f"/api/v1/lineage/runs/{run['run_id']}/").json()
    assert detail["job"]["name"] == "job1"
    job = steward.get(f"/api/v1/lineage/jobs/{detail['job']['id']}/").json()
    assert job["latest_run"]["run_id"] == run["run_id"]
    assert [d["name"] for d in job["outputs"]] == ["curated/t1"]
    events = steward.get("/api/v1/lineage/events/", {"run_id": run["run_id"]}).json()
    assert sorted(e["event_type"] for e in events["results"]) == ["COMPLETE", "START"]
    assert steward.get("/api/v1/lineage/events/", {"status": "failed"}).json()["count"] == 0
    assert (
        steward.get(f"/api/v1/lineage/events/{events['results'][0]['id']}/").json()["payload"]["job"]["name"] == "job1"
    )


def test_events_are_read_only_through_the_api(steward) -> None:
    seed_runs(1)
    assert steward.post("/api/v1/lineage/events/", {}, format="json").status_code == 405
    assert steward.post("/api/v1/lineage/jobs/", {}, format="json").status_code == 405


@pytest.mark.parametrize("resource", ["jobs", "runs", "events"])
def test_list_queries_do_not_grow_with_the_page_size(steward, resource) -> None:
    seed_runs(12)
    url = f"/api/v1/lineage/{resource}/"
    steward.get(url, {"page_size": 1})
    with CaptureQueriesContext(connection) as one:
        assert steward.get(url, {"page_size": 2}).status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert len(steward.get(url, {"page_size": 20}).json()["results"]) >= 12
    assert len(many) == len(one), [q["sql"][:120] for q in many.captured_queries]
