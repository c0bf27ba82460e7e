"""Lineage intake on ``/metrics``: events ingested by type, events by status, event-to-processing lag."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.lineage.models import LineageEvent
from tests.common.test_metrics import value

pytestmark = pytest.mark.django_db


def event(kind: str, event_type: str, lag_seconds: float | None, status: str = "processed") -> LineageEvent:
    now = timezone.now()
    return LineageEvent.objects.create(
        kind=kind,
        event_type=event_type,
        event_time=now - timedelta(seconds=lag_seconds or 0),
        dedup_key=uuid.uuid4().hex,
        payload={},
        status=status,
        processed_at=None if lag_seconds is None else now,
    )


def test_events_by_type_status_and_lag(client: Client) -> None:
    event("run", "START", 2)
    event("run", "COMPLETE", 30)
    event("run", "COMPLETE", 400)
    event("run", "WHATEVER", 3)  # a producer's own event type counts as OTHER
    event("dataset", "", 1)
    event("run", "FAIL", None, status="pending")

    assert value(client, "ecap_lineage_events_total", event_type="START") == 1.0
    assert value(client, "ecap_lineage_events_total", event_type="COMPLETE") == 2.0
    assert value(client, "ecap_lineage_events_total", event_type="OTHER") == 1.0
    assert value(client, "ecap_lineage_events_total", event_type="dataset") == 1.0
    assert value(client, "ecap_lineage_events_total", event_type="FAIL") == 1.0
    assert value(client, "ecap_lineage_events_total", event_type="WHATEVER") is None
    assert value(client, "ecap_lineage_events_stored", status="pending") == 1.0
    assert value(client, "ecap_lineage_events_stored", status="processed") == 5.0
    lag = "ecap_lineage_event_lag_seconds"
    assert value(client, f"{lag}_count") == 5.0  # the pending event has no lag yet
    assert value(client, f"{lag}_bucket", le="5.0") == 3.0
    assert value(client, f"{lag}_bucket", le="60.0") == 4.0
    assert value(client, f"{lag}_bucket", le="900.0") == 5.0
