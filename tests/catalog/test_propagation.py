"""Propagation of data categories along column lineage: chains, masking and aggregation stop it, cycles end,
removing the origin removes what it passed on, and removed edges are cleaned up on recompute."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.catalog.choices import CategorySource
from apps.catalog.models import DataCategory, Field, FieldCategory
from apps.catalog.propagation import propagate_from_fields, propagation_recompute_all
from apps.catalog.services import field_category_add, field_category_remove
from tests.catalog.factories import FieldFactory, field_edge

pytestmark = pytest.mark.django_db


def inherited(field: Field) -> list[tuple[str, int, int]]:
    return sorted(
        FieldCategory.objects.filter(field=field, source=CategorySource.PROPAGATED).values_list(
            "category__key", "hops", "inherited_from__field_id"
        )
    )


def test_a_category_flows_down_a_chain_and_says_where_it_came_from(category: Callable[[str], DataCategory]) -> None:
    a, b, c = FieldFactory(name="email"), FieldFactory(name="email"), FieldFactory(name="contact_email")
    field_edge(a, b, subtype="IDENTITY")
    field_edge(b, c, subtype="TRANSFORMATION")
    field_category_add(field=a, category=category("user.contact.email"), actor=None)
    assert inherited(b) == [("user.contact.email", 1, a.pk)]
    assert inherited(c) == [("user.contact.email", 2, a.pk)]
    assert c.dataset.pii_status == "unknown"
    c.dataset.refresh_from_db()
    assert c.dataset.pii_status == "confirmed"


@pytest.mark.parametrize(
    ("subtype", "kind", "masking"),
    [("IDENTITY", "DIRECT", True), ("AGGREGATION", "DIRECT", False), ("", "INDIRECT", False)],
)
def test_masking_aggregation_and_indirect_edges_stop_it(
    category: Callable[[str], DataCategory], subtype: str, kind: str, masking: bool
) -> None:
    a, b, c = FieldFactory(), FieldFactory(), FieldFactory()
    field_edge(a, b, subtype=subtype, kind=kind, masking=masking)
    field_edge(b, c)
    field_category_add(field=a, category=category("user.contact.phone_number"), actor=None)
    assert inherited(b) == []
    assert inherited(c) == []


def test_cycles_end_and_the_origin_never_inherits_from_itself(category: Callable[[str], DataCategory]) -> None:
    a, b, c = FieldFactory(), FieldFactory(), FieldFactory()
    field_edge(a, b)
    field_edge(b, c)
    field_edge(c, a)
    field_category_add(field=a, category=category("user.device.ip_address"), actor=None)
    assert inherited(a) == []
    assert inherited(b) == [("user.device.ip_address", 1, a.pk)]
    assert inherited(c) == [("user.device.ip_address", 2, a.pk)]
    assert propagate_from_fields(field_ids=[b.pk, c.pk]) == 0  # recomputing changes nothing


def test_removing_the_origin_removes_what_it_passed_on(category: Callable[[str], DataCategory]) -> None:
    a, b, c = FieldFactory(), FieldFactory(), FieldFactory()
    field_edge(a, b)
    field_edge(b, c)
    field_category_add(field=a, category=category("user.name"), actor=None)
    assert inherited(c)
    field_category_remove(field=a, category=category("user.name"), actor=None)
    assert not FieldCategory.objects.filter(field__in=[a, b, c]).exists()
    c.dataset.refresh_from_db()
    assert c.dataset.pii_status == "unknown"


def test_new_edges_propagate_and_removed_edges_are_cleaned_up_on_recompute(
    category: Callable[[str], DataCategory],
) -> None:
    a, b, c, d = FieldFactory(), FieldFactory(), FieldFactory(), FieldFactory()
    ab = field_edge(a, b)
    field_category_add(field=a, category=category("user.contact.email"), actor=None)
    field_edge(b, c)
    field_edge(a, d)
    assert propagate_from_fields(field_ids=[b.pk, a.pk]) == 2  # the lineage app calls this after new edges
    assert inherited(c) == [("user.contact.email", 2, a.pk)]
    ab.delete()
    assert propagate_from_fields(field_ids=[b.pk]) == 2  # b and c lose the category they had through a→b
    assert inherited(b) == []
    assert inherited(c) == []
    assert inherited(d) == [("user.contact.email", 1, a.pk)]
    assert propagation_recompute_all() == 0
