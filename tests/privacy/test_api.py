"""The privacy API for integrators: consent recorded one by one or in batches, checked, reported; subjects looked
up by identity (sent in the body, never echoed) and their history read as an audited read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.audit.models import AuditEvent
from apps.privacy.models import ConsentEvent
from apps.privacy.services import subject_find

pytestmark = pytest.mark.django_db

BASE = "/api/v1/privacy"
PURPOSE = "marketing.advertising.first_party.targeted"


def consent(value: str, decision: str = "opt_in", **extra: Any) -> dict[str, Any]:
    return {"kind": "email", "value": value, "purpose": PURPOSE, "decision": decision, **extra}


def test_an_integrator_records_one_or_many_decisions_and_checks_them(token_client: Callable[..., Any]) -> None:
    client, _ = token_client(role="integrator")
    one = client.post(f"{BASE}/consent/", consent("ana@example.com", ip="203.0.113.9"), format="json")
    assert one.status_code == 201, one.content
    assert "ana@example.com" not in one.content.decode()
    many = client.post(
        f"{BASE}/consent/", [consent("bob@example.com"), consent("ana@example.com", "opt_out")], format="json"
    )
    assert many.status_code == 201
    assert len(many.json()) == 2
    answer = client.post(f"{BASE}/consent/check/", {"kind": "email", "value": "ana@example.com", "purpose": PURPOSE})
    assert answer.json()["answer"] == "denied"
    parent = client.post(
        f"{BASE}/consent/check/", {"kind": "email", "value": "bob@example.com", "purpose": "marketing"}
    )
    assert parent.json()["answer"] == "unknown"  # a decision on a child purpose says nothing about its parent


def test_bad_consent_is_refused_naming_the_field_and_nothing_is_stored(token_client: Callable[..., Any]) -> None:
    client, _ = token_client(role="integrator")
    bad = client.post(
        f"{BASE}/consent/", [consent("ana@example.com"), consent("bob@example.com", "maybe")], format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["code"]
    unknown = client.post(f"{BASE}/consent/", consent("ana@example.com", purpose="no.such.use"), format="json")
    assert unknown.status_code == 400
    assert "0.purpose" in unknown.json()["fields"]
    malformed = client.post(f"{BASE}/consent/", consent("not-an-email"), format="json")
    assert malformed.status_code == 400
    assert not ConsentEvent.objects.exists()


def test_the_history_is_an_audited_read_and_roles_without_privacy_rights_are_refused(
    token_client: Callable[..., Any],
) -> None:
    client, _ = token_client(role="integrator")
    client.post(f"{BASE}/consent/", consent("ana@example.com"), format="json")
    found = client.post(f"{BASE}/subjects/lookup/", {"kind": "email", "value": "ANA@example.com"}, format="json")
    assert found.status_code == 200
    subject = subject_find(kind="email", value="ana@example.com")
    assert subject is not None
    assert found.json()["id"] == str(subject.public_id)
    assert found.json()["identity_kinds"] == ["email"]
    history = client.get(f"{BASE}/subjects/{subject.public_id}/consent/")
    assert [e["decision"] for e in history.json()] == ["opt_in"]
    read = AuditEvent.objects.get(action="read", target_type="privacy.datasubject")
    assert read.details["rows"] == 1
    missing = client.post(f"{BASE}/subjects/lookup/", {"kind": "email", "value": "nobody@example.com"}, format="json")
    assert missing.status_code == 404
    steward, _ = token_client(role="data_steward")
    assert steward.post(f"{BASE}/consent/", consent("x@example.com"), format="json").status_code == 403
    report = client.get(f"{BASE}/consent/report/", {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"})
    assert report.status_code == 200
    assert report.json()[0]["count"] == 1


def test_an_integrator_files_a_request_and_reads_its_status(token_client: Callable[..., Any]) -> None:
    client, _ = token_client(role="integrator")
    body = {"kind": "email", "value": "ana@example.com", "request_type": "ccpa.delete", "jurisdiction": "US-CA"}
    created = client.post(f"{BASE}/requests/", body, format="json")
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["reference"].startswith("DSR-")
    assert answer["status"] == "received"
    assert answer["acknowledge_by"]
    assert answer["respond_by"]
    assert "ana@example.com" not in created.content.decode()
    status = client.get(f"{BASE}/requests/{answer['id']}/")
    assert status.json()["timeline"][0]["kind"] == "received"
    assert status.json()["runs"] == []
    # Once it ran, the status shows the run and its certificate number (never the plan or its values).
    from apps.privacy.models import DataSubjectRequest, ErasureCertificate, RequestRun

    request = DataSubjectRequest.objects.get(public_id=answer["id"])
    run = RequestRun.objects.create(request=request, kind="erase", status="succeeded", document="secret values")
    ErasureCertificate.objects.create(
        request=request, run=run, number="CERT-2026-000001-ABCDEF", issued_at=run.created_at, document="{}",
        sha256="0" * 64, signature="", key_id="",
    )  # fmt: skip
    runs = client.get(f"{BASE}/requests/{answer['id']}/").json()["runs"]
    assert runs == [
        {"id": str(run.public_id), "kind": "erase", "status": "succeeded", "created_at": runs[0]["created_at"],
         "finished_at": None, "certificate": "CERT-2026-000001-ABCDEF", "package_ready": False}
    ]  # fmt: skip
    bad = client.post(f"{BASE}/requests/", {**body, "request_type": "gdpr.forget"}, format="json")
    assert bad.status_code == 400
    assert "request_type" in bad.json()["fields"]
    auditor, _ = token_client(role="data_steward")
    assert auditor.post(f"{BASE}/requests/", body, format="json").status_code == 403


def test_consent_lists_are_documented_as_the_plain_lists_they_return() -> None:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    recorded = paths["/api/v1/privacy/consent/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    report = paths["/api/v1/privacy/consent/report/"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert recorded == {"type": "array", "items": {"$ref": "#/components/schemas/ConsentEvent"}}
    assert report == {"type": "array", "items": {"$ref": "#/components/schemas/ReportRow"}}
