"""The catalog admin: stewards change only the datasets they steward, the review queue decides in bulk and one by
one, the discovery button queues the runs, and the search box ranks by full-text relevance."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from apps.catalog.choices import SuggestionStatus
from apps.catalog.models import PiiSuggestion
from apps.common.models import User
from apps.sparkruns.models import SparkRun
from tests.catalog.factories import DatasetFactory, PiiSuggestionFactory

pytestmark = pytest.mark.django_db


def test_a_steward_edits_their_dataset_and_only_reads_the_others(
    client: Client, steward_of: Callable[..., User]
) -> None:
    mine, theirs = DatasetFactory(), DatasetFactory()
    client.force_login(steward_of(mine))
    url = reverse("admin:catalog_dataset_change", args=[mine.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="description"' in page.content
    other = client.get(reverse("admin:catalog_dataset_change", args=[theirs.pk]))
    assert other.status_code == 200
    assert b'name="description"' not in other.content  # read-only view
    form = {
        "description": "Customers who registered", "domain": "customers", "tags": '["core"]',
        "classification": "confidential", "retention_policy": "", "freshness_sla_hours": "", "format": "parquet",
        "fields-TOTAL_FORMS": "0", "fields-INITIAL_FORMS": "0", "schema_versions-TOTAL_FORMS": "0",
        "schema_versions-INITIAL_FORMS": "0",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    mine.refresh_from_db()
    assert (mine.description, mine.classification) == ("Customers who registered", "confidential")
    refused = client.post(reverse("admin:catalog_dataset_change", args=[theirs.pk]), form)
    assert refused.status_code == 403
    theirs.refresh_from_db()
    assert theirs.description == ""


def test_the_review_queue_lists_pending_and_decides_in_bulk_and_one_by_one(
    client: Client, steward_of: Callable[..., User]
) -> None:
    first, second, decided = PiiSuggestionFactory(), PiiSuggestionFactory(), PiiSuggestionFactory()
    PiiSuggestion.objects.filter(pk=decided.pk).update(status=SuggestionStatus.REJECTED)
    client.force_login(steward_of(first.field.dataset))
    changelist = reverse("admin:catalog_piisuggestion_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    assert str(first.public_id) in page.content.decode()
    assert page.context["cl"].result_count == 2  # pending only by default
    bulk = client.post(
        changelist, {"action": "accept_selected", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    messages = [str(m) for m in bulk.context["messages"]]
    assert any("Accepted 1" in m for m in messages)
    assert any("not a steward" in m for m in messages)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (SuggestionStatus.ACCEPTED, SuggestionStatus.PENDING)

    admin = User.objects.create_user("queue-admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    decide = reverse("admin:catalog_piisuggestion_decide", args=[second.public_id, "reject"])
    assert b"Reject" in client.get(decide).content
    assert client.post(decide, {"note": "test addresses"}).status_code == 302
    second.refresh_from_db()
    assert (second.status, second.review_note) == (SuggestionStatus.REJECTED, "test addresses")


def test_the_discovery_button_queues_a_profile_and_a_scan(client: Client, steward_of: Callable[..., User]) -> None:
    client.force_login(steward_of())
    response = client.post(reverse("admin:catalog_dataset_discover"))
    assert response.status_code == 302
    assert sorted(SparkRun.objects.values_list("job", flat=True)) == ["pii_scan", "profile"]


def test_the_admin_search_box_ranks_by_relevance(client: Client) -> None:
    client.force_login(User.objects.create_user("search-admin", is_staff=True, is_superuser=True))
    weak = DatasetFactory(name="raw/accounts", search_text="raw accounts description mentions customer once")
    strong = DatasetFactory(
        name="raw/customers", search_text="raw customers customer customer_id customer email Customer glossary"
    )
    DatasetFactory(name="raw/order_items", search_text="raw order items quantity")
    page = client.get(reverse("admin:catalog_dataset_changelist"), {"q": "customer"})
    assert [d.pk for d in page.context["cl"].result_list] == [strong.pk, weak.pk]
