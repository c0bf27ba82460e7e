"""The Helm chart as rendered for dev, staging and prod: what the deployment issue demands of it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

Docs = list[dict[str, Any]]


def named(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_rendered_manifest_is_valid_and_passes_the_chart_policy(
    rendered: dict[str, Docs], lint_infra: ModuleType, env: str
) -> None:
    docs = rendered[env]
    problems = [p for d in docs for p in lint_infra.validate_manifest(d)] + lint_infra.chart_policy(docs, env)
    assert problems == []


def test_schema_validation_rejects_an_unknown_field_and_a_wrong_type(lint_infra: ModuleType, rendered: dict) -> None:
    web = named(rendered["prod"], "Deployment", "ecap-portal-web")
    broken = {**web, "spec": {**web["spec"], "replicas": "three", "surge": 1}}
    problems = lint_infra.validate_manifest(broken)
    assert problems
    assert "Deployment/ecap-portal-web" in problems[0]


def test_custom_resources_are_validated_against_the_vendored_schemas(lint_infra: ModuleType, rendered: dict) -> None:
    rule = named(rendered["prod"], "PrometheusRule", "ecap-portal")
    assert lint_infra.validate_manifest(rule) == []
    broken = {**rule, "spec": {"groups": [{"name": "x", "rules": [{"alert": "Bad Name", "expr": "up"}]}]}}
    assert lint_infra.validate_manifest(broken)
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert "no schema" in lint_infra.validate_manifest(unknown)[0]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook_before_the_pods(rendered: dict, env: str) -> None:
    job = named(rendered[env], "Job", "ecap-portal-migrate")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert command.index("migrate --noinput") < command.index("sync_periodic_tasks")
    # Its config, secret and service account are hooks too, created first: on a first install nothing else exists.
    for kind, name in (("ConfigMap", "ecap-portal-migrate"), ("ServiceAccount", "ecap-portal-migrate")):
        hook = named(rendered[env], kind, name)["metadata"]["annotations"]
        assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_one_worker_deployment_per_queue_and_beat_is_a_single_recreated_replica(rendered: dict, env: str) -> None:
    docs = rendered[env]
    for queue in ("critical", "default", "spark"):
        worker = named(docs, "Deployment", f"ecap-portal-worker-{queue}")
        command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
        assert queue in command[command.index("-Q") + 1].split(",")
        assert command[command.index("-n") + 1] == f"{queue}@%h"
    beat = named(docs, "Deployment", "ecap-portal-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not [h for h in docs if h["kind"] == "HorizontalPodAutoscaler" and "beat" in h["metadata"]["name"]]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_pod_runs_non_root_on_a_read_only_root_with_a_writable_tmp(rendered: dict, env: str) -> None:
    pods = [d for d in rendered[env] if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 6
    for doc in pods:
        spec = doc["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = spec["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]  # noqa: S108 - an emptyDir
        assert set(container["resources"]) == {"requests", "limits"}


def test_web_probes_readiness_on_readyz_and_liveness_on_healthz_with_the_pod_ip_allowed(rendered: dict) -> None:
    web = named(rendered["prod"], "Deployment", "ecap-portal-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    hosts = next(e for e in web["env"] if e["name"] == "DJANGO_ALLOWED_HOSTS")["value"]
    # Kubelet and Prometheus address the pod by IP: Django must accept it or every probe answers 400.
    assert hosts == "portal.ecap.example,$(POD_IP)"
    assert web["env"][0]["name"] == "POD_IP"


def test_environments_really_differ_in_scale_and_hosts(rendered: dict) -> None:
    def web_of(env: str) -> dict[str, Any]:
        return named(rendered[env], "Deployment", "ecap-portal-web")

    assert web_of("dev")["spec"]["replicas"] == 1
    assert "replicas" not in web_of("prod")["spec"]  # the HPA owns it
    hpa = named(rendered["prod"], "HorizontalPodAutoscaler", "ecap-portal-web")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert not [d for d in rendered["dev"] if d["kind"] == "HorizontalPodAutoscaler"]
    hosts = {env: named(rendered[env], "Ingress", "ecap-portal")["spec"]["rules"][0]["host"] for env in rendered}
    assert len(set(hosts.values())) == 3
    limits = {
        env: web_of(env)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        for env in rendered
    }
    assert limits == {"dev": "768Mi", "staging": "1Gi", "prod": "1536Mi"}


def test_secrets_come_from_vault_through_external_secrets_and_never_from_values(rendered: dict) -> None:
    docs = rendered["prod"]
    external = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ExternalSecret"}
    assert set(external) == {"ecap-app-production", "ecap-database-production", "ecap-redis-production",
                             "ecap-migrate-production"}  # fmt: skip
    database = external["ecap-database-production"]["spec"]["data"][0]
    assert database == {
        "secretKey": "DATABASE_URL",
        "remoteRef": {"key": "ecap-bootstrap/production/database", "property": "url"},
    }
    assert not [d for d in docs if d["kind"] == "Secret"]
    config = named(docs, "ConfigMap", "ecap-portal")["data"]
    assert config["VAULT_AUTH_METHOD"] == "kubernetes"
    assert config["ECAP_LAKE__ROOT"].startswith("s3://")
    assert not [k for k in config if "PASSWORD" in k or k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY")]
    sa = named(docs, "ServiceAccount", "ecap-portal")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/ecap-prod-portal")


def test_alerts_route_back_to_the_portal_and_use_the_exported_http_metric(rendered: dict) -> None:
    rule = named(rendered["prod"], "PrometheusRule", "ecap-portal")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "EcapPortalHigh5xxRatio",
        "EcapCeleryQueueBacklog",
        "EcapEscalationLag",
        "EcapDataSubjectRequestsOverdue",
        "EcapAuditChainVerificationFailed",
        "EcapQualityScanFailures",
    } <= set(alerts)
    assert "django_http_responses_total_by_status_total" in alerts["EcapPortalHigh5xxRatio"]["expr"]
    assert all(r["labels"]["portal"] == "ecap" for r in alerts.values())
    assert all({"summary", "description", "runbook_url", "business_impact"} <= set(r["annotations"]) for r in
               alerts.values())  # fmt: skip
    monitor = named(rendered["prod"], "ServiceMonitor", "ecap-portal")["spec"]["endpoints"][0]
    assert monitor["authorization"]["credentials"] == {"name": "ecap-app-production", "key": "METRICS_TOKEN"}


def test_remediation_rbac_reaches_only_this_releases_deployments(rendered: dict) -> None:
    role = named(rendered["prod"], "Role", "ecap-portal-remediation")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "deployments/scale"],
            "verbs": ["get", "patch"],
            "resourceNames": [
                "ecap-portal-web",
                "ecap-portal-worker-critical",
                "ecap-portal-worker-default",
                "ecap-portal-worker-spark",
            ],
        }
    ]


def test_the_chart_policy_catches_a_broken_beat_and_a_root_container(lint_infra: ModuleType, rendered: dict) -> None:
    import copy

    docs = copy.deepcopy(rendered["prod"])
    beat = named(docs, "Deployment", "ecap-portal-beat")
    beat["spec"]["replicas"] = 2
    beat["spec"]["strategy"] = {"type": "RollingUpdate"}
    web = named(docs, "Deployment", "ecap-portal-web")
    web["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    problems = lint_infra.chart_policy(docs, "prod")
    assert any("beat must have exactly one replica" in p for p in problems)
    assert any("read-only root filesystem" in p for p in problems)
