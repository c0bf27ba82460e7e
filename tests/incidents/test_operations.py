"""Operating the incidents app: the create_integration command, MTTA/MTTR and open incidents on /metrics, the
append-only timeline, matchers and templates, and the demo data."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from apps.incidents.matchers import MatcherError, matches_all, parse_matchers, render_template, validate_template
from apps.incidents.models import Incident, Integration, TimelineEntry
from apps.incidents.services import integration_by_token, payload_accept
from tests.incidents.conftest import am_alert, am_payload, process_all

pytestmark = pytest.mark.django_db


def test_create_integration_prints_a_working_url(client: Client) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_integration", "--kind", "alertmanager", "--name", "prom-us", stdout=out, stderr=err)
    url = out.getvalue().strip()
    assert url.startswith("http://127.0.0.1:8000/integrations/v1/alertmanager/ecapi_")
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert integration_by_token(token).name == "prom-us"
    assert token not in err.getvalue()
    path = url.split("8000", 1)[1]
    assert client.post(path, am_payload(), content_type="application/json").status_code == 202


def test_metrics_show_open_incidents_and_mtta_mttr(client: Client, alertmanager, make_user) -> None:
    from apps.incidents.services import incident_acknowledge, incident_resolve

    integration = alertmanager[0]
    payload_accept(integration=integration, body=am_payload(am_alert(), group_key="a"))
    payload_accept(integration=integration, body=am_payload(am_alert("DataPipelineBacklog"), group_key="b"))
    process_all()
    first = Incident.objects.get(group_key="a")
    Incident.objects.filter(pk=first.pk).update(triggered_at=timezone.now() - timedelta(minutes=4))
    incident_acknowledge(incident=first, actor=make_user())
    incident_resolve(incident=first, actor=make_user(username="second"))
    text = client.get("/metrics").content.decode()
    assert 'ecap_incidents_open{priority="P3",status="triggered"} 1.0' in text
    assert 'ecap_incidents_open{priority="P1",status="triggered"} 0.0' in text
    assert 'ecap_incident_time_to_acknowledge_seconds_bucket{le="60.0"} 0.0' in text
    assert 'ecap_incident_time_to_acknowledge_seconds_bucket{le="300.0"} 1.0' in text
    assert "ecap_incident_time_to_resolve_seconds_count 1.0" in text


def test_timeline_entries_cannot_be_changed_or_deleted(alertmanager) -> None:
    payload_accept(integration=alertmanager[0], body=am_payload())
    process_all()
    entry = TimelineEntry.objects.first()
    for sql in ("UPDATE incidents_timelineentry SET message = 'edited'", "DELETE FROM incidents_timelineentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    entry.refresh_from_db()
    assert entry.message != "edited"


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical", service=~"api|payments"', {"severity": "critical", "service": "payments"}, True),
        ('service=~"api|payments"', {"service": "payments-eu"}, False),  # anchored like Alertmanager
        ('service!~"api"', {"service": "web"}, True),
        ("tier!=business-critical", {}, True),
        ('{alertname="X", team="sre"}', {"alertname": "X", "team": "sre"}, True),
        ('alertname="X"\nteam="sre"', {"alertname": "X", "team": "ops"}, False),
        ("", {"anything": "x"}, True),
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert matches_all(text, labels) is expected


@pytest.mark.parametrize("bad", ['service=~"(("', "severity", '=~"x"', 'a="b" junk'])
def test_bad_matchers_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(MatcherError):
        parse_matchers(bad)


def test_group_templates_only_take_plain_label_names() -> None:
    assert render_template("{alertname}/{service}", {"alertname": "A"}) == "A/"
    validate_template("{alertname}/{service}")
    for bad in ("{a.__class__}", "{a[0]}", "{a!r}", "{"):
        with pytest.raises(MatcherError):
            validate_template(bad)


def test_demo_data_shows_open_and_resolved_incidents_with_postmortems(tmp_path, settings) -> None:
    from apps.common.demo import demo_users_ensure
    from apps.incidents.demo import seed

    settings.VAR_DIR = tmp_path
    demo_users_ensure()
    seed()
    assert seed()[0].startswith("incidents present")  # idempotent
    statuses = set(Incident.objects.values_list("status", flat=True))
    assert {"triggered", "acknowledged", "resolved"} <= statuses
    payments = Incident.objects.get(title__startswith="PaymentProcessingFailure")
    assert payments.postmortem.status == "published"
    assert payments.delivery_count == 2
    assert Incident.objects.get(service="recommendations").in_maintenance
    assert Integration.objects.filter(kind="internal").exists()
    assert (tmp_path / "demo_integrations.json").stat().st_mode & 0o077 == 0


def test_admin_lifecycle_actions(client: Client, alertmanager, make_user) -> None:
    from apps.common.roles import ONCALL_ENGINEER

    integration = alertmanager[0]
    for key in ("a", "b"):
        payload_accept(integration=integration, body=am_payload(am_alert(instance=key), group_key=key))
    process_all()
    engineer = make_user(ONCALL_ENGINEER, is_staff=True)
    client.force_login(engineer)
    url = "/admin/incidents/incident/"
    ids = [str(pk) for pk in Incident.objects.order_by("pk").values_list("pk", flat=True)]
    assert client.get(url).status_code == 200
    assert client.get(f"{url}{ids[0]}/change/").status_code == 200
    for action in ("acknowledge", "assign_to_me", "silence_hour"):
        client.post(url, {"action": action, "_selected_action": ids[:1]})
    first = Incident.objects.get(pk=ids[0])
    assert first.status == "silenced"
    assert first.assignee == engineer
    client.post(url, {"action": "merge", "_selected_action": ids})
    second = Incident.objects.get(pk=ids[1])
    assert second.merged_into_id == first.pk
    assert Incident.objects.get(pk=ids[0]).alert_count == 2
