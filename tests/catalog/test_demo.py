"""The catalog's demo data: registered lake datasets with stewards, identity kinds and a non-empty review queue;
seeding twice changes nothing."""

from __future__ import annotations

import pytest

from apps.catalog import demo
from apps.catalog.models import Dataset, Field, FieldCategory, GlossaryTerm, PiiSuggestion, SchemaVersion
from apps.catalog.stewardship import dataset_people
from apps.common.demo import demo_users_ensure

pytestmark = pytest.mark.django_db


def test_seeding_registers_the_demo_lake_and_is_idempotent() -> None:
    demo_users_ensure()
    demo.seed()
    customers = Dataset.objects.get(name="raw/customers")
    assert customers.classification == "restricted"
    assert customers.retention_policy.days == 2555
    assert [u.username for u in dataset_people(dataset=customers)["steward"]] == ["steward"]
    assert Field.objects.get(dataset=customers, name="email").identity_kind == "email"
    assert customers.pii_status in ("suggested", "confirmed")
    # The steward's decisions: e-mail tagged by hand, the phone suggestion accepted (it carries its category).
    email = Field.objects.get(dataset=customers, name="email")
    assert list(email.category_links.values_list("category__key", "source")) == [("user.contact.email", "manual")]
    phone = PiiSuggestion.objects.get(field__dataset=customers, field__name="phone")
    assert phone.status == "accepted"
    assert phone.field.category_links.get().source == "suggestion"
    counts = (
        Dataset.objects.count(),
        SchemaVersion.objects.count(),
        PiiSuggestion.objects.count(),
        FieldCategory.objects.count(),
    )
    assert counts[2] >= 3
    assert "Customer" in customers.search_text
    demo.seed()
    again = (
        Dataset.objects.count(),
        SchemaVersion.objects.count(),
        PiiSuggestion.objects.count(),
        FieldCategory.objects.count(),
    )
    assert again == counts
    assert GlossaryTerm.objects.count() == len(demo.GLOSSARY)
