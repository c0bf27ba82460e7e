"""The privacy taxonomy and retention policies seeded by migration, and how parent keys cover their children."""

from __future__ import annotations

import pytest

from apps.catalog.models import DataCategory, DataSubjectType, DataUse, RetentionPolicy
from apps.catalog.selectors import categories_expand, category_covers, category_descendant_keys
from spark.pii import DETECTORS

pytestmark = pytest.mark.django_db


def test_every_category_the_pii_scan_emits_exists() -> None:
    keys = set(DataCategory.objects.values_list("key", flat=True))
    assert {d.category for d in DETECTORS} <= keys


def test_the_taxonomy_holds_the_fideslang_keys_the_portal_uses() -> None:
    categories = set(DataCategory.objects.values_list("key", flat=True))
    assert {
        "user.contact.address.street", "user.contact.address.city", "user.contact.address.postal_code",
        "user.contact.address.country", "user.name.first", "user.name.last", "user.device.cookie_id",
        "user.unique_id", "user.behavior.purchase_history", "user.behavior.browsing_history", "system.operations",
    } <= categories  # fmt: skip
    assert {
        "marketing.advertising.first_party.targeted",
        "analytics.reporting",
        "essential.service",
        "personalize",
    } <= set(DataUse.objects.values_list("key", flat=True))
    assert {"customer", "visitor", "employee"} <= set(DataSubjectType.objects.values_list("key", flat=True))


def test_every_item_names_an_existing_parent() -> None:
    for model in (DataCategory, DataUse, DataSubjectType):
        keys = set(model.objects.values_list("key", flat=True))
        for key, parent in model.objects.values_list("key", "parent_key"):
            assert parent == key.rpartition(".")[0]
            assert not parent or parent in keys, key


def test_retention_policies_follow_the_platform_facts() -> None:
    days = dict(RetentionPolicy.objects.values_list("name", "days"))
    assert days == {"customer-data": 2555, "transactions": 2555, "analytics": 1095, "logs": 365}


def test_a_parent_key_covers_its_children_and_only_them() -> None:
    assert category_covers("user.contact", "user.contact.email")
    assert category_covers("user.contact", "user.contact")
    assert not category_covers("user.contact", "user.contactless")
    assert not category_covers("user.contact.email", "user.contact")
    address = category_descendant_keys(key="user.contact.address")
    assert address[0] == "user.contact.address"
    assert {"user.contact.address.street", "user.contact.address.postal_code"} <= set(address)
    assert "user.contact.email" not in address
    assert category_descendant_keys(key="no.such.key") == []
    expanded = set(categories_expand(keys=["user.name", "user.contact.email"]).values_list("key", flat=True))
    assert expanded == {"user.name", "user.name.first", "user.name.last", "user.contact.email"}
