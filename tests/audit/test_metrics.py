"""The audit log on ``/metrics``: events appended, and the outcome and time of the last chain verification."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.audit.models import GENESIS_HASH, AuditChainHead
from apps.audit.services import audit_record, audit_seal_pending, audit_verify_run
from tests.audit.test_chain import guard_off
from tests.common.test_metrics import value


@pytest.fixture(autouse=True)
def empty_chain(db: None) -> None:
    """An empty chain (rolled back with the test's transaction), as tests/audit/test_chain.py starts from."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent, audit_auditcheckpoint, audit_auditanchor")
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})


def test_events_appended_and_chain_verification(client: Client) -> None:
    assert value(client, "ecap_audit_events_total") == 0.0
    assert value(client, "ecap_audit_chain_verified") is None  # never verified: absent…
    assert value(client, "ecap_audit_chain_last_verified_timestamp_seconds") == 0.0  # …and "verified at the epoch"

    for n in range(3):
        audit_record(action="read", target_type="catalog.dataset", target_id=f"ds-{n}")
    assert value(client, "ecap_audit_events_total") == 3.0
    assert value(client, "ecap_audit_events_pending") == 3.0
    audit_seal_pending()
    assert value(client, "ecap_audit_events_total") == 3.0
    assert value(client, "ecap_audit_events_pending") == 0.0

    started = timezone.now().timestamp()
    assert audit_verify_run().ok
    assert value(client, "ecap_audit_chain_verified") == 1.0
    assert value(client, "ecap_audit_chain_last_verified_timestamp_seconds") >= started - 1
    assert value(client, "ecap_audit_events_total") == 4.0  # the verification is an audit event itself

    with guard_off() as cursor:  # someone edits a sealed event behind the log's back
        cursor.execute("UPDATE audit_auditevent SET target_id = 'tampered' WHERE seq = 2")
    assert not audit_verify_run().ok
    assert value(client, "ecap_audit_chain_verified") == 0.0


def test_the_daily_verification_task_records_what_the_metric_reports(client: Client) -> None:
    from apps.audit.tasks import verify_chain

    audit_record(action="read", target_type="catalog.dataset", target_id="ds-1")
    assert verify_chain.apply().get() is True
    assert value(client, "ecap_audit_chain_verified") == 1.0

    with guard_off() as cursor:
        cursor.execute("UPDATE audit_auditevent SET target_id = 'tampered' WHERE seq = 1")
    assert verify_chain.apply().get() is False
    assert value(client, "ecap_audit_chain_verified") == 0.0
