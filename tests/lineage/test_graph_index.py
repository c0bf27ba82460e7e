"""The in-memory graph index: the same answers as the database statement (nodes, order, hops, sides, edges, jobs,
owners, truncation) on random graphs with cycles, hubs and awkward names; the change log its freshness rests on
(what records a change and what does not); stepping aside for the statement while it is stale, including for the
asking transaction's own uncommitted change; the rebuild; and the purge of old change rows.

The index is built from committed data in a thread of its own, so these tests commit (``transaction=True``)."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.catalog.models import Dataset
from apps.lineage import graph as graph_module
from apps.lineage import graph_index
from apps.lineage.graph import graph_root, lineage_graph_document
from apps.lineage.models import DatasetEdge, GraphChange, Job
from apps.lineage.services import graph_changes_purge

pytestmark = pytest.mark.django_db(transaction=True)

NAMESPACE = "s3://lake"
GRAPH = "/api/v1/lineage/graph/"


@pytest.fixture(autouse=True)
def index_on(settings: Any) -> Any:
    settings.LINEAGE_GRAPH_INDEX = True
    graph_index.graph_index_drop()
    yield settings
    graph_index.graph_index_drop()


def build() -> graph_index.GraphIndex:
    graph_index.graph_index_refresh(wait=True)
    index = graph_index.current_graph_index()
    assert index is not None
    return index


def both_answers(settings: Any, dataset: Dataset, direction: str, depth: int) -> tuple[Any, Any]:
    """The index's answer and the statement's, parsed, edges in one order (the API promises no edge order)."""
    root = graph_root(namespace=dataset.namespace, name=dataset.name)
    assert root is not None
    index = graph_index.current_graph_index()
    assert index is not None
    from_index = graph_index.graph_index_document(
        index,
        root_id=root.node_id,
        root_document=json.dumps(graph_module._root_document(root)).encode(),
        direction=direction,
        depth=depth,
        limit=graph_module.NODE_LIMIT,
        owner_permissions=list(graph_module.OWNER_PERMISSIONS),
    )
    assert from_index is not None
    settings.LINEAGE_GRAPH_INDEX = False
    from_statement = lineage_graph_document(root=root, direction=direction, depth=depth)
    settings.LINEAGE_GRAPH_INDEX = True
    answers = json.loads(from_index), json.loads(from_statement)
    for answer in answers:
        answer["edges"].sort(key=lambda e: (e["source"], e["target"], e["job"] or ""))
    return answers


def random_graph(seed: int) -> list[Dataset]:
    """Datasets in two namespaces with names that sort and escape awkwardly, edges with and without jobs, hubs,
    cycles and a self-loop."""
    rng = random.Random(seed)
    odd = ["a", "B", "é", "z", 'q"uote', "back\\slash", "tab\tname", "日本", "Zeta", "_"]
    datasets = Dataset.objects.bulk_create(
        [Dataset(namespace=rng.choice([NAMESPACE, "s3://lake/"]), name=f"{rng.choice(odd)}/{n}") for n in range(120)]
    )
    jobs = [Job.objects.create(namespace="airflow", name="job ✓"), None, None]
    jobs.append(Job.objects.create(namespace="spark", name='with "quotes"'))
    now = timezone.now()
    pairs: set[tuple[int, int, int]] = set()
    hubs = datasets[:4]
    for _ in range(360):
        source = rng.choice(hubs) if rng.random() < 0.3 else rng.choice(datasets)
        pairs.add((source.pk, rng.choice(datasets).pk, rng.randrange(len(jobs))))
    pairs.add((datasets[5].pk, datasets[5].pk, 2))
    DatasetEdge.objects.bulk_create(
        [DatasetEdge(source_id=s, target_id=t, job=jobs[j], last_seen=now) for s, t, j in pairs],
        ignore_conflicts=True,
    )
    return datasets


@pytest.mark.parametrize("seed", [1, 2])
def test_the_index_answers_exactly_as_the_statement(settings, make_user, seed) -> None:
    datasets = random_graph(seed)
    owner, steward, member = make_user(), make_user(), make_user()
    group = Group.objects.create(name=f"owners {seed}")
    member.groups.add(group)
    for dataset in datasets[10:40]:
        assign_perm("catalog.own_dataset", owner, dataset)
    for dataset in datasets[30:60]:
        assign_perm("catalog.steward_dataset", steward, dataset)
        assign_perm("catalog.own_dataset", group, dataset)
    build()
    compared = 0
    for dataset in [*datasets[:6], *random.Random(seed).sample(datasets, 10)]:
        for direction in ("downstream", "upstream", "both"):
            for depth in (1, 3, 6):
                from_index, from_statement = both_answers(settings, dataset, direction, depth)
                assert from_index == from_statement, (dataset.name, direction, depth)
                compared += len(from_index["nodes"]) + len(from_index["edges"]) + len(from_index["owners"])
    assert compared > 5000  # the graphs were not trivial


def test_the_node_limit_cuts_the_same_nodes(settings, monkeypatch) -> None:
    datasets = random_graph(3)
    build()
    for limit in (2, 7, 25):
        monkeypatch.setattr(graph_module, "NODE_LIMIT", limit)
        for dataset in datasets[:4]:
            for direction in ("downstream", "upstream", "both"):
                from_index, from_statement = both_answers(settings, dataset, direction, 4)
                assert from_index == from_statement, (dataset.name, direction, limit)
                assert len(from_index["nodes"]) <= limit
    monkeypatch.setattr(graph_module, "NODE_LIMIT", 7)
    hub, _ = both_answers(settings, datasets[0], "both", 4)
    assert hub["truncated"] is True


def test_only_changes_an_answer_shows_are_recorded() -> None:
    first, second, third = Dataset.objects.bulk_create(
        [Dataset(namespace=NAMESPACE, name=n) for n in ("raw", "curated", "mart")]
    )
    job = Job.objects.create(namespace="airflow", name="etl")
    now = timezone.now()
    GraphChange.objects.all().delete()  # emptying the tables between tests is a change too
    edge = DatasetEdge.objects.create(source=first, target=second, job=job, last_seen=now)
    assert GraphChange.objects.count() == 1
    # What every run does: refresh last_seen, and upsert edges that already exist.
    DatasetEdge.objects.filter(pk=edge.pk).update(last_seen=now + timedelta(minutes=1))
    DatasetEdge.objects.bulk_create(
        [DatasetEdge(source=first, target=second, job=job, last_seen=now)],
        update_conflicts=True,
        unique_fields=["source", "target", "job"],
        update_fields=["last_seen"],
    )
    DatasetEdge.objects.filter(pk=-1).delete()
    Dataset.objects.filter(pk=first.pk).update(description="the landing zone")
    Job.objects.filter(pk=job.pk).update(description="nightly")
    assert GraphChange.objects.count() == 1
    # What changes an answer: re-pointing an edge, renaming a dataset or job, removing and emptying.
    DatasetEdge.objects.filter(pk=edge.pk).update(target=third)
    Dataset.objects.filter(pk=second.pk).update(name="curated_v2")
    Job.objects.filter(pk=job.pk).update(name="etl_v2")
    DatasetEdge.objects.filter(pk=edge.pk).delete()
    assert GraphChange.objects.count() == 5
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lineage_datasetedge")
        cursor.execute("SELECT CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)")
        (transaction_id,) = cursor.fetchone()
    assert GraphChange.objects.count() == 6
    assert GraphChange.objects.order_by("-pk").first().transaction_id < transaction_id  # committed, autocommit


def test_a_change_sends_answers_to_the_statement_until_the_index_is_rebuilt(settings, steward) -> None:
    raw, curated, mart = Dataset.objects.bulk_create(
        [Dataset(namespace=NAMESPACE, name=n) for n in ("raw", "curated", "mart")]
    )
    DatasetEdge.objects.create(source=raw, target=curated, last_seen=timezone.now())
    index = build()
    settings.LINEAGE_GRAPH_INDEX_REBUILD_SECONDS = 3600  # no background rebuild in the middle of the test

    def nodes() -> set[str]:
        body = steward.get(GRAPH, {"namespace": NAMESPACE, "name": "raw", "depth": 3}).json()
        return {node["name"] for node in body["nodes"]}

    assert nodes() == {"raw", "curated"}
    DatasetEdge.objects.create(source=curated, target=mart, last_seen=timezone.now())  # committed
    assert graph_index.current_graph_index() is None  # stale: the statement answers, with the new edge
    assert nodes() == {"raw", "curated", "mart"}
    assert graph_index._state.index is index  # not rebuilt yet (interval), still not used
    rebuilt = build()
    assert rebuilt is not index
    assert nodes() == {"raw", "curated", "mart"}
    # A rename is a change too: the index never answers with an old name.
    Dataset.objects.filter(pk=mart.pk).update(name="mart_v2")
    assert nodes() == {"raw", "curated", "mart_v2"}


def test_the_asking_transactions_own_change_is_seen() -> None:
    raw, curated = Dataset.objects.bulk_create([Dataset(namespace=NAMESPACE, name=n) for n in ("raw", "curated")])
    build()
    with transaction.atomic():
        DatasetEdge.objects.create(source=raw, target=curated, last_seen=timezone.now())
        assert graph_index.current_graph_index() is None
        root = graph_root(namespace=NAMESPACE, name="raw")
        body = json.loads(lineage_graph_document(root=root, direction="downstream", depth=1))
        assert [n["name"] for n in body["nodes"]] == ["raw", "curated"]
        transaction.set_rollback(True)
    assert graph_index.current_graph_index() is not None  # rolled back: nothing changed


def test_a_stale_or_old_index_starts_one_background_rebuild(settings) -> None:
    Dataset.objects.create(namespace=NAMESPACE, name="raw")
    assert graph_index.current_graph_index() is None  # none yet: one build starts
    builder = graph_index._state.builder
    assert builder is not None
    builder.join(timeout=30)
    index = graph_index.current_graph_index()
    assert index is not None
    assert index.size == 1
    settings.LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS = 0  # too old: answers from the statement, a rebuild starts
    settings.LINEAGE_GRAPH_INDEX_REBUILD_SECONDS = 0
    assert graph_index.current_graph_index() is None
    assert graph_index._state.builder is not builder
    graph_index._state.builder.join(timeout=30)
    settings.LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS = 900
    assert graph_index.current_graph_index() is not index
    # Too recently started: a stale index does not start another build.
    settings.LINEAGE_GRAPH_INDEX_REBUILD_SECONDS = 3600
    Dataset.objects.create(namespace=NAMESPACE, name="new")
    DatasetEdge.objects.create(
        source=Dataset.objects.get(name="raw"), target=Dataset.objects.get(name="new"), last_seen=timezone.now()
    )
    started = graph_index._state.builder
    assert graph_index.current_graph_index() is None
    assert graph_index._state.builder is started


def test_a_dataset_the_index_does_not_hold_is_answered_by_the_statement(steward) -> None:
    Dataset.objects.create(namespace=NAMESPACE, name="raw")
    build()
    Dataset.objects.create(namespace=NAMESPACE, name="brand_new")  # no edges: no change recorded
    assert graph_index.current_graph_index() is not None
    body = steward.get(GRAPH, {"namespace": NAMESPACE, "name": "brand_new"}).json()
    assert [n["name"] for n in body["nodes"]] == ["brand_new"]


def test_the_purge_keeps_recent_changes() -> None:
    first, second = Dataset.objects.bulk_create([Dataset(namespace=NAMESPACE, name=n) for n in ("a", "b")])
    GraphChange.objects.all().delete()
    DatasetEdge.objects.create(source=first, target=second, last_seen=timezone.now())
    GraphChange.objects.create(transaction_id=1, recorded_at=timezone.now() - timedelta(days=3))
    assert GraphChange.objects.count() == 2
    assert graph_changes_purge() == 1
    assert GraphChange.objects.count() == 1
