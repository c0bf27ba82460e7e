"""On-call on ``/metrics``: pages by channel and status, pages in flight, running escalations, and the escalation
lag observed when a due step runs (shared through Redis, so a delta is asserted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import Client

from apps.oncall import engine, notify
from tests.common.test_metrics import value

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
LAG = "ecap_oncall_escalation_lag_seconds"


def lag_sample(client: Client, suffix: str, **labels: str) -> float:
    return value(client, f"{LAG}{suffix}", **labels) or 0.0


def test_pages_escalations_and_the_lag_of_a_step_run_late(
    client: Client, make_user, make_contact, make_policy, make_incident, pager, sink
) -> None:
    """``sink`` is the SMS gateway (a local recording server)."""
    alice, bob = (make_user(role="oncall_engineer", username=n) for n in ("alice", "bob"))
    make_contact(alice, "email", "alice@example.test", delay=0)
    make_contact(alice, "sms", "+15550000001", delay=5)
    make_contact(bob, "email", "bob@example.test")
    make_policy("critical", [("users", [alice]), ("wait", 5), ("users", [bob])])
    incident = make_incident()
    with pager.commit():
        engine.escalation_start(incident_id=incident.pk, now=T0)
    pager.drain(T0)

    assert value(client, "ecap_oncall_pages_total", kind="email", status="sent") == 1.0
    assert value(client, "ecap_oncall_pages_in_flight", kind="sms") == 1.0  # alice's SMS rule waits 5 minutes
    assert value(client, "ecap_oncall_escalations_running", status="active") == 1.0
    before = {key: lag_sample(client, *key) for key in (("_count",), ("_sum",))}
    buckets = {le: lag_sample(client, "_bucket", le=le) for le in ("60.0", "120.0", "+Inf")}

    # Beat is late: the step due at T0 + 5 min runs 90 seconds after it was due.
    late = T0 + timedelta(minutes=6, seconds=30)
    with pager.commit():
        engine.sweep_escalations(now=late)
        notify.sweep_deliveries(now=late)
    pager.drain(late)

    assert value(client, "ecap_oncall_pages_total", kind="email", status="sent") == 2.0
    assert value(client, "ecap_oncall_pages_total", kind="sms", status="sent") == 1.0
    assert value(client, "ecap_oncall_pages_in_flight", kind="sms") == 0.0
    assert value(client, "ecap_oncall_escalations_running", status="active") == 0.0  # exhausted
    assert lag_sample(client, "_count") - before[("_count",)] == 1
    assert lag_sample(client, "_sum") - before[("_sum",)] == 90.0
    assert lag_sample(client, "_bucket", le="60.0") - buckets["60.0"] == 0
    assert lag_sample(client, "_bucket", le="120.0") - buckets["120.0"] == 1
    assert lag_sample(client, "_bucket", le="+Inf") - buckets["+Inf"] == 1
