"""The auditors' surface of the audit log: the events API with its filters and CSV export, the access report, the
compliance summary, chain verification (API and admin), the read-only admin, and the recording of every read of
personal data (API responses and admin pages)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.access import AuditedReadAdminMixin, record_api_read
from apps.audit.anchors import anchor_write
from apps.audit.api.views import EXPORT_COLUMNS, export_stream
from apps.audit.choices import ActorType, AuditAction, Outcome
from apps.audit.context import AuditContext, acting_as
from apps.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, SecurityAlert
from apps.audit.selectors import audit_event_list
from apps.audit.services import audit_record, audit_seal_pending
from apps.common.models import User
from apps.common.testing import assert_queries_constant
from apps.configuration.services import get_store

pytestmark = pytest.mark.django_db

API = "/api/v1/audit"
EVENTS = f"{API}/events/"
EXPORT = f"{API}/events/export/"
ACCESS = f"{API}/reports/access/"
SUMMARY = f"{API}/reports/summary/"
VERIFY = f"{API}/verify/"
CHANGELIST = "/admin/audit/auditevent/"
SYSTEM = AuditContext(actor_type=ActorType.SYSTEM, actor_id="test-suite", actor_label="test-suite")

TokenClient = Callable[..., tuple[APIClient, User]]


@pytest.fixture(autouse=True)
def empty_chain(db: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty chain at the genesis hash (whatever earlier tests committed) and a fresh anchor file per test."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent, audit_auditcheckpoint, audit_auditanchor, audit_securityalert")
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
    monkeypatch.setenv("ECAP_AUDIT__ANCHOR_SINK", "file")
    monkeypatch.setenv("ECAP_AUDIT__ANCHOR_FILE", str(tmp_path / "anchors.jsonl"))
    get_store().invalidate()


@pytest.fixture
def noon() -> datetime:
    """Yesterday at noon UTC: inside the default 30-day window and never off-hours (risk scores stay predictable)."""
    return timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


@pytest.fixture
def auditor(token_client: TokenClient) -> APIClient:
    client, _ = token_client(role="auditor")
    return client


def record(action: str = AuditAction.UPDATE, *, context: AuditContext = SYSTEM, **fields: Any) -> AuditEvent:
    """One pending event written as ``context`` (the system unless told)."""
    with acting_as(context):
        return audit_record(action=action, target_type=fields.pop("target_type", "test.thing"), **fields)


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def own_ids(response: Any) -> set[str]:
    """Target ids of the test's own events (``test.*``) in a list response; fixture users' events are left out."""
    return {row["target"]["id"] for row in results(response) if row["target"]["type"].startswith("test.")}


# --- permissions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "compliance_officer", "admin"])
def test_audit_readers_list_events(token_client: TokenClient, role: str) -> None:
    client, _ = token_client(role=role)
    record(target_id="1")
    audit_seal_pending()
    assert "1" in own_ids(client.get(EVENTS))


def test_superuser_without_a_role_lists_events(token_client: TokenClient) -> None:
    client, _ = token_client(is_superuser=True)
    assert client.get(EVENTS).status_code == 200


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", EVENTS), ("get", f"{EVENTS}1/"), ("get", EXPORT), ("get", SUMMARY), ("get", ACCESS), ("post", VERIFY)],
)
def test_data_steward_is_refused_every_endpoint_with_403(token_client: TokenClient, method: str, url: str) -> None:
    client, _ = token_client(role="data_steward")
    response = getattr(client, method)(url)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not AuditEvent.objects.filter(action__in=[AuditAction.VERIFY, AuditAction.EXPORT]).exists()


@pytest.mark.parametrize(("method", "url"), [("get", EVENTS), ("get", EXPORT), ("get", SUMMARY), ("post", VERIFY)])
def test_unauthenticated_caller_gets_401(api_client: APIClient, method: str, url: str) -> None:
    response = getattr(api_client, method)(url)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- the events list and its filters ----------------------------------------------------------------------------


@pytest.fixture
def four_events(noon: datetime) -> dict[str, AuditEvent]:
    """Four sealed events that differ in every filtered column."""
    alice = AuditContext(actor_type=ActorType.SERVICE, actor_id="svc-alice", actor_label="alice")
    bob = AuditContext(actor_type=ActorType.SERVICE, actor_id="svc-bob", actor_label="bob")
    carol = AuditContext(actor_type=ActorType.ANONYMOUS, actor_label="carol")
    events = {
        "1": record(
            AuditAction.CREATE,
            context=alice,
            target_id="1",
            occurred_at=noon - timedelta(hours=2),
            details={"request": "req-1"},
        ),
        "2": record(
            AuditAction.READ,
            context=bob,
            target_id="2",
            outcome=Outcome.DENIED,
            occurred_at=noon - timedelta(hours=1),
        ),
        "3": record(
            AuditAction.LOGIN_FAILED,
            context=carol,
            target_type="test.other",
            target_id="3",
            outcome=Outcome.FAILED,
            risk_factors={"test": 90},
            occurred_at=noon,
        ),
        "4": record(AuditAction.EXPORT, context=alice, target_id="4", rows=10, occurred_at=noon + timedelta(hours=1)),
    }
    audit_seal_pending()
    return {key: AuditEvent.objects.get(pk=event.pk) for key, event in events.items()}


def test_list_shows_sealed_events_newest_first_with_actor_target_and_chain(
    auditor: APIClient, four_events: dict[str, AuditEvent]
) -> None:
    record(target_id="pending")  # not sealed: not listed
    rows = results(auditor.get(EVENTS, {"page_size": 500}))
    seqs = [row["seq"] for row in rows]
    assert seqs == sorted(seqs, reverse=True)
    assert "pending" not in {row["target"]["id"] for row in rows}
    first = next(row for row in rows if row["target"]["id"] == "1")
    event = four_events["1"]
    assert first == {
        "seq": event.seq,
        "occurred_at": first["occurred_at"],
        "actor": {"type": "service", "id": "svc-alice", "label": "alice", "token": ""},
        "ip": "",
        "user_agent": "",
        "request_id": "",
        "action": "create",
        "target": {"type": "test.thing", "id": "1", "label": ""},
        "changes": {},
        "purpose": "",
        "outcome": "success",
        "risk_score": event.risk_score,
        "risk_factors": event.risk_factors,
        "details": {"request": "req-1"},
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }
    assert datetime.fromisoformat(first["occurred_at"]) == event.occurred_at


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "svc-alice"}, {"1", "4"}),
        ({"actor": "alice"}, {"1", "4"}),
        ({"actor": "carol"}, {"3"}),
        ({"target_type": "test.other"}, {"3"}),
        ({"target_id": "2"}, {"2"}),
        ({"action": ["login_failed", "export"]}, {"3", "4"}),
        ({"action": "read"}, {"2"}),
        ({"outcome": "denied"}, {"2"}),
        ({"risk_min": "90"}, {"3"}),
        ({"occurred_after": -30}, {"3", "4"}),
        ({"occurred_before": 0}, {"1", "2"}),
        ({"occurred_after": -60, "occurred_before": 60}, {"2", "3"}),
        ({"actor": "alice", "action": "export"}, {"4"}),
    ],
)
def test_each_filter_narrows_the_list(
    auditor: APIClient, four_events: dict[str, AuditEvent], noon: datetime, params: dict[str, Any], expected: set[str]
) -> None:
    query = {
        key: (noon + timedelta(minutes=value)).isoformat() if key.startswith("occurred_") else value
        for key, value in params.items()
    }
    assert own_ids(auditor.get(EVENTS, {**query, "page_size": 500})) == expected


def test_request_id_filter_finds_the_events_of_one_request(auditor: APIClient) -> None:
    for request_id in ("req-a", "req-b", "req-a"):
        record(context=AuditContext(request_id=request_id), target_id=request_id)
    audit_seal_pending()
    rows = results(auditor.get(EVENTS, {"request_id": "req-a"}))
    assert [row["request_id"] for row in rows] == ["req-a", "req-a"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("risk_min", "abc"),
        ("risk_min", "-1"),
        ("occurred_after", "yesterday"),
        ("occurred_before", "2025-13-45"),
        ("action", "nope"),
        ("outcome", "maybe"),
    ],
)
@pytest.mark.parametrize("url", [EVENTS, EXPORT])
def test_bad_filter_values_answer_400_naming_the_parameter(
    auditor: APIClient, url: str, param: str, value: str
) -> None:
    response = auditor.get(url, {param: value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["fields"]) == [param]


def test_a_csv_client_gets_a_bad_filter_explained_in_csv(auditor: APIClient) -> None:
    response = auditor.get(EXPORT, {"risk_min": "abc"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["code", "detail", "field", "message"]
    assert rows[1][:3] == ["validation_error", "The input is not valid.", "risk_min"]


def test_list_query_count_does_not_grow_with_rows(auditor: APIClient) -> None:
    def grow(count: int) -> None:
        for _ in range(count):
            record(target_id=uuid.uuid4().hex)
        audit_seal_pending()

    # Each request also writes one read event: a constant.
    assert_queries_constant(lambda: auditor.get(EVENTS), grow)


def test_listing_events_is_recorded_as_a_read_with_the_page_length_and_purpose(
    token_client: TokenClient, four_events: dict[str, AuditEvent]
) -> None:
    client, reader = token_client(role="auditor")
    response = client.get(EVENTS, {"page_size": 3}, HTTP_X_PURPOSE="quarterly review")
    assert len(results(response)) == 3
    read = AuditEvent.objects.get(action=AuditAction.READ, target_type="audit.auditevent")
    assert read.seq is None  # pending until sealed
    assert (read.actor_id, read.actor_type) == (str(reader.public_id), ActorType.TOKEN)
    assert read.purpose == "quarterly review"
    assert read.details == {"fields": ["actor", "ip", "user_agent"], "rows": 3}


# --- detail ---------------------------------------------------------------------------------------------------


def test_detail_by_seq_returns_the_event_and_records_the_read(
    auditor: APIClient, four_events: dict[str, AuditEvent]
) -> None:
    event = four_events["3"]
    response = auditor.get(f"{EVENTS}{event.seq}/", {"purpose": "incident-42"})
    assert response.status_code == 200
    body = response.json()
    assert (body["seq"], body["action"], body["hash"]) == (event.seq, "login_failed", event.hash)
    read = AuditEvent.objects.get(action=AuditAction.READ, target_type="audit.auditevent")
    assert (read.target_id, read.purpose, read.details["rows"]) == (str(event.seq), "incident-42", 1)


def test_unknown_seq_answers_404_json(auditor: APIClient) -> None:
    response = auditor.get(f"{EVENTS}999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- CSV export -------------------------------------------------------------------------------------------------


def test_export_streams_every_matching_row_and_records_the_exact_count(token_client: TokenClient) -> None:
    client, exporter = token_client(role="compliance_officer")
    for number in range(2500):
        record(target_type="test.bulk", target_id=str(number))
    record(target_type="test.other", target_id="not-exported")
    audit_seal_pending()

    response = client.get(EXPORT, {"target_type": "test.bulk"}, HTTP_X_PURPOSE="regulator request")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="audit-events.csv"'
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()  # recorded when the stream ends

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    body = rows[1:]
    assert len(body) == 2500
    assert {row[EXPORT_COLUMNS.index("target_id")] for row in body} == {str(n) for n in range(2500)}
    seqs = [int(row[0]) for row in body]
    assert seqs == sorted(seqs, reverse=True)

    export = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert export.target_type == "audit.auditevent"
    assert export.details["rows"] == 2500
    assert export.details["complete"] is True
    assert export.details["filters"] == {"target_type": "test.bulk"}
    # Streaming runs after the view returned: the event still names the caller and the purpose.
    assert (export.actor_id, export.purpose) == (str(exporter.public_id), "regulator request")
    assert export.risk_factors["action:export"] == 25
    assert export.risk_factors["volume"] == 20


def test_export_applies_the_list_filters_and_defaults_the_purpose_to_audit(
    auditor: APIClient, four_events: dict[str, AuditEvent]
) -> None:
    response = auditor.get(EXPORT, {"actor": "alice"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["target_id"] for row in rows) == ["1", "4"]
    assert rows[0]["details"] == '{"rows":10}'
    export = AuditEvent.objects.get(action=AuditAction.EXPORT, target_type="audit.auditevent")
    assert (export.details["rows"], export.purpose) == (2, "audit")


def test_export_neutralises_spreadsheet_formulas(auditor: APIClient) -> None:
    record(target_id="x", target_label='=HYPERLINK("http://evil")')
    audit_seal_pending()
    response = auditor.get(EXPORT, {"target_id": "x"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["target_label"] == '\'=HYPERLINK("http://evil")'


def test_an_abandoned_export_is_recorded_with_the_rows_handed_over() -> None:
    for number in range(2100):
        record(target_type="test.bulk", target_id=str(number))
    audit_seal_pending()
    exporter = AuditContext(actor_type=ActorType.USER, actor_id=str(uuid.uuid4()), actor_label="gus", purpose="audit")
    stream = export_stream(audit_event_list(filters={"target_type": "test.bulk"}), context=exporter, filters={})
    next(stream)  # the header
    next(stream)  # the first 2000 rows
    stream.close()  # the client went away: the server closes the response and so the generator
    export = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert (export.details["rows"], export.details["complete"]) == (2000, False)
    assert (export.actor_label, export.purpose) == ("gus", "audit")


# --- access report ----------------------------------------------------------------------------------------------


@pytest.fixture
def subject(make_user: Callable[..., User], noon: datetime) -> User:
    """An auditor (so no role-mismatch risk) with reads for two purposes, an export, a denial, from two addresses."""
    person = make_user(role="auditor", username="dana")

    def as_dana(ip: str) -> AuditContext:
        return AuditContext(
            actor_type=ActorType.USER, actor_id=str(person.public_id), actor_label="dana", ip=ip, time_zone="UTC"
        )

    first, second = as_dana("10.0.0.1"), as_dana("10.0.0.2")
    record(AuditAction.READ, context=first, target_type="common.user", rows=3, purpose="support", occurred_at=noon)
    record(AuditAction.READ, context=second, target_type="common.user", rows=2, purpose="support", occurred_at=noon)
    record(AuditAction.READ, context=first, target_type="common.user", rows=1, purpose="security", occurred_at=noon)
    record(AuditAction.EXPORT, context=first, target_type="test.dataset", rows=40, purpose="analysis", occurred_at=noon)
    record(AuditAction.READ, context=second, target_type="test.secret", outcome=Outcome.DENIED, occurred_at=noon)
    record(AuditAction.UPDATE, context=first, risk_factors={"test": 60}, occurred_at=noon + timedelta(minutes=5))
    # Not dana's: a failed login naming her (counted apart) and someone else's read.
    failed = AuditContext(actor_type=ActorType.ANONYMOUS, actor_label="dana", ip="203.0.113.9")
    record(
        AuditAction.LOGIN_FAILED, context=failed, target_type="common.user", outcome=Outcome.FAILED, occurred_at=noon
    )
    other = AuditContext(actor_type=ActorType.SERVICE, actor_id="svc-other", actor_label="other", ip="10.9.9.9")
    record(AuditAction.READ, context=other, target_type="common.user", rows=7, occurred_at=noon)
    # Outside the window.
    record(AuditAction.READ, context=first, target_type="common.user", occurred_at=noon - timedelta(days=40))
    audit_seal_pending()
    return person


def test_access_report_counts_a_users_actions_reads_failures_and_addresses(
    token_client: TokenClient, subject: User
) -> None:
    client, reader = token_client(role="compliance_officer")
    response = client.get(ACCESS, {"user": str(subject.public_id)})
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["user"] == {"id": str(subject.public_id), "username": "dana", "display_name": subject.display_name}
    assert report["total"] == 6
    assert report["by_action"] == {"export": 1, "read": 4, "update": 1}
    assert report["personal_data"] == [
        {
            "target_type": "common.user",
            "reads": 3,
            "exports": 0,
            "rows": 6,
            "purposes": [
                {"purpose": "security", "events": 1, "rows": 1},
                {"purpose": "support", "events": 2, "rows": 5},
            ],
        },
        {
            "target_type": "test.dataset",
            "reads": 0,
            "exports": 1,
            "rows": 40,
            "purposes": [{"purpose": "analysis", "events": 1, "rows": 40}],
        },
        {
            "target_type": "test.secret",
            "reads": 1,
            "exports": 0,
            "rows": 0,
            "purposes": [{"purpose": "", "events": 1, "rows": 0}],
        },
    ]
    assert (report["failed"], report["denied"], report["login_failures"]) == (0, 1, 1)
    assert [(e["action"], e["target"]["type"], e["outcome"]) for e in report["failures"]] == [
        ("read", "test.secret", "denied")
    ]
    assert {(a["ip"], a["events"]) for a in report["ips"]} == {("10.0.0.1", 4), ("10.0.0.2", 2)}
    assert report["high_risk_count"] == 1
    assert [e["action"] for e in report["high_risk"]] == ["update"]
    # Reading the report is itself a read of dana's personal data.
    read = AuditEvent.objects.get(action=AuditAction.READ, actor_id=str(reader.public_id))
    assert (read.target_type, read.target_id, read.purpose) == ("common.user", str(subject.public_id), "audit")


def test_access_report_window_excludes_older_events(auditor: APIClient, subject: User, noon: datetime) -> None:
    since = (noon - timedelta(days=60)).isoformat()
    report = auditor.get(ACCESS, {"user": str(subject.public_id), "since": since}).json()
    assert report["by_action"]["read"] == 5
    narrow = {
        "user": str(subject.public_id),
        "since": noon.isoformat(),
        "until": (noon + timedelta(minutes=1)).isoformat(),
    }
    assert auditor.get(ACCESS, narrow).json()["by_action"] == {"export": 1, "read": 4}


def test_access_report_of_an_unknown_user_is_404(auditor: APIClient) -> None:
    response = auditor.get(ACCESS, {"user": str(uuid.uuid4())})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "user"),
        ({"user": "abc"}, "user"),
        ({"user": "00000000-0000-0000-0000-000000000000", "since": "yesterday"}, "since"),
        ({"user": "00000000-0000-0000-0000-000000000000", "since": "2030-01-01T00:00:00Z"}, "until"),
    ],
)
def test_access_report_rejects_bad_parameters_with_400(auditor: APIClient, params: dict[str, str], field: str) -> None:
    response = auditor.get(ACCESS, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]


# --- compliance summary -----------------------------------------------------------------------------------------


def test_summary_counts_the_window_and_reports_an_intact_chain(auditor: APIClient, noon: datetime) -> None:
    record(AuditAction.UPDATE, occurred_at=noon)
    record(AuditAction.UPDATE, occurred_at=noon)
    record(AuditAction.READ, outcome=Outcome.DENIED, occurred_at=noon)
    record(
        AuditAction.LOGIN_FAILED,
        context=AuditContext(actor_type=ActorType.ANONYMOUS, actor_label="mallory"),
        outcome=Outcome.FAILED,
        occurred_at=noon,
    )
    record(AuditAction.CONFIG_CHANGE, risk_factors={"test": 60}, occurred_at=noon + timedelta(minutes=1))
    record(AuditAction.UPDATE, occurred_at=noon - timedelta(days=3))  # outside the window
    SecurityAlert.objects.create(rule="failed_logins", dedup_key="user:mallory", summary="5 failed", created_at=noon)
    SecurityAlert.objects.create(
        rule="large_export", dedup_key="old", summary="old", created_at=noon - timedelta(days=3)
    )
    audit_seal_pending()
    head = AuditChainHead.objects.get(pk=1)

    window = {"since": (noon - timedelta(hours=1)).isoformat(), "until": (noon + timedelta(hours=1)).isoformat()}
    response = auditor.get(SUMMARY, window)
    assert response.status_code == 200, response.content
    summary = response.json()
    assert summary["total"] == 5
    assert summary["by_action"] == {"config_change": 1, "login_failed": 1, "read": 1, "update": 2}
    assert summary["by_outcome"] == {"denied": 1, "failed": 1, "success": 3}
    assert (summary["failed"], summary["denied"], summary["login_failures"]) == (1, 1, 1)
    assert summary["high_risk_count"] == 1
    assert [e["action"] for e in summary["high_risk"]] == ["config_change"]
    assert (summary["alerts_count"], summary["alerts_by_rule"]) == (1, {"failed_logins": 1})
    assert summary["alerts"][0]["summary"] == "5 failed"
    assert summary["chain"]["ok"] is True
    assert summary["chain"]["last_seq"] == head.seq
    assert summary["pending"] == summary["chain"]["pending"]


def test_summary_defaults_to_the_last_30_days(auditor: APIClient, noon: datetime) -> None:
    record(AuditAction.UPDATE, occurred_at=noon)
    record(AuditAction.UPDATE, occurred_at=noon - timedelta(days=31))
    audit_seal_pending()
    summary = auditor.get(SUMMARY).json()
    since, until = datetime.fromisoformat(summary["since"]), datetime.fromisoformat(summary["until"])
    assert until - since == timedelta(days=30)
    assert timezone.now() - until < timedelta(minutes=1)
    in_window = AuditEvent.objects.filter(seq__isnull=False, occurred_at__gte=since, occurred_at__lt=until)
    assert summary["total"] == in_window.count()
    assert not in_window.filter(occurred_at=noon - timedelta(days=31)).exists()
    assert in_window.filter(occurred_at=noon).exists()


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "yesterday"}, "since"), ({"until": "soon"}, "until"), ({"since": "2030-01-01T00:00:00Z"}, "until")],
)
def test_summary_rejects_bad_windows_with_400(auditor: APIClient, params: dict[str, str], field: str) -> None:
    response = auditor.get(SUMMARY, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == [field]


# --- verification -----------------------------------------------------------------------------------------------


def tamper(seq: int) -> None:
    """Rewrite an event's action behind the append-only guard (what an attacker with table access could do)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET action='read' WHERE seq=%s", [seq])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def test_verify_seals_checks_anchors_and_records_the_run(token_client: TokenClient) -> None:
    client, verifier = token_client(role="auditor")
    for number in range(5):
        record(target_id=str(number))
    anchor_write()
    record(target_id="pending")

    response = client.post(VERIFY)
    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is True
    assert report["first_bad_seq"] is None
    assert report["anchors_checked"] == 1
    assert report["pending"] == 0  # sealed first
    assert report["last_seq"] == AuditChainHead.objects.get(pk=1).seq
    run = AuditEvent.objects.get(action=AuditAction.VERIFY)
    assert (run.actor_id, run.target_type) == (str(verifier.public_id), "audit.auditevent")
    assert run.details["ok"] is True
    assert run.details["anchors_checked"] == 1
    assert "chain_broken" not in run.risk_factors


