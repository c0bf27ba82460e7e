"""Risk scoring: each factor is transparent and adds its points; thresholds come from configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from apps.audit.context import AuditContext
from apps.audit.models import SecurityAlert
from apps.audit.services import audit_record, audit_seal_pending

pytestmark = pytest.mark.django_db

NOON_UTC = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_risk_memory(make_user) -> None:
    for key in ("audit:ips:person-1", "audit:ips:person-2"):
        cache.delete(key)


def ctx(**kwargs: object) -> AuditContext:
    base = {"actor_type": "user", "actor_id": "person-1", "actor_label": "pat", "time_zone": "UTC"}
    return AuditContext(**{**base, **kwargs})


def test_off_hours_are_judged_in_the_actors_time_zone() -> None:
    late_in_berlin = audit_record(
        action="update", context=ctx(time_zone="Europe/Berlin"), occurred_at=datetime(2026, 11, 26, 22, 30, tzinfo=UTC)
    )
    noon = audit_record(action="update", context=ctx(), occurred_at=NOON_UTC)
    assert late_in_berlin.risk_factors["off_hours"] == 15
    assert "off_hours" not in noon.risk_factors


def test_an_address_never_seen_for_the_actor_adds_points_once() -> None:
    first = audit_record(action="update", context=ctx(ip="192.0.2.1"), occurred_at=NOON_UTC)
    again = audit_record(action="update", context=ctx(ip="192.0.2.1"), occurred_at=NOON_UTC)
    other = audit_record(action="update", context=ctx(ip="192.0.2.99"), occurred_at=NOON_UTC)
    assert first.risk_factors["new_ip"] == 15
    assert "new_ip" not in again.risk_factors
    assert other.risk_factors["new_ip"] == 15


def test_a_burst_of_failures_adds_points() -> None:
    context = ctx(actor_id="person-2", ip="192.0.2.5")
    scores = [
        audit_record(action="login_failed", outcome="failed", context=context, occurred_at=NOON_UTC) for _ in range(4)
    ]
    assert "failure_burst" not in scores[1].risk_factors
    assert scores[3].risk_factors["failure_burst"] == 20


def test_reading_personal_data_without_a_matching_purpose_and_role_scores_high(make_user) -> None:
    integrator = make_user(role="integrator")
    context = ctx(actor_id=str(integrator.public_id), actor_label=integrator.username)
    without = audit_record(action="read", target_type="common.user", context=context, occurred_at=NOON_UTC, rows=5000)
    assert without.risk_factors == {
        "action:read": 5,
        "sensitivity": 20,
        "volume": 20,
        "role_mismatch": 20,
        "purpose_missing": 10,
    }
    assert without.risk_score == 75
    wrong_purpose = audit_record(
        action="read", target_type="common.user", context=context, purpose="marketing", occurred_at=NOON_UTC
    )
    assert wrong_purpose.risk_factors["purpose_mismatch"] == 15
    admin = make_user(role="admin")
    fine = audit_record(
        action="read",
        target_type="common.user",
        purpose="support",
        occurred_at=NOON_UTC,
        context=ctx(actor_id=str(admin.public_id)),
    )
    assert fine.risk_score == 25  # the read itself and the sensitivity of the data; nothing suspicious


def test_scores_are_capped_at_100_and_high_scores_raise_one_alert(make_user) -> None:
    integrator = make_user(role="integrator")
    event = audit_record(
        action="export",
        target_type="common.user",
        outcome="denied",
        rows=50_000,
        purpose="curiosity",
        context=ctx(actor_id=str(integrator.public_id), ip="192.0.2.77", time_zone="Pacific/Kiritimati"),
        occurred_at=datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
    )
    assert event.risk_score == 100
    audit_seal_pending()
    assert set(SecurityAlert.objects.values_list("rule", flat=True)) == {"high_risk", "large_export"}


def test_the_alert_threshold_is_configuration(make_user, django_capture_on_commit_callbacks) -> None:
    from apps.configuration.services import config_override_set

    with django_capture_on_commit_callbacks(execute=True):
        config_override_set(key="audit.risk_alert_threshold", value=20, actor=make_user())
    audit_seal_pending()
    SecurityAlert.objects.all().delete()
    event = audit_record(action="token_create", target_type="common.apitoken", context=ctx(), occurred_at=NOON_UTC)
    audit_seal_pending()
    event.refresh_from_db()
    assert event.risk_score == 25
    assert list(SecurityAlert.objects.values_list("rule", "event_seq")) == [("high_risk", event.seq)]
