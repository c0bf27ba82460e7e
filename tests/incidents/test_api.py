"""The incidents API: lifecycle actions with their timeline and audit trail, conflicts in the error format,
permissions by role, postmortems, merging, integrations (token shown once), rules, runbooks (sanitised) and
maintenance windows; list endpoints do not grow their query count with the page size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.common.roles import INTEGRATOR, ONCALL_ENGINEER
from apps.common.testing import assert_queries_constant
from apps.incidents.choices import IncidentStatus
from apps.incidents.models import Incident, Integration, Runbook
from apps.incidents.services import payload_accept
from tests.incidents.conftest import am_alert, am_payload, process_all

pytestmark = pytest.mark.django_db
BASE = "/api/v1/incidents"


@pytest.fixture
def oncall(token_client):
    return token_client(ONCALL_ENGINEER)


def open_incident(integration: Integration, name: str = "PaymentProcessingFailure", instance: str = "p-0") -> Incident:
    payload_accept(integration=integration, body=am_payload(am_alert(name, instance=instance), group_key=instance))
    process_all()
    return Incident.objects.get(group_key=instance)


def test_acknowledge_then_resolve_records_the_timeline_and_audit(oncall, alertmanager) -> None:
    api, user = oncall
    incident = open_incident(alertmanager[0])
    url = f"{BASE}/incidents/{incident.public_id}"
    response = api.post(f"{url}/acknowledge/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == user.username
    assert "Mitigate" in body["runbook_html"]
    again = api.post(f"{url}/acknowledge/")
    assert again.status_code == 409
    assert again.json() == {
        "code": "already_acknowledged",
        "detail": f"Incident #{incident.pk} is already acknowledged.",
        "fields": {},
    }
    resolved = api.post(f"{url}/resolve/", {"resolution": "Failed over to the standby PSP."}).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolution"] == "Failed over to the standby PSP."
    timeline = api.get(f"{url}/timeline/").json()
    assert [e["kind"] for e in timeline][-3:] == ["acknowledged", "resolved", "postmortem"]
    assert timeline[-3]["actor_label"] == user.username
    audited = AuditEvent.objects.filter(target_type="incidents.incident", target_id=str(incident.public_id))
    changes = [e.changes.get("status", {}).get("new") for e in audited.order_by("id") if "status" in e.changes]
    assert changes[-2:] == ["acknowledged", "resolved"]
    assert audited.filter(actor_label=user.username).exists()


def test_unacknowledge_silence_and_escalate(oncall, alertmanager) -> None:
    api, _ = oncall
    incident = open_incident(alertmanager[0])
    url = f"{BASE}/incidents/{incident.public_id}"
    assert api.post(f"{url}/unacknowledge/").status_code == 409
    api.post(f"{url}/acknowledge/")
    assert api.post(f"{url}/unacknowledge/").json()["status"] == "triggered"
    past = api.post(f"{url}/silence/", {"until": "2020-01-01T00:00:00Z"})
    assert past.status_code == 400
    assert set(past.json()["fields"]) == {"until"}
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.post(f"{url}/silence/", {"until": until}).json()["status"] == "silenced"
    escalated = api.post(f"{url}/escalate/", {"reason": "customer-facing"}).json()
    assert escalated["status"] == "silenced"
    kinds = [e["kind"] for e in api.get(f"{url}/timeline/").json()]
    assert kinds[-4:] == ["acknowledged", "unacknowledged", "silenced", "escalated"]


def test_silence_expires_back_to_triggered(alertmanager, make_user) -> None:
    from apps.incidents.services import incident_silence, silences_expire

    incident = open_incident(alertmanager[0])
    incident_silence(incident=incident, actor=make_user(), until=timezone.now() + timedelta(minutes=5))
    assert silences_expire(now=timezone.now() + timedelta(minutes=4)) == 0
    assert silences_expire(now=timezone.now() + timedelta(minutes=6)) == 1
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.silenced_until is None


def test_reassign_to_a_user_and_unknown_user_is_404(oncall, alertmanager, make_user) -> None:
    api, _ = oncall
    incident = open_incident(alertmanager[0])
    other = make_user(ONCALL_ENGINEER, username="sre-lead")
    url = f"{BASE}/incidents/{incident.public_id}/reassign/"
    assert api.post(url, {"assignee": str(other.public_id)}).json()["assignee"] == "sre-lead"
    missing = api.post(url, {"assignee": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404
    assert missing.json()["fields"] == {"assignee": ["no active user with this id"]}


def test_merge_moves_alerts_and_resolves_the_source(oncall, alertmanager) -> None:
    api, _ = oncall
    a = open_incident(alertmanager[0], instance="p-0")
    b = open_incident(alertmanager[0], "DataPipelineBacklog", instance="p-1")
    merged = api.post(f"{BASE}/incidents/{b.public_id}/merge/", {"into": str(a.public_id)}).json()
    assert merged["alert_count"] == 2
    b.refresh_from_db()
    assert b.status == IncidentStatus.RESOLVED
    assert b.merged_into == a
    assert api.post(f"{BASE}/incidents/{a.public_id}/merge/", {"into": str(a.public_id)}).status_code == 400


def test_postmortem_for_a_resolved_p1(oncall, alertmanager) -> None:
    api, _ = oncall
    incident = open_incident(alertmanager[0])
    url = f"{BASE}/incidents/{incident.public_id}"
    assert api.get(f"{url}/postmortem/").status_code == 404
    api.post(f"{url}/resolve/")
    assert api.get(f"{url}/postmortem/").json()["status"] == "draft"
    written = api.put(
        f"{url}/postmortem/",
        {
            "summary": "Card payments failed for 14 minutes.",
            "root_cause": "Expired TLS certificate on the PSP connector.",
            "impact": "1,240 failed checkouts.",
            "action_items": [{"text": "Alert 14 days before certificate expiry", "owner": "sre", "due": "2026-12-10"}],
            "status": "published",
        },
        format="json",
    ).json()
    assert written["status"] == "published"
    assert written["action_items"][0]["due"] == "2026-12-10"
    bad = api.put(f"{url}/postmortem/", {"action_items": [{"owner": "x"}]}, format="json")
    assert bad.status_code == 400
    assert "action_items.0.text" in bad.json()["fields"]


def test_integrator_reads_but_cannot_act(token_client, alertmanager) -> None:
    api, _ = token_client(INTEGRATOR)
    incident = open_incident(alertmanager[0])
    assert api.get(f"{BASE}/incidents/").status_code == 200
    response = api.post(f"{BASE}/incidents/{incident.public_id}/acknowledge/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_unauthenticated_api_is_401(api_client) -> None:
    assert api_client.get(f"{BASE}/incidents/").status_code == 401


def test_list_filters_and_query_count(oncall, alertmanager) -> None:
    api, _ = oncall
    integration = alertmanager[0]
    counter = iter(range(1000))

    def grow(n: int) -> None:
        for _ in range(n):
            open_incident(integration, instance=f"i-{next(counter)}")

    assert_queries_constant(lambda: api.get(f"{BASE}/incidents/?page_size=50"), grow)
    assert api.get(f"{BASE}/incidents/?priority=P1&open=true").json()["count"] == 12
    assert api.get(f"{BASE}/incidents/?open=false").json()["count"] == 0


def test_integration_create_shows_the_token_once_and_it_works(token_client, client) -> None:
    from apps.common.roles import ADMIN

    api, _ = token_client(ADMIN)
    created = api.post(f"{BASE}/integrations/", {"kind": "alertmanager", "name": "prom-eu"}).json()
    assert created["url"].endswith(f"/integrations/v1/alertmanager/{created['token']}/")
    assert "token" not in api.get(f"{BASE}/integrations/{created['id']}/").json()
    path = created["url"].split("8000", 1)[1]
    assert client.post(path, am_payload(), content_type="application/json").status_code == 202
    rotated = api.post(f"{BASE}/integrations/{created['id']}/rotate-token/").json()
    assert client.post(path, am_payload(), content_type="application/json").status_code == 404
    assert rotated["token"] != created["token"]
    duplicate = api.post(f"{BASE}/integrations/", {"kind": "alertmanager", "name": "prom-eu"})
    assert duplicate.status_code in (400, 409)
    bad = api.post(f"{BASE}/integrations/", {"kind": "x", "name": "y", "group_template": "{a.__class__}"})
    assert set(bad.json()["fields"]) == {"kind", "group_template"}


def test_classification_rule_matchers_are_validated(token_client) -> None:
    from apps.common.roles import ADMIN

    api, _ = token_client(ADMIN)
    bad = api.post(f"{BASE}/classification-rules/", {"name": "x", "matchers": 'service=~"(("', "priority": "P2"})
    assert bad.status_code == 400
    assert "matchers" in bad.json()["fields"]
    good = api.post(f"{BASE}/classification-rules/", {"name": "db", "matchers": 'service="postgres"', "priority": "P2"})
    assert good.status_code == 201


def test_runbook_html_is_sanitised(token_client) -> None:
    from apps.common.roles import ADMIN

    api, _ = token_client(ADMIN)
    body = "## Check\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n"
    created = api.post(f"{BASE}/runbooks/", {"slug": "xss", "title": "XSS", "alertnames": ["X"], "body": body})
    assert created.status_code == 201
    html = created.json()["html"]
    assert "<h2>Check</h2>" in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html
    assert Runbook.objects.filter(alertnames__contains=["PaymentProcessingFailure"]).count() == 1


def test_maintenance_window_must_end_after_it_starts(oncall) -> None:
    api, user = oncall
    now = timezone.now()
    bad = api.post(
        f"{BASE}/maintenance-windows/",
        {"service": "payments", "starts_at": now.isoformat(), "ends_at": now.isoformat(), "reason": "x"},
    )
    assert bad.json()["fields"] == {"ends_at": ["must be after starts_at"]}
    ok = api.post(
        f"{BASE}/maintenance-windows/",
        {"service": "payments", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
         "reason": "PSP upgrade"},
    )  # fmt: skip
    assert ok.json()["created_by"] == user.username
