"""The catalog API: reads for every catalog role, writes only for the stewards of that dataset (or an
administrator), the review actions, and list query counts that do not grow with the page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.catalog.choices import SuggestionStatus
from apps.catalog.models import FieldCategory
from apps.catalog.services import FieldSpec, dataset_schema_apply
from apps.catalog.stewardship import dataset_role_assign
from apps.common.models import User
from tests.catalog.factories import DatasetFactory, FieldFactory, GlossaryTermFactory, PiiSuggestionFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/catalog"


def test_reads_need_a_catalog_role(token_client: Callable[..., tuple[APIClient, User]]) -> None:
    DatasetFactory()
    nobody, _ = token_client()
    assert nobody.get(f"{BASE}/datasets/").status_code == 403
    integrator, _ = token_client("integrator")
    assert integrator.get(f"{BASE}/datasets/").json()["count"] == 1
    assert integrator.get(f"{BASE}/data-categories/user.contact.email/").json()["name"] == "E-mail address"


def test_a_steward_patches_only_the_datasets_they_steward(token_client: Callable[..., tuple[APIClient, User]]) -> None:
    mine, theirs = DatasetFactory(), DatasetFactory()
    client, steward = token_client("data_steward")
    dataset_role_assign(dataset=mine, user=steward, role="steward", actor=None)
    response = client.patch(
        f"{BASE}/datasets/{mine.public_id}/",
        {"description": "Every order ever placed", "tags": ["sales", "core"], "classification": "confidential"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["core", "sales"]
    assert response.json()["stewards"] == [steward.username]
    refused = client.patch(f"{BASE}/datasets/{theirs.public_id}/", {"description": "mine now"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_dataset_steward"
    reader, _ = token_client("auditor")
    assert reader.patch(f"{BASE}/datasets/{mine.public_id}/", {"description": "x"}).status_code == 403
    bad = client.patch(f"{BASE}/datasets/{mine.public_id}/", {"classification": "secret"})
    assert bad.status_code == 400
    assert "classification" in bad.json()["fields"]


def test_fields_carry_categories_added_by_hand_and_glossary_terms(
    token_client: Callable[..., tuple[APIClient, User]],
) -> None:
    field = FieldFactory(name="email")
    term = GlossaryTermFactory(name="Customer")
    client, steward = token_client("data_steward")
    dataset_role_assign(dataset=field.dataset, user=steward, role="steward", actor=None)
    url = f"{BASE}/fields/{field.public_id}/"
    added = client.post(f"{url}add-category/", {"category": "user.contact.email"})
    assert added.status_code == 201
    assert added.json()["categories"][0]["source"] == "manual"
    assert client.post(f"{url}add-category/", {"category": "user.contact.email"}).status_code == 409
    patched = client.patch(url, {"identity_kind": "email", "glossary_terms": [str(term.public_id)]})
    assert patched.json()["glossary_terms"] == ["Customer"]
    field.dataset.refresh_from_db()
    assert "Customer" in field.dataset.search_text
    removed = client.post(f"{url}remove-category/", {"category": "user.contact.email"})
    assert removed.json()["categories"] == []


def test_suggestions_are_accepted_and_rejected_through_actions(
    token_client: Callable[..., tuple[APIClient, User]],
) -> None:
    first, second, elsewhere = PiiSuggestionFactory(), PiiSuggestionFactory(), PiiSuggestionFactory()
    dataset_role = (first.field.dataset, second.field.dataset)
    client, steward = token_client("data_steward")
    for dataset in dataset_role:
        dataset_role_assign(dataset=dataset, user=steward, role="steward", actor=None)
    queue = client.get(f"{BASE}/suggestions/", {"status": "pending", "category": "user.contact"}).json()
    assert queue["count"] == 3
    accepted = client.post(f"{BASE}/suggestions/{first.public_id}/accept/", {"note": "yes"})
    assert accepted.json()["status"] == SuggestionStatus.ACCEPTED
    assert FieldCategory.objects.filter(field=first.field).exists()
    assert client.post(f"{BASE}/suggestions/{first.public_id}/reject/").status_code == 409
    assert client.post(f"{BASE}/suggestions/{elsewhere.public_id}/accept/").status_code == 403
    bulk = client.post(
        f"{BASE}/suggestions/bulk-reject/", {"ids": [str(second.public_id), str(elsewhere.public_id)]}
    ).json()
    assert [s["id"] for s in bulk["decided"]] == [str(second.public_id)]
    assert bulk["skipped"] == {str(elsewhere.public_id): "not a steward of the dataset"}


def _count(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("resource", ["datasets", "fields", "suggestions", "schema-versions", "glossary-terms"])
def test_list_queries_do_not_grow_with_the_page(
    token_client: Callable[..., tuple[APIClient, User]], category: Callable[[str], object], resource: str
) -> None:
    client, _ = token_client("auditor")

    def add_one() -> None:
        dataset = DatasetFactory()
        dataset_schema_apply(dataset=dataset, fields=[FieldSpec("email", "string"), FieldSpec("id", "string")])
        suggestion = PiiSuggestionFactory(field=dataset.fields.get(name="email"))
        suggestion.field.glossary_terms.add(GlossaryTermFactory())

    add_one()
    client.get(f"{BASE}/{resource}/")  # the token's first use is written back once; count steady-state requests
    few = _count(client, f"{BASE}/{resource}/")
    for _ in range(4):
        add_one()
    assert _count(client, f"{BASE}/{resource}/") == few


def test_search_ranks_datasets(token_client: Callable[..., tuple[APIClient, User]]) -> None:
    client, _ = token_client("auditor")
    orders = DatasetFactory(name="raw/orders", search_text="raw orders order_id customer_id total_amount")
    DatasetFactory(name="raw/products", search_text="raw products product_id price")
    found = client.get(f"{BASE}/datasets/", {"search": "orders"}).json()
    assert [d["id"] for d in found["results"]] == [str(orders.public_id)]
