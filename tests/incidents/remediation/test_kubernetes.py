"""Kubernetes actions against a recording API server on loopback: the exact requests, the token, the limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.choices import AuditAction, Outcome
from apps.incidents.choices import RemediationStatus, TimelineKind
from apps.incidents.remediation.kube import MERGE_PATCH, STRATEGIC_MERGE_PATCH
from tests.incidents.remediation.conftest import SA_TOKEN, audit_for, execute, timeline_for
from tests.incidents.remediation.recording_server import Deployment

DEPLOYMENT = "/apis/apps/v1/namespaces/shop/deployments/payments"
SCALE = DEPLOYMENT + "/scale"


def test_restart_patches_the_pod_template_like_kubectl_rollout_restart(kube, make_attempt) -> None:
    attempt = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert attempt.status == RemediationStatus.SUCCEEDED
    (patch,) = kube.requests()
    assert (patch.method, patch.path) == ("PATCH", DEPLOYMENT)
    assert patch.headers["Content-Type"] == STRATEGIC_MERGE_PATCH
    assert patch.headers["Authorization"] == f"Bearer {SA_TOKEN}"
    stamp = patch.json["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert patch.json == {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
    }
    restarted = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(restarted - datetime.now(UTC)) < timedelta(seconds=10)
    assert attempt.result["restarted_at"] == stamp
    assert attempt.result["generation"] == 2


def test_the_token_file_is_read_again_on_every_call_and_never_stored(kube, make_attempt) -> None:
    execute(make_attempt("k8s_restart_deployment", "shop/payments"))
    kube.token_file.write_text("sa-token-two-rotated-by-the-kubelet")
    kube.deployments["shop/checkout"] = Deployment()
    second = execute(make_attempt("k8s_restart_deployment", "shop/checkout"))

    assert [r.headers["Authorization"] for r in kube.requests()] == [
        f"Bearer {SA_TOKEN}",
        "Bearer sa-token-two-rotated-by-the-kubelet",
    ]
    stored = json.dumps(
        [second.result] + [e.data for e in timeline_for(second)] + [[e.details, e.changes] for e in audit_for(second)]
    )
    assert "sa-token" not in stored


def test_scale_reads_the_scale_subresource_then_merge_patches_the_replicas(kube, make_attempt) -> None:
    attempt = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 5}))

    assert attempt.status == RemediationStatus.SUCCEEDED
    get, patch = kube.requests()
    assert (get.method, get.path) == ("GET", SCALE)
    assert (patch.method, patch.path) == ("PATCH", SCALE)
    assert patch.headers["Content-Type"] == MERGE_PATCH
    assert patch.headers["Authorization"] == f"Bearer {SA_TOKEN}"
    assert patch.json == {"spec": {"replicas": 5}}
    assert attempt.result["from_replicas"] == 3
    assert attempt.result["to_replicas"] == 5
    assert attempt.result["checked"] == {"current_replicas": 3, "desired_replicas": 5}


def test_scale_by_factor_may_double_the_replicas(kube, make_attempt) -> None:
    attempt = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"factor": 2}))

    assert attempt.status == RemediationStatus.SUCCEEDED
    assert kube.requests("PATCH")[0].json == {"spec": {"replicas": 6}}


@pytest.mark.parametrize(
    ("current", "params", "control"),
    [
        (3, {"factor": 2.5}, "max scale-up: 3 → 8 replicas is more than 200% of the current count (at most 6"),
        (3, {"replicas": 7}, "max scale-up: 3 → 7 replicas"),
        (0, {"replicas": 3}, "max scale-up: 0 → 3 replicas"),
        (30, {"replicas": 60}, "max replicas: 60 replicas is above remediation.max_replicas (50)"),
    ],
)
def test_scale_above_the_limits_is_blocked_and_patches_nothing(kube, make_attempt, current, params, control) -> None:
    kube.deployments["shop/payments"].replicas = current
    attempt = execute(make_attempt("k8s_scale_deployment", "shop/payments", params))

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.blocked_reason.startswith(control)
    assert kube.requests("PATCH") == []
    assert kube.deployments["shop/payments"].replicas == current
    (blocked,) = audit_for(attempt, AuditAction.EXECUTE)
    assert blocked.outcome == Outcome.DENIED
    assert blocked.details["control"] == control.split(":")[0]


def test_the_scale_up_limit_follows_the_configuration(kube, make_attempt, configure) -> None:
    configure(**{"remediation.max_scale_up_percent": 300})
    attempt = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 9}))

    assert attempt.status == RemediationStatus.SUCCEEDED
    assert kube.deployments["shop/payments"].replicas == 9


def test_scaling_down_is_allowed_but_never_to_zero(kube, make_attempt) -> None:
    down = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 1}))
    zero = execute(make_attempt("k8s_scale_deployment", "shop/payments", {"replicas": 0}))

    assert down.status == RemediationStatus.SUCCEEDED
    assert zero.status == RemediationStatus.BLOCKED
    assert zero.blocked_reason == "invalid: replicas must be a whole number of at least 1"


def test_a_refusal_by_the_api_fails_the_attempt_with_the_kubernetes_message(kube, make_attempt) -> None:
    message = (
        'deployments.apps "payments" is forbidden: User "system:serviceaccount:ecap:portal" cannot patch '
        'resource "deployments" in API group "apps" in the namespace "shop"'
    )
    kube.fail[("PATCH", DEPLOYMENT)] = (403, {"kind": "Status", "status": "Failure", "message": message, "code": 403})
    attempt = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert attempt.status == RemediationStatus.FAILED
    assert attempt.result["error"] == f"Kubernetes answered 403: {message}"
    assert attempt.result["status_code"] == 403
    finished = audit_for(attempt, AuditAction.EXECUTE)[-1]
    assert finished.outcome == Outcome.FAILED
    assert finished.details["result"]["status_code"] == 403
    last = timeline_for(attempt)[-1]
    assert last.kind == TimelineKind.REMEDIATION_RUN
    assert "failed" in last.message
    assert "forbidden" in last.message


def test_an_unknown_deployment_fails_in_the_preflight_without_a_patch(kube, make_attempt) -> None:
    attempt = execute(make_attempt("k8s_scale_deployment", "shop/ghost", {"replicas": 2}))

    assert attempt.status == RemediationStatus.FAILED
    assert attempt.result["error"] == 'Kubernetes answered 404: deployments.apps "ghost" not found'
    assert kube.requests("PATCH") == []


def test_an_unreachable_api_server_fails_the_attempt(kube, make_attempt, configure) -> None:
    kube.close()
    configure(**{"remediation.kubernetes_api_url": kube.url})
    attempt = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert attempt.status == RemediationStatus.FAILED
    assert attempt.result["error"].startswith("the Kubernetes API did not answer")


def test_a_missing_token_file_fails_without_calling_the_api(kube, make_attempt) -> None:
    kube.token_file.unlink()
    attempt = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert attempt.status == RemediationStatus.FAILED
    assert "token file" in attempt.result["error"]
    assert kube.requests() == []


def test_a_namespace_outside_the_allow_list_is_blocked(kube, make_attempt, configure) -> None:
    configure(**{"remediation.kubernetes_namespaces": "analytics,data"})
    attempt = execute(make_attempt("k8s_restart_deployment", "shop/payments"))

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.blocked_reason.startswith("namespace allow-list: shop")
    assert kube.requests() == []


@pytest.mark.parametrize(
    "target", ["payments", "shop/payments/extra", "Shop/payments", "shop/", "/payments", "shop/pay ments"]
)
def test_malformed_deployment_targets_are_refused_before_any_call(kube, make_attempt, target) -> None:
    attempt = execute(make_attempt("k8s_restart_deployment", target))

    assert attempt.status == RemediationStatus.BLOCKED
    assert attempt.blocked_reason.startswith("invalid: ")
    assert kube.requests() == []