def test_verify_reports_the_first_tampered_event(auditor: APIClient) -> None:
    events = [record(target_id=str(number)) for number in range(6)]
    audit_seal_pending()
    victim = AuditEvent.objects.get(pk=events[3].pk).seq
    assert victim is not None
    tamper(victim)

    response = auditor.post(VERIFY)
    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is False
    assert report["first_bad_seq"] == victim
    assert report["reason"]
    run = AuditEvent.objects.get(action=AuditAction.VERIFY)
    assert (run.details["ok"], run.details["first_bad_seq"]) == (False, victim)
    assert run.risk_factors["chain_broken"] == 80


# --- admin ------------------------------------------------------------------------------------------------------


@pytest.fixture
def auditor_browser(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user(role="auditor", is_staff=True))
    return client


def test_auditor_reads_the_event_changelist_with_the_verify_button(
    auditor_browser: Client, four_events: dict[str, AuditEvent]
) -> None:
    response = auditor_browser.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Verify chain" in html
    assert f"{CHANGELIST}verify/" in html
    assert "alice" in html
    read = AuditEvent.objects.get(action=AuditAction.READ, target_type="audit.auditevent")
    assert read.details["fields"] == ["actor_label"]
    assert read.purpose == "audit"


def test_event_change_view_shows_canonical_text_hashes_changes_and_risk_factors(
    auditor_browser: Client, four_events: dict[str, AuditEvent]
) -> None:
    event = four_events["3"]
    response = auditor_browser.get(f"{CHANGELIST}{event.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert event.hash is not None
    assert event.prev_hash is not None
    assert event.hash in html
    assert event.prev_hash in html
    assert "&quot;test&quot;: 90" in html  # risk factors
    assert "login_failed ␟ test.other ␟ 3" in html  # the canonical text the hash covers
    assert 'name="_save"' not in html  # read-only


def test_events_cannot_be_added_changed_or_deleted_in_the_admin(
    make_user: Callable[..., User], four_events: dict[str, AuditEvent]
) -> None:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    event = four_events["1"]
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}{event.pk}/delete/").status_code == 403
    client.post(f"{CHANGELIST}{event.pk}/change/", {"action": "read"})
    assert AuditEvent.objects.get(pk=event.pk).action == "create"


