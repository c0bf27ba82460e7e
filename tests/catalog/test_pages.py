"""The data steward's catalog pages: dataset list (search, filters) and dataset page (fields, inherited categories,
schema history, owners, jobs, lineage graph settings), their access rules, query counts and local assets."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.catalog.choices import CategorySource, Classification, IdentityKind, PiiStatus, SuggestionStatus
from apps.catalog.models import (
    DataCategory,
    Dataset,
    Field,
    FieldCategory,
    GlossaryTerm,
    PiiSuggestion,
    RetentionPolicy,
    SchemaVersion,
)
from apps.common.models import User
from apps.lineage.choices import Direction, RunState
from apps.lineage.models import Job, JobDataset, Run

pytestmark = pytest.mark.django_db

LAKE = "file:///lake"


def _category(key: str) -> DataCategory:
    category, _ = DataCategory.objects.get_or_create(key=key, defaults={"name": key.rsplit(".", 1)[-1]})
    return category


def _dataset(name: str, **values: object) -> Dataset:
    return Dataset.objects.create(namespace=LAKE, name=name, search_text=name.replace("/", " "), **values)


def _field(dataset: Dataset, name: str, ordinal: int, **values: object) -> Field:
    return Field.objects.create(dataset=dataset, name=name, ordinal=ordinal, **values)


def _reader(**values: object) -> User:
    user = User.objects.create_user(username=f"reader{User.objects.count()}", password="x" * 16, **values)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="catalog", codename="view_dataset"))
    return user


@pytest.fixture
def reader_client(client: Client) -> Client:
    """A client signed in as a user who may view datasets and nothing more."""
    client.force_login(_reader())
    return client


@pytest.fixture
def rfm_page() -> Dataset:
    """``analytics/rfm_segments`` fed by ``raw/customers``, with categories, owners, versions, jobs and a suggestion."""
    customers = _dataset("raw/customers", domain="customer", classification=Classification.RESTRICTED)
    source_id = _field(customers, "customer_id", 1, data_type="string", nullable=False, is_primary_key=True)
    source_link = FieldCategory.objects.create(
        field=source_id, category=_category("user.unique_id"), source=CategorySource.MANUAL
    )
    rfm = _dataset(
        "analytics/rfm_segments",
        description="Recency, frequency and monetary scores per customer.",
        domain="marketing",
        classification=Classification.CONFIDENTIAL,
        pii_status=PiiStatus.SUGGESTED,
        retention_policy=RetentionPolicy.objects.create(name="pages-two-years", days=730),
        row_count=48213,
        size_bytes=3_400_000,
        last_modified_at=timezone.now() - timedelta(hours=5),
        last_profiled_at=timezone.now() - timedelta(days=2),
        freshness_sla_hours=24,
        schema_version=2,
    )
    customer_id = _field(
        rfm,
        "customer_id",
        1,
        data_type="string",
        nullable=False,
        is_primary_key=True,
        identity_kind=IdentityKind.CUSTOMER_ID,
    )
    FieldCategory.objects.create(
        field=customer_id,
        category=_category("user.unique_id"),
        source=CategorySource.PROPAGATED,
        inherited_from=source_link,
        hops=1,
    )
    segment = _field(rfm, "segment", 2, data_type="string")
    segment.glossary_terms.add(GlossaryTerm.objects.create(name="Customer segment", definition="RFM segment."))
    monetary = _field(rfm, "monetary", 3, data_type="decimal(12,2)")
    _field(rfm, "legacy_score", 4, data_type="int", is_active=False)
    PiiSuggestion.objects.create(
        field=monetary,
        category=_category("user.financial"),
        detector="name",
        confidence=0.4,
        ratio=0.0,
        reason="The name suggests an amount of money.",
        evidence="e1",
        status=SuggestionStatus.PENDING,
    )
    SchemaVersion.objects.create(
        dataset=rfm,
        version=1,
        fields=[{"name": "customer_id", "type": "string", "nullable": False}],
        diff={"added": ["customer_id", "legacy_score"], "removed": [], "changed": []},
        source="run 1",
    )
    SchemaVersion.objects.create(
        dataset=rfm,
        version=2,
        fields=[{"name": "customer_id", "type": "string", "nullable": False}],
        diff={
            "added": ["segment"],
            "removed": ["legacy_score"],
            "changed": [{"name": "monetary", "from": "double", "to": "decimal(12,2)"}],
        },
        is_breaking=True,
        source="run 2",
    )
    owner = User.objects.create_user(username="olivia", email="olivia@example.test", display_name="Olivia Owner")
    assign_perm("catalog.own_dataset", owner, rfm)
    stewards = Group.objects.create(name="pages-marketing-stewards")
    assign_perm("catalog.steward_dataset", stewards, rfm)
    User.objects.create_user(username="sam", display_name="Sam Steward").groups.add(stewards)
    job = Job.objects.create(namespace="ecap", name="rfm", job_type="BATCH")
    job.latest_run = Run.objects.create(job=job, state=RunState.COMPLETE, started_at=timezone.now())
    job.save(update_fields=["latest_run"])
    JobDataset.objects.create(job=job, dataset=rfm, direction=Direction.OUTPUT, last_seen=timezone.now())
    JobDataset.objects.create(job=job, dataset=customers, direction=Direction.INPUT, last_seen=timezone.now())
    reporting = Job.objects.create(namespace="ecap", name="weekly_marketing_report")
    JobDataset.objects.create(job=reporting, dataset=rfm, direction=Direction.INPUT, last_seen=timezone.now())
    return rfm


def _detail_url(dataset: Dataset) -> str:
    return reverse("catalog:dataset-detail", kwargs={"public_id": dataset.public_id})


def _listed(client: Client, **params: str) -> list[str]:
    response = client.get(reverse("catalog:dataset-list"), params)
    assert response.status_code == 200
    return [ds.name for ds in response.context["page"].object_list]


# --- access -----------------------------------------------------------------------------------------------------


def test_catalog_pages_redirect_anonymous_visitors_to_login(client: Client, rfm_page: Dataset) -> None:
    for url in (reverse("catalog:dataset-list"), _detail_url(rfm_page)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_catalog_pages_refuse_users_without_view_dataset(client: Client, rfm_page: Dataset) -> None:
    client.force_login(User.objects.create_user(username="nobody", password="x" * 16))
    by_name = reverse("catalog:dataset-by-name") + f"?namespace={LAKE}&name=raw/customers"
    for url in (reverse("catalog:dataset-list"), _detail_url(rfm_page), by_name):
        response = client.get(url)
        assert response.status_code == 403
        assert "Not allowed" in response.content.decode()


def test_role_holders_reach_the_catalog_from_the_navigation(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user(role="compliance_officer"))
    html = client.get("/").content.decode()
    assert html.count(f'href="{reverse("catalog:dataset-list")}"') == 2  # the navigation and the home tile
    assert client.get(reverse("catalog:dataset-list")).status_code == 200


def test_unknown_dataset_is_not_found(reader_client: Client) -> None:
    missing = "/catalog/datasets/00000000-0000-4000-8000-000000000000/"
    assert reader_client.get(missing).status_code == 404


# --- list -------------------------------------------------------------------------------------------------------


def test_list_searches_names_descriptions_and_indexed_field_names(reader_client: Client, rfm_page: Dataset) -> None:
    _dataset("raw/orders", description="One row per order.", domain="sales")
    Dataset.objects.filter(name="raw/orders").update(search_text="raw orders order_id ip_address")
    assert _listed(reader_client, q="rfm") == ["analytics/rfm_segments"]
    assert _listed(reader_client, q="monetary scores") == ["analytics/rfm_segments"]
    assert _listed(reader_client, q="ip_address") == ["raw/orders"]
    assert _listed(reader_client, q="raw") == ["raw/customers", "raw/orders"]
    assert _listed(reader_client, q="nothing-like-this") == []


def test_list_filters_by_domain_classification_and_pii_status(reader_client: Client, rfm_page: Dataset) -> None:
    _dataset("raw/products", domain="sales", classification=Classification.PUBLIC, pii_status=PiiStatus.NONE)
    assert _listed(reader_client, domain="marketing") == ["analytics/rfm_segments"]
    assert _listed(reader_client, classification="public") == ["raw/products"]
    assert _listed(reader_client, pii="suggested") == ["analytics/rfm_segments"]
    assert _listed(reader_client, domain="sales", pii="suggested") == []
    # An unknown choice is ignored rather than failing the page.
    assert len(_listed(reader_client, classification="top-secret")) == 3


def test_list_hides_retired_datasets_unless_asked(reader_client: Client, rfm_page: Dataset) -> None:
    _dataset("raw/old_orders", is_active=False)
    assert "raw/old_orders" not in _listed(reader_client)
    assert "raw/old_orders" in _listed(reader_client, inactive="1")


def test_list_shows_domains_badges_and_links(reader_client: Client, rfm_page: Dataset) -> None:
    html = reader_client.get(reverse("catalog:dataset-list")).content.decode()
    assert f'href="{_detail_url(rfm_page)}"' in html
    assert '<option value="marketing">marketing</option>' in html
    assert "Confidential" in html
    assert "Suggestions to review" in html


# --- dataset page -----------------------------------------------------------------------------------------------


def test_detail_shows_facts_and_fields(reader_client: Client, rfm_page: Dataset) -> None:
    html = reader_client.get(_detail_url(rfm_page)).content.decode()
    assert "Recency, frequency and monetary scores per customer." in html
    assert "pages-two-years: delete after 730 days" in html
    assert "48,213" in html
    assert "3.2\xa0MB" in html
    for name, data_type in (("customer_id", "string"), ("segment", "string"), ("monetary", "decimal(12,2)")):
        assert f'<code class="field-name">{name}</code>' in html
        assert f'<code class="type">{data_type}</code>' in html
    assert "Customer id" in html  # identity kind
    assert 'title="Primary key">PK<' in html
    assert "Customer segment" in html  # glossary term
    assert "1 field no longer in the schema" in html


def test_detail_names_the_origin_of_inherited_categories(reader_client: Client, rfm_page: Dataset) -> None:
    origin = Dataset.objects.get(name="raw/customers")
    html = reader_client.get(_detail_url(rfm_page)).content.decode()
    assert "<code>user.unique_id</code>" in html
    assert re.search(
        rf'inherited from <a href="{_detail_url(origin)}">raw/customers\.customer_id</a> · 1 hop\b', html
    ), "the inherited category names its origin field with a link to its dataset"


def test_detail_shows_schema_versions_with_their_diffs(reader_client: Client, rfm_page: Dataset) -> None:
    html = reader_client.get(_detail_url(rfm_page)).content.decode()
    v2, v1 = html.index('<span class="v-num">v2</span>'), html.index('<span class="v-num">v1</span>')
    assert v2 < v1, "newest version first"
    newest = html[v2:v1]
    assert "Breaking" in newest
    assert '<li class="added"><span class="sign" aria-label="added">+</span><code>segment</code></li>' in newest
    minus = "\N{MINUS SIGN}"
    removed = f'<li class="removed"><span class="sign" aria-label="removed">{minus}</span><code>legacy_score</code>'
    assert removed in newest
    assert "<code>monetary</code> <code>double</code> → <code>decimal(12,2)</code>" in newest
    assert "Breaking" not in html[v1:]


def test_detail_lists_owners_stewards_jobs_and_pending_suggestions(reader_client: Client, rfm_page: Dataset) -> None:
    response = reader_client.get(_detail_url(rfm_page))
    content = response.context["content"]
    assert [u.username for u in content.owners] == ["olivia"]
    assert [u.username for u in content.stewards] == ["sam"]  # through a group's object permission
    assert [j.name for j in content.writers] == ["rfm"]
    assert [j.name for j in content.readers] == ["weekly_marketing_report"]
    html = response.content.decode()
    assert "Olivia Owner" in html
    assert 'href="mailto:olivia@example.test"' in html
    assert "Sam Steward" in html
    assert "<strong>1</strong> PII suggestion waiting for review." in html
    assert ">Complete<" in html


def test_detail_links_the_review_queue_when_the_admin_provides_it(reader_client: Client, rfm_page: Dataset) -> None:
    html = reader_client.get(_detail_url(rfm_page)).content.decode()
    try:
        queue = reverse("admin:catalog_piisuggestion_changelist")
    except Exception:  # the admin page is not installed: the page must still render, without the link
        assert "Open the review queue" not in html
    else:
        assert f'href="{queue}"' in html


def test_detail_configures_the_lineage_graph(reader_client: Client, rfm_page: Dataset) -> None:
    html = reader_client.get(_detail_url(rfm_page)).content.decode()
    assert 'data-graph-url="/api/v1/lineage/graph/"' in html
    assert 'data-export-url="/api/v1/lineage/graph/export/"' in html
    assert f'data-namespace="{LAKE}"' in html
    assert 'data-name="analytics/rfm_segments"' in html
    assert (
        'href="/api/v1/lineage/graph/export/?namespace=file%3A///lake&amp;name=analytics/rfm_segments'
        '&amp;direction=both&amp;depth=3"' in html
    )
    depths = re.findall(r'<option value="(\d+)"( selected)?>\d+ hops?</option>', html)
    assert [int(n) for n, _ in depths] == list(range(1, 21))
    assert [int(n) for n, selected in depths if selected] == [3]
    assert '<option value="monetary">monetary</option>' in html  # the field-level toggle
    assert '<option value="legacy_score">' not in html  # retired fields have no current lineage


def test_graph_nodes_resolve_to_dataset_pages_by_identity(reader_client: Client, rfm_page: Dataset) -> None:
    url = reverse("catalog:dataset-by-name")
    response = reader_client.get(url, {"namespace": LAKE, "name": "analytics/rfm_segments"})
    assert response.status_code == 302
    assert response["Location"] == _detail_url(rfm_page)
    assert reader_client.get(url, {"namespace": LAKE, "name": "raw/unknown"}).status_code == 404


def _dataset_with_fields(name: str, count: int) -> Dataset:
    dataset = _dataset(name)
    origin_dataset = _dataset(f"{name}_origin")
    origin = FieldCategory.objects.create(
        field=_field(origin_dataset, "email", 1), category=_category("user.contact.email")
    )
    owner = User.objects.create_user(username=f"owner-{name.replace('/', '-')}")
    assign_perm("catalog.own_dataset", owner, dataset)
    term = GlossaryTerm.objects.create(name=f"term {name}", definition="A term.")
    for i in range(count):
        field = _field(dataset, f"col_{i}", i + 1)
        field.glossary_terms.add(term)
        FieldCategory.objects.create(field=field, category=_category("user.contact.email"))
        FieldCategory.objects.create(
            field=field,
            category=_category("user.contact.email"),
            source=CategorySource.PROPAGATED,
            inherited_from=origin,
            hops=2,
        )
        SchemaVersion.objects.create(dataset=dataset, version=i + 1, fields=[], diff={"added": [f"col_{i}"]})
    return dataset


def test_detail_query_count_does_not_grow_with_fields(reader_client: Client) -> None:
    small = _dataset_with_fields("raw/small", 2)
    large = _dataset_with_fields("raw/large", 25)
    reader_client.get(_detail_url(small))  # warm the content-type and permission caches
    counts = []
    for dataset in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = reader_client.get(_detail_url(dataset))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 14, counts


def test_list_query_count_does_not_grow_with_datasets(reader_client: Client) -> None:
    policy = RetentionPolicy.objects.create(name="pages-list", days=30)
    reader_client.get(reverse("catalog:dataset-list"))  # warm the content-type and permission caches
    counts = []
    for batch, size in (("a", 3), ("b", 20)):
        for i in range(size):
            _dataset(f"raw/{batch}{i}", domain="sales", retention_policy=policy)
        with CaptureQueriesContext(connection) as queries:
            assert reader_client.get(reverse("catalog:dataset-list")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_pages_reference_only_local_static_assets(reader_client: Client, rfm_page: Dataset) -> None:
    for url in (reverse("catalog:dataset-list"), _detail_url(rfm_page)):
        html = reader_client.get(url).content.decode()
        assets = re.findall(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"', html)
        assert assets, "the page loads its stylesheet"
        assert not [a for a in assets if re.match(r"(https?:)?//", a)], assets
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "no inline script"
        for asset in assets:
            assert reader_client.get(asset).status_code == 200, asset
    html = reader_client.get(_detail_url(rfm_page)).content.decode()
    assert "/static/catalog/lineage-graph.js" in html
    assert "/static/catalog/catalog.css" in html
