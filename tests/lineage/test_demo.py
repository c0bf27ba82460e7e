"""The lineage demo goes through the real intake, is idempotent, and shows raw → curated → analytics at once."""

from __future__ import annotations

import pytest

from apps.lineage.demo import _lake, seed
from apps.lineage.models import LineageEvent

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_once_and_shows_raw_to_curated_to_analytics(steward, validate_openlineage) -> None:
    from apps.lineage.demo import demo_events

    for event in demo_events(_lake()):
        validate_openlineage(event)
    assert "6 new OpenLineage events" in seed()[0]
    assert "present" in seed()[0]
    assert LineageEvent.objects.count() == 6
    assert set(LineageEvent.objects.values_list("status", flat=True)) == {"processed"}
    body = steward.get("/api/v1/lineage/graph/", {"namespace": _lake(), "name": "raw/orders", "depth": 3}).json()
    assert {(n["name"], n["hops"]) for n in body["nodes"]} == {
        ("raw/orders", 0),
        ("curated/orders", 1),
        ("analytics/daily_revenue", 2),
    }
    masked = steward.get(
        "/api/v1/lineage/graph/", {"namespace": _lake(), "name": "raw/customers", "field": "email"}
    ).json()
    assert [e["transformation"]["masking"] for e in masked["edges"]] == [True]
