"""The remediation actions the portal can take: Kubernetes restarts and scaling, and the platform actions of
``platform_actions`` (Redis, Celery queues, schedules, Spark, webhooks, database sessions)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from apps.configuration.services import config_get
from apps.incidents.remediation import platform_actions  # noqa: F401 - registers the platform actions
from apps.incidents.remediation.kube import MERGE_PATCH, STRATEGIC_MERGE_PATCH, KubeClient, KubeError
from apps.incidents.remediation.registry import Action, ActionBlocked, ActionFailed, invalid, register

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MAX_FACTOR = 10


def split_deployment(target: str) -> tuple[str, str]:
    """``namespace/deployment`` → the two names, each checked against Kubernetes' naming rules."""
    namespace, slash, name = target.partition("/")
    if not slash or "/" in name:
        raise invalid("target", f"expected namespace/deployment, got {target!r}")
    if not DNS_LABEL.fullmatch(namespace):
        raise invalid("target", f"{namespace!r} is not a valid namespace name")
    if not DNS_SUBDOMAIN.fullmatch(name):
        raise invalid("target", f"{name!r} is not a valid deployment name")
    return namespace, name


def deployment_path(target: str, subresource: str = "") -> str:
    """API path of a deployment (or one of its subresources)."""
    namespace, name = split_deployment(target)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    return f"{path}/{subresource}" if subresource else path


def check_namespace(target: str) -> None:
    """Refuse a namespace outside ``remediation.kubernetes_namespaces`` (when that list is set)."""
    allowed = config_get("remediation.kubernetes_namespaces")
    namespace, _ = split_deployment(target)
    if allowed and namespace not in allowed:
        raise ActionBlocked(
            f"namespace allow-list: {namespace} is not in remediation.kubernetes_namespaces ({', '.join(allowed)})"
        )


def _kube(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        return KubeClient.from_config().request(method, path, **kwargs)
    except KubeError as exc:
        raise ActionFailed(
            f"Kubernetes answered {exc.status}: {exc.message}" if exc.status else exc.message,
            status_code=exc.status,
            method=method,
            path=path,
        ) from None


class DeploymentAction(Action):
    """Base of the actions on a Kubernetes deployment addressed as ``namespace/deployment``."""

    target_help = "namespace/deployment, e.g. {namespace}/{service}"

    def validate_target(self, target: str) -> None:
        super().validate_target(target)
        split_deployment(target)


@register
class RestartDeployment(DeploymentAction):
    """A rolling restart as ``kubectl rollout restart`` does it (a new restartedAt annotation on the pod template)."""

    key = "k8s_restart_deployment"
    label = "Restart a Kubernetes deployment"

    def preflight(self, target: str, params: Mapping[str, Any]) -> dict[str, Any]:
        check_namespace(target)
        return {}

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        path = deployment_path(target)
        stamp = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        if dry_run:
            current = _kube("GET", path)
            return {
                "would": f"restart {target} (rolling, {current.get('spec', {}).get('replicas', '?')} replicas)",
                "request": {"method": "PATCH", "path": path, "content_type": STRATEGIC_MERGE_PATCH, "body": patch},
            }
        answer = _kube("PATCH", path, body=patch, content_type=STRATEGIC_MERGE_PATCH)
        return {
            "done": f"rolling restart of {target} requested",
            "restarted_at": stamp,
            "generation": answer.get("metadata", {}).get("generation"),
        }


@register
class ScaleDeployment(DeploymentAction):
    """Set a deployment's replicas by its scale subresource: ``replicas`` (a count) or ``factor`` (times current)."""

    # Limits: the new count is at most remediation.max_scale_up_percent percent of the current count (200 by default:
    # 3 replicas may become at most 6; from 0 replicas the base is 1) and never above remediation.max_replicas.
    # Scaling down is allowed, but never to zero: that is an outage, and people do it by hand.

    key = "k8s_scale_deployment"
    label = "Scale a Kubernetes deployment"

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        replicas, factor = params.get("replicas"), params.get("factor")
        if (replicas is None) == (factor is None):
            raise invalid("params", "give exactly one of replicas (a count) or factor (times the current count)")
        if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1):
            raise invalid("params", "replicas must be a whole number of at least 1")
        if factor is not None and (
            isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= MAX_FACTOR
        ):
            raise invalid("params", f"factor must be a number above 0 and at most {MAX_FACTOR}")

    def desired(self, current: int, params: Mapping[str, Any]) -> int:
        """The replica count the parameters ask for, given the current one."""
        if params.get("replicas") is not None:
            return int(params["replicas"])
        return max(1, math.ceil(current * float(params["factor"])))

    def preflight(self, target: str, params: Mapping[str, Any]) -> dict[str, Any]:
        check_namespace(target)
        scale = _kube("GET", deployment_path(target, "scale"))
        current = int(scale.get("spec", {}).get("replicas") or 0)
        wanted = self.desired(current, params)
        ceiling = int(config_get("remediation.max_replicas"))
        if wanted > ceiling:
            raise ActionBlocked(f"max replicas: {wanted} replicas is above remediation.max_replicas ({ceiling})")
        percent = int(config_get("remediation.max_scale_up_percent"))
        allowed = max(current, 1) * percent // 100
        if wanted > current and wanted > allowed:
            raise ActionBlocked(
                f"max scale-up: {current} → {wanted} replicas is more than {percent}% of the current count "
                f"(at most {allowed}; remediation.max_scale_up_percent)"
            )
        return {"current_replicas": current, "desired_replicas": wanted}

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        plan = dict(params) if "desired_replicas" in params else self.preflight(target, params)
        current, wanted = int(plan["current_replicas"]), int(plan["desired_replicas"])
        path = deployment_path(target, "scale")
        body = {"spec": {"replicas": wanted}}
        if dry_run:
            return {
                "would": f"scale {target} from {current} to {wanted} replicas",
                "request": {"method": "PATCH", "path": path, "content_type": MERGE_PATCH, "body": body},
            }
        answer = _kube("PATCH", path, body=body, content_type=MERGE_PATCH)
        return {
            "done": f"scaled {target} from {current} to {wanted} replicas",
            "from_replicas": current,
            "to_replicas": int(answer.get("spec", {}).get("replicas", wanted)),
        }
