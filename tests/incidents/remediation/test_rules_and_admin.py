"""Remediation rules through the API and the admin (checked against the registry), and the attempts' admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.choices import AuditAction
from apps.common.errors import NotFound
from apps.incidents.choices import RemediationStatus
from apps.incidents.models import RemediationRule
from apps.incidents.remediation.registry import action_get, action_list
from tests.incidents.remediation.conftest import audit_for

RULES = "/api/v1/incidents/remediation-rules/"
VALID = {
    "name": "scale api on capacity",
    "matchers": 'alertname="PredictiveCapacityExhaustion", service="api"',
    "action": "k8s_scale_deployment",
    "target": "{namespace}/{service}",
    "params": {"factor": 1.5},
    "auto_run": True,
}


def test_the_registry_knows_every_action_and_refuses_unknown_keys() -> None:
    assert {a.key for a in action_list()} >= {
        "k8s_restart_deployment",
        "k8s_scale_deployment",
        "redis_clear_prefix",
        "celery_queue_pause",
        "celery_queue_resume",
        "schedule_pause",
        "schedule_resume",
        "spark_resubmit",
        "http_webhook",
        "db_terminate_idle_connections",
    }
    with pytest.raises(NotFound) as caught:
        action_get("rm_rf")
    assert caught.value.code == "remediation_action_unknown"


def test_rules_can_be_created_read_changed_and_deleted(token_client) -> None:
    api, _ = token_client("oncall_engineer")

    created = api.post(RULES, VALID)
    assert created.status_code == 201, created.json()
    assert created.json()["needs_approval"] is False
    assert created.json()["action_label"] == "Scale a Kubernetes deployment"
    url = f"{RULES}{created.json()['id']}/"
    assert api.get(url).json()["params"] == {"factor": 1.5}
    assert api.patch(url, {"enabled": False}).json()["enabled"] is False
    assert api.get(RULES, {"enabled": "false"}).json()["count"] == 1
    assert api.delete(url).status_code == 204
    assert not RemediationRule.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"matchers": 'service=~"("'}, "matchers", "not a valid regular expression"),
        ({"matchers": ""}, "matchers", ""),
        ({"action": "rm_rf"}, "action", "no remediation action 'rm_rf'"),
        ({"target": "{labels.namespace}/x"}, "target", "only contain {label} placeholders"),
        ({"target": "shop/Bad_Name"}, "target", "not a valid deployment name"),
        ({"params": {"factor": 50}}, "params", "factor must be a number above 0 and at most 10"),
        ({"params": {"replicas": 2, "factor": 2}}, "params", "exactly one of replicas"),
        ({"action": "redis_clear_prefix", "target": "*", "params": {}}, "target", "give a prefix"),
        ({"action": "redis_clear_prefix", "target": "celery-task", "params": {}}, "target", "Celery broker"),
        ({"action": "celery_queue_pause", "target": "critical", "params": {}}, "target", "never paused"),
        ({"action": "http_webhook", "params": {"url": "ftp://x/y"}}, "params", "http or https"),
        ({"action": "http_webhook", "params": {"url": "https://u:p@x/y"}}, "params", "must not carry credentials"),
        ({"action": "spark_resubmit", "target": "run id; drop", "params": {}}, "target", "is not a run id"),
        ({"params": [1, 2]}, "params", "JSON object"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(token_client, change, field, message) -> None:
    api, _ = token_client("oncall_engineer")
    response = api.post(RULES, {**VALID, **change}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in body["fields"], body
    assert message in " ".join(body["fields"][field])
    assert not RemediationRule.objects.exists()


def test_creating_a_rule_needs_both_add_and_change(token_client) -> None:
    api, _ = token_client("integrator")  # may add incidents' objects, but not change them

    response = api.post(RULES, VALID)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert api.get(RULES).status_code == 200


@pytest.fixture
def admin_client(client: Client, make_user) -> Client:
    client.force_login(make_user(role="admin", is_staff=True))
    return client


def test_the_admin_form_checks_rules_against_the_registry(admin_client: Client) -> None:
    form = {**VALID, "params": '{"factor": 50}', "position": 100, "enabled": "on"}
    response = admin_client.post("/admin/incidents/remediationrule/add/", form)

    assert response.status_code == 200
    assert "factor must be a number above 0 and at most 10" in response.content.decode()
    assert not RemediationRule.objects.exists()

    form["params"] = '{"factor": 2}'
    response = admin_client.post("/admin/incidents/remediationrule/add/", form)
    assert response.status_code == 302
    assert RemediationRule.objects.get().params == {"factor": 2}


def test_the_admin_approves_and_denies_selected_attempts_through_the_services(
    admin_client: Client, make_attempt, enqueued, django_capture_on_commit_callbacks
) -> None:
    def waiting():
        return make_attempt(
            status=RemediationStatus.AWAITING_APPROVAL, approval_expires_at=timezone.now() + timedelta(hours=1)
        )

    approve, deny, done = waiting(), waiting(), make_attempt(status=RemediationStatus.SUCCEEDED)
    changelist = "/admin/incidents/remediationattempt/"

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "approve_selected", "_selected_action": [approve.pk, done.pk]})
    admin_client.post(changelist, {"action": "deny_selected", "_selected_action": [deny.pk]})

    for attempt in (approve, deny, done):
        attempt.refresh_from_db()
    assert approve.status == RemediationStatus.APPROVED
    assert deny.status == RemediationStatus.DENIED
    assert done.status == RemediationStatus.SUCCEEDED
    assert enqueued.calls == [{"attempt_id": approve.pk, "fencing_token": 0}]
    assert audit_for(approve, AuditAction.APPROVE)[0].details["via"] == "admin"
    assert admin_client.get(f"{changelist}{approve.pk}/change/").status_code == 200
