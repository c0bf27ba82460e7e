"""Every list endpoint of the API reads a page in a constant number of SQL queries: the same for ``page_size=2`` as
for ``page_size=20`` over at least twenty rows (no query per row). The endpoints are enumerated from the OpenAPI
schema (GET operations without a path parameter answering an array or a list of ``results``), so a new list endpoint
without a row builder here fails the suite until it has one. Endpoints that answer every row at once (a plain array,
on-call "now" for every schedule) are measured over two rows and over twenty-two instead."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.audit.services import audit_record, audit_seal_pending
from apps.catalog.models import DataCategory, Dataset, DataSubjectType, DataUse, GlossaryTerm, RetentionPolicy
from apps.catalog.services import FieldSpec, dataset_schema_apply, field_category_add
from apps.common.models import User
from apps.common.services import api_token_create
from apps.configuration.services import config_entries_sync, config_get, config_override_set
from apps.incidents.models import (
    ClassificationRule,
    Incident,
    MaintenanceWindow,
    RemediationAttempt,
    RemediationRule,
    Runbook,
)
from apps.incidents.services import integration_create, payload_accept, payloads_sweep
from apps.lineage.services.intake import lineage_ingest_events
from apps.oncall import services as oncall
from apps.oncall.choices import ContactKind, OverrideMode, ShiftUnit, StepKind
from apps.oncall.services import LayerIn, StepIn
from apps.privacy.choices import ConsentDecision, ConsentSource
from apps.privacy.services import ConsentIn, consent_record_many
from apps.quality.choices import Outcome, RuleKind
from apps.quality.models import QualityResult, QualityRule
from apps.quality.services import rule_save, scan_request
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request
from spark.paths import normalize_root
from tests.catalog.factories import DatasetFactory, GlossaryTermFactory, PiiSuggestionFactory
from tests.incidents.conftest import am_alert, am_payload

pytestmark = pytest.mark.django_db

SMALL, LARGE = 2, 20
LAKE = "file:///lake"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.1.0"
REPORT_SINCE = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class World:
    """What the row builders share: the reading user, a sequence for unique names, and rows made on first need."""

    reader: User
    make_user: Callable[..., User]
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    cache: dict[str, Any] = field(default_factory=dict)

    def next(self) -> int:
        return next(self.seq)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def people(self) -> list[User]:
        return self.once("people", lambda: [self.make_user(role="oncall_engineer") for _ in range(3)])

    def integration(self) -> Any:
        return self.once("integration", lambda: integration_create(kind="alertmanager", name="prom-lists")[0])


def rich_dataset(world: World) -> Dataset:
    """A dataset with fields, a classified column, a glossary term and a PII suggestion."""
    n = world.next()
    policy = world.once("policy", lambda: RetentionPolicy.objects.create(name="lists-policy", days=30))
    lake = normalize_root(str(config_get("lake.root")))  # where quality scans may read
    dataset = cast(Dataset, DatasetFactory(namespace=lake, name=f"raw/list_{n}", retention_policy=policy))
    dataset_schema_apply(dataset=dataset, fields=[FieldSpec("email", "string"), FieldSpec("id", "string")])
    email = dataset.fields.get(name="email")
    email.glossary_terms.add(cast(GlossaryTerm, GlossaryTermFactory()))
    category = DataCategory.objects.get(key="user.contact.email")
    field_category_add(field=email, category=category, actor=None)
    PiiSuggestionFactory(field=dataset.fields.get(name="id"))
    return dataset


def datasets(world: World, n: int) -> None:
    for _ in range(n):
        rich_dataset(world)


def schema_versions(world: World, n: int) -> None:
    for _ in range(n):
        dataset = rich_dataset(world)
        dataset_schema_apply(dataset=dataset, fields=[FieldSpec("email", "string"), FieldSpec("age", "int")])


def taxonomy(model: type[Any]) -> Callable[[World, int], None]:
    def build(world: World, n: int) -> None:
        for _ in range(n):
            i = world.next()
            model.objects.create(key=f"lists.item_{i}", name=f"Item {i}", parent_key="lists")

    return build


def glossary_terms(world: World, n: int) -> None:
    for _ in range(n):
        term = cast(GlossaryTerm, GlossaryTermFactory(owner=world.reader))
        term.fields.add(rich_dataset(world).fields.get(name="email"))


def retention_policies(world: World, n: int) -> None:
    for _ in range(n):
        policy = RetentionPolicy.objects.create(name=f"policy-{world.next()}", days=90)
        DatasetFactory(retention_policy=policy)


def tokens(world: World, n: int) -> None:
    for _ in range(n):
        api_token_create(user=world.reader, name=f"token-{world.next()}")


def config_entries(world: World, n: int) -> None:
    """The entries are the registered keys (more than a page of them); one carries an override."""
    config_entries_sync()
    world.once("overrides", lambda: config_override_set(key="audit.retention_days", value=3000, actor=world.reader))


def audit_events(world: World, n: int) -> None:
    for _ in range(n):
        audit_record(action="update", target_type="test.thing", target_id=str(world.next()), changes={"a": [1, 2]})
    audit_seal_pending()  # the list shows sealed events


def incidents(world: World, n: int) -> None:
    integration = world.integration()
    for _ in range(n):
        instance = f"i-{world.next()}"
        payload_accept(integration=integration, body=am_payload(am_alert(instance=instance), group_key=instance))
    payloads_sweep(older_than=timedelta(seconds=-1))
    # Every relation the list shows is set, so a relation read row by row would show in the count.
    ann, bob, _ = world.people()
    runbook = world.once("runbook", lambda: Runbook.objects.create(slug="incident-rb", title="Runbook", body="text"))
    rule = world.once(
        "rule", lambda: ClassificationRule.objects.create(name="incident-rule", matchers='service="x"', priority="P2")
    )
    first = Incident.objects.order_by("pk")[0]
    Incident.objects.exclude(pk=first.pk).filter(assignee__isnull=True).update(
        assignee=ann, acknowledged_by=bob, resolved_by=bob, runbook=runbook, classification_rule=rule, merged_into=first
    )


def integrations(world: World, n: int) -> None:
    for _ in range(n):
        integration_create(kind="alertmanager", name=f"prom-{world.next()}", created_by=world.reader)


def runbooks(world: World, n: int) -> None:
    for _ in range(n):
        i = world.next()
        Runbook.objects.create(slug=f"rb-{i}", title=f"Runbook {i}", alertnames=["X"], body="# Do\n\nthis")


def classification_rules(world: World, n: int) -> None:
    for _ in range(n):
        i = world.next()
        runbook = Runbook.objects.create(slug=f"cr-{i}", title=f"Runbook {i}", body="text")
        ClassificationRule.objects.create(
            name=f"rule-{i}", integration=world.integration(), matchers='service="x"', priority="P2", runbook=runbook
        )


def maintenance_windows(world: World, n: int) -> None:
    start = timezone.now()
    for _ in range(n):
        MaintenanceWindow.objects.create(
            integration=world.integration(),
            starts_at=start + timedelta(hours=world.next()),
            ends_at=start + timedelta(days=30),
            reason="upgrade",
            created_by=world.reader,
        )


def remediation_rules(world: World, n: int) -> None:
    for _ in range(n):
        RemediationRule.objects.create(
            name=f"remedy-{world.next()}", matchers='service="x"', action="noop", target="{service}"
        )


def remediations(world: World, n: int) -> None:
    incidents(world, 1)
    incident = Incident.objects.order_by("-pk")[0]
    for _ in range(n):
        rule = RemediationRule.objects.create(
            name=f"attempt-{world.next()}", matchers='service="x"', action="noop", target="x"
        )
        RemediationAttempt.objects.create(
            incident=incident, rule=rule, action="noop", target="x", decided_by=world.reader
        )


def ol_dataset(name: str, *columns: str) -> dict[str, Any]:
    """An OpenLineage dataset of the lake with its schema facet."""
    schema = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "fields": [{"name": c, "type": "string"} for c in columns],
    }
    return {"namespace": LAKE, "name": name, "facets": {"schema": schema}}


def lineage(world: World, n: int) -> None:
    for _ in range(n):
        i, run = world.next(), str(uuid.uuid4())
        events = [
            {
                "eventType": kind,
                "eventTime": timezone.now().isoformat(),
                "producer": PRODUCER,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": run, "facets": {}},
                "job": {"namespace": "airflow", "name": f"job_{i}", "facets": {}},
                "inputs": [ol_dataset(f"raw/in_{i}", "id", "email")],
                "outputs": [ol_dataset(f"curated/out_{i}", "id")],
            }
            for kind in ("START", "COMPLETE")
        ]
        assert lineage_ingest_events(events=events) == 2


def schedule(world: World) -> Any:
    people = world.people()
    return oncall.schedule_create(
        name=f"Schedule {world.next()}",
        layers=[
            LayerIn(
                name="Daily",
                rotation_start=datetime(2026, 1, 5, 9, tzinfo=UTC),
                members=people[:2],
                shift_unit=ShiftUnit.DAYS,
            )
        ],
    )


def schedules(world: World, n: int) -> None:
    for _ in range(n):
        plan = schedule(world)
        start = timezone.now() - timedelta(hours=1)
        oncall.override_create(
            schedule=plan, user=world.people()[2], start=start, end=start + timedelta(hours=3), mode=OverrideMode.ADD
        )


def overrides(world: World, n: int) -> None:
    plan = world.once("schedule", lambda: schedule(world))
    for _ in range(n):
        start = timezone.now() + timedelta(days=1, hours=world.next())
        oncall.override_create(
            schedule=plan, user=world.people()[2], start=start, end=start + timedelta(hours=1), created_by=world.reader
        )


def teams(world: World, n: int) -> None:
    for _ in range(n):
        oncall.team_create(name=f"Team {world.next()}", members=world.people()[:2])


def policies(world: World, n: int) -> None:
    plan = world.once("schedule", lambda: schedule(world))
    team = world.once("team", lambda: oncall.team_create(name="Policy team", members=world.people()[:1]))
    for _ in range(n):
        oncall.policy_create(
            name=f"Policy {world.next()}",
            steps=[
                StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=plan),
                StepIn(kind=StepKind.WAIT, wait_minutes=5),
                StepIn(kind=StepKind.NOTIFY_USERS, users=world.people()[:2]),
                StepIn(kind=StepKind.NOTIFY_TEAM, team=team),
            ],
        )


def contact_methods(world: World, n: int) -> None:
    for _ in range(n):
        oncall.contact_method_create(user=world.reader, kind=ContactKind.EMAIL, address=f"m{world.next()}@example.com")


def notification_rules(world: World, n: int) -> None:
    for _ in range(n):
        i = world.next()
        method = oncall.contact_method_create(user=world.reader, kind=ContactKind.EMAIL, address=f"r{i}@example.com")
        oncall.notification_rule_create(user=world.reader, contact_method=method, delay_minutes=i % 60)


def consent_report(world: World, n: int) -> None:
    items = []
    for _ in range(n):
        i = world.next()
        items.append(
            ConsentIn(
                kind="email",
                value=f"subject{i}@example.com",
                purpose="marketing",
                decision=ConsentDecision.OPT_IN,
                source=ConsentSource.WEB,
                mechanism="cookie banner",
                notice_version="2026-06",
                occurred_at=REPORT_SINCE + timedelta(days=i),  # one report row per day
            )
        )
    consent_record_many(items=items)


def quality_rules(world: World, n: int) -> None:
    dataset = world.once("quality_dataset", lambda: rich_dataset(world))
    for _ in range(n):
        rule_save(
            rule=QualityRule(
                dataset=dataset,
                name=f"email-complete-{world.next()}",
                kind=RuleKind.NOT_NULL,
                columns=["email"],
                fail_threshold=0.1,
                owner=world.reader,
            )
        )


def quality_datasets(world: World, n: int) -> None:
    for _ in range(n):
        dataset = rich_dataset(world)
        rule_save(
            rule=QualityRule(
                dataset=dataset, name="id-complete", kind=RuleKind.NOT_NULL, columns=["id"], fail_threshold=0
            )
        )
        scan_request(dataset=dataset, requested_by=world.reader)


def quality_scans(world: World, n: int) -> None:
    dataset = world.once("quality_dataset", lambda: rich_dataset(world))
    world.once("quality_rule", lambda: quality_rules(world, 1))
    for _ in range(n):
        scan_request(dataset=dataset, requested_by=world.reader)


def quality_results(world: World, n: int) -> None:
    dataset = world.once("quality_dataset", lambda: rich_dataset(world))
    world.once("quality_rule", lambda: quality_rules(world, 1))
    rule = QualityRule.objects.filter(dataset=dataset).first()
    scan = scan_request(dataset=dataset, requested_by=world.reader)
    for _ in range(n):
        QualityResult.objects.create(
            scan=scan, rule=rule, rule_name=f"r-{world.next()}", kind=RuleKind.NOT_NULL, severity="error",
            outcome=Outcome.FAIL, samples=[{"email": None}], sample_count=1,
        )  # fmt: skip


def spark_runs(world: World, n: int) -> None:
    first = world.once("first_run", lambda: spark_run_request(job="validate", submit=False))
    for _ in range(n):
        run = spark_run_request(job="profile", requested_by=world.reader, submit=False, after=first)
        SparkRun.objects.filter(pk=run.pk).update(resubmit_of=first)


@dataclass(frozen=True)
class Entry:
    """How to fill one list endpoint with rows, and who reads it."""

    build: Callable[[World, int], None]
    role: str = "auditor"
    query: dict[str, str] = field(default_factory=dict)
    paged: bool = True


API = "/api/v1"
REGISTRY: dict[str, Entry] = {
    f"{API}/audit/events/": Entry(audit_events),
    f"{API}/catalog/data-categories/": Entry(taxonomy(DataCategory)),
    f"{API}/catalog/data-subjects/": Entry(taxonomy(DataSubjectType)),
    f"{API}/catalog/data-uses/": Entry(taxonomy(DataUse)),
    f"{API}/catalog/datasets/": Entry(datasets),
    f"{API}/catalog/fields/": Entry(datasets),
    f"{API}/catalog/glossary-terms/": Entry(glossary_terms),
    f"{API}/catalog/retention-policies/": Entry(retention_policies),
    f"{API}/catalog/schema-versions/": Entry(schema_versions),
    f"{API}/catalog/suggestions/": Entry(datasets),
    f"{API}/common/tokens/": Entry(tokens),
    f"{API}/configuration/entries/": Entry(config_entries, role="admin"),
    f"{API}/incidents/classification-rules/": Entry(classification_rules),
    f"{API}/incidents/incidents/": Entry(incidents),
    f"{API}/incidents/integrations/": Entry(integrations),
    f"{API}/incidents/maintenance-windows/": Entry(maintenance_windows),
    f"{API}/incidents/remediation-rules/": Entry(remediation_rules),
    f"{API}/incidents/remediations/": Entry(remediations),
    f"{API}/incidents/runbooks/": Entry(runbooks),
    f"{API}/lineage/events/": Entry(lineage),
    f"{API}/lineage/jobs/": Entry(lineage),
    f"{API}/lineage/runs/": Entry(lineage),
    f"{API}/oncall/contact-methods/": Entry(contact_methods),
    f"{API}/oncall/notification-rules/": Entry(notification_rules),
    f"{API}/oncall/now/": Entry(schedules, paged=False),
    f"{API}/oncall/overrides/": Entry(overrides),
    f"{API}/oncall/policies/": Entry(policies),
    f"{API}/oncall/schedules/": Entry(schedules),
    f"{API}/oncall/teams/": Entry(teams),
    f"{API}/privacy/consent/report/": Entry(
        consent_report, query={"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}, paged=False
    ),
    f"{API}/quality/datasets/": Entry(quality_datasets),
    f"{API}/quality/results/": Entry(quality_results),
    f"{API}/quality/rules/": Entry(quality_rules),
    f"{API}/quality/scans/": Entry(quality_scans),
    f"{API}/sparkruns/runs/": Entry(spark_runs),
}


def list_endpoints() -> set[str]:
    """Paths of GET operations without a path parameter whose 200 answer is an array or a page of results."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = set()
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        body = get["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in body:
            body = components[body["$ref"].rsplit("/", 1)[1]]
        if body.get("type") == "array" or "results" in body.get("properties", {}):
            found.add(path)
    return found


def test_every_list_endpoint_has_a_row_builder() -> None:
    endpoints = list_endpoints()
    assert endpoints - set(REGISTRY) == set(), "add a row builder to REGISTRY for each new list endpoint"
    assert set(REGISTRY) - endpoints == set(), "REGISTRY names endpoints the API no longer lists"


def fetch(client: APIClient, path: str, query: dict[str, str]) -> tuple[int, list[Any]]:
    """(queries made, rows answered) of one GET."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, query)
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    body = response.json()
    return len(captured), body if isinstance(body, list) else body["results"]


def sql_of(client: APIClient, path: str, query: dict[str, str]) -> str:
    with CaptureQueriesContext(connection) as captured:
        client.get(path, query)
    return "\n".join(q["sql"][:300] for q in captured.captured_queries)


@pytest.mark.parametrize("path", sorted(REGISTRY))
def test_list_query_count_does_not_grow_with_the_page(path: str, make_user: Callable[..., User]) -> None:
    entry = REGISTRY[path]
    reader = make_user(role=entry.role)
    _, raw = api_token_create(user=reader, name="lists")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    world = World(reader=reader, make_user=make_user)
    if not entry.paged:
        entry.build(world, SMALL)
        fetch(client, path, entry.query)  # warm up: the token's first use is written back once
        few, rows = fetch(client, path, entry.query)
        entry.build(world, LARGE)
        many, more = fetch(client, path, entry.query)
        assert len(more) >= len(rows) + LARGE, "the builder's rows are not in the answer"
        small_query, large_query = entry.query, entry.query
    else:
        entry.build(world, LARGE + 2)
        small_query, large_query = {**entry.query, "page_size": str(SMALL)}, {**entry.query, "page_size": str(LARGE)}
        fetch(client, path, large_query)  # warm up: the token's first use is written back once
        few, rows = fetch(client, path, small_query)
        many, more = fetch(client, path, large_query)
        assert (len(rows), len(more)) == (SMALL, LARGE), "the builder made fewer rows than the page holds"
    assert many == few, f"{path}: {few} queries for the small answer, {many} for the large one:\n" + sql_of(
        client, path, large_query
    )