def test_changelist_accepts_a_purpose_and_records_it(
    auditor_browser: Client, four_events: dict[str, AuditEvent]
) -> None:
    response = auditor_browser.get(CHANGELIST, {"purpose": "dsar-17", "action__exact": "export"})
    assert response.status_code == 200
    read = AuditEvent.objects.get(action=AuditAction.READ, target_type="audit.auditevent")
    assert (read.purpose, read.details["rows"]) == ("dsar-17", 1)


def test_admin_verify_shows_the_summary_and_records_the_run(
    auditor_browser: Client, four_events: dict[str, AuditEvent]
) -> None:
    response = auditor_browser.post(f"{CHANGELIST}verify/", follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1
    assert messages[0].startswith("chain intact: events #1..")
    assert AuditEvent.objects.filter(action=AuditAction.VERIFY).count() == 1


def test_admin_verify_reports_a_broken_chain_as_an_error(
    auditor_browser: Client, four_events: dict[str, AuditEvent]
) -> None:
    victim = four_events["1"].seq
    assert victim is not None
    tamper(victim)
    response = auditor_browser.post(f"{CHANGELIST}verify/", follow=True)
    message = next(iter(response.context["messages"]))
    assert message.level_tag == "error"
    assert str(message).startswith(f"chain BROKEN at #{victim}")


def test_admin_verify_needs_post_and_the_view_permission(
    auditor_browser: Client, make_user: Callable[..., User]
) -> None:
    assert auditor_browser.get(f"{CHANGELIST}verify/").status_code == 405
    steward = Client()
    steward.force_login(make_user(role="data_steward", is_staff=True))
    assert steward.post(f"{CHANGELIST}verify/").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


# --- the admin mixin and the API helper -------------------------------------------------------------------------


class PersonReadAdmin(AuditedReadAdminMixin, admin.ModelAdmin[User]):
    """A throwaway admin over users, showing two personal fields."""

    list_display = ("username", "email", "is_active")
    fields = ("username", "email", "display_name", "time_zone")
    personal_fields = ("email", "display_name")


@pytest.fixture
def person_admin() -> PersonReadAdmin:
    return PersonReadAdmin(User, admin.AdminSite(name="audit_mixin_test"))


@pytest.fixture
def superuser(make_user: Callable[..., User]) -> User:
    return make_user(is_staff=True, is_superuser=True)


def test_mixin_records_a_changelist_read_with_the_personal_fields_rows_and_purpose(
    person_admin: PersonReadAdmin, superuser: User, make_user: Callable[..., User]
) -> None:
    make_user(username="erin")
    request = RequestFactory().get("/people/", {"purpose": "support"})
    request.user = superuser
    response = person_admin.changelist_view(request)
    assert response.status_code == 200
    read = AuditEvent.objects.get(action=AuditAction.READ, target_type="common.user")
    assert read.details == {"fields": ["email"], "rows": User.objects.count()}
    assert read.purpose == "support"


def test_mixin_records_an_object_read_naming_the_object(
    person_admin: PersonReadAdmin, superuser: User, make_user: Callable[..., User]
) -> None:
    person = make_user(username="frank")
    request = RequestFactory().get(f"/people/{person.pk}/change/", HTTP_X_PURPOSE="security")
    request.user = superuser
    with acting_as(AuditContext(actor_type=ActorType.USER, actor_id=str(superuser.public_id), actor_label="root")):
        assert person_admin.change_view(request, str(person.pk)).status_code == 200
    read = AuditEvent.objects.get(action=AuditAction.READ, target_type="common.user")
    assert (read.target_id, read.purpose) == (str(person.public_id), "security")
    assert read.details == {"fields": ["display_name", "email"], "rows": 1}
    assert read.actor_id == str(superuser.public_id)


def test_mixin_defaults_the_purpose_and_skips_pages_without_personal_fields(
    person_admin: PersonReadAdmin, superuser: User
) -> None:
    request = RequestFactory().get("/people/")
    request.user = superuser
    person_admin.list_display = ("username", "is_active")
    person_admin.changelist_view(request)
    assert not AuditEvent.objects.filter(action=AuditAction.READ).exists()
    person_admin.list_display = ("username", "email")
    person_admin.changelist_view(request)
    assert AuditEvent.objects.get(action=AuditAction.READ).purpose == "administration"


def test_record_api_read_takes_the_purpose_from_the_header_then_the_query_then_the_default() -> None:
    factory = RequestFactory()
    header = factory.get("/x/", {"purpose": "query"}, HTTP_X_PURPOSE="header")
    query = factory.get("/x/", {"purpose": "query"})
    plain = factory.get("/x/")
    for request in (header, query, plain):
        request.user = AnonymousUser()
    purposes = [
        record_api_read(r, target_type="test.thing", fields=["email"], rows=2, default_purpose="default").purpose
        for r in (header, query, plain)
    ]
    assert purposes == ["header", "query", "default"]
