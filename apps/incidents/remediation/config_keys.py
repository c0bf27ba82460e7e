"""Configuration keys of automated remediation (the kill switch, cooldown, hourly limit and scale-up limit are
declared with the portal's own keys in apps.configuration.keys)."""

from __future__ import annotations

from apps.configuration.registry import declare

declare(
    "remediation.dry_run",
    "bool",
    False,
    "When true, every remediation only reports what it would do; nothing is changed anywhere.",
)
declare(
    "remediation.max_replicas",
    "int",
    50,
    "Most replicas an automated scale-up may set on a deployment, whatever the percentage allows.",
    min_value=1,
    max_value=1000,
)
declare(
    "remediation.approval_timeout_minutes",
    "int",
    60,
    "Minutes a remediation waits for approval before it expires.",
    min_value=5,
    max_value=7 * 24 * 60,
)
declare(
    "remediation.approval_link_ttl_minutes",
    "int",
    30,
    "Minutes a signed approval link stays valid.",
    min_value=1,
    max_value=24 * 60,
)
declare(
    "remediation.worker_lost_minutes",
    "int",
    15,
    "A remediation still running after this many minutes is marked failed (worker lost), never re-run.",
    min_value=10,
    max_value=24 * 60,
)
declare(
    "remediation.kubernetes_api_url",
    "str",
    "https://kubernetes.default.svc",
    "Base URL of the Kubernetes API server.",
    pattern=r"https?://[^\s/]+(/[^\s]*)?",
)
declare(
    "remediation.kubernetes_token_file",
    "str",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "Service-account token file; read on every call because the kubelet rotates it.",
)
declare(
    "remediation.kubernetes_ca_file",
    "str",
    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    "CA bundle of the API server; when the file is absent the system CAs verify it.",
)
declare(
    "remediation.kubernetes_timeout_seconds",
    "float",
    10.0,
    "Timeout of each call to the Kubernetes API.",
    min_value=1,
    max_value=120,
)
declare(
    "remediation.kubernetes_namespaces",
    "list",
    [],
    "Namespaces remediation may act on; empty allows every namespace the service account can reach.",
)
declare(
    "remediation.redis_url",
    "str",
    "",
    "Redis whose keys redis_clear_prefix deletes; empty uses the portal's REDIS_URL.",
    secret=True,
)
declare(
    "remediation.redis_min_prefix_length",
    "int",
    3,
    "Shortest key prefix redis_clear_prefix accepts.",
    min_value=3,
    max_value=100,
)
declare(
    "remediation.redis_protected_prefixes",
    "list",
    ["_kombu", "unacked", "celery", "critical", "default", "spark", "acks_late"],
    "Key prefixes redis_clear_prefix never touches (the Celery broker and results).",
)
declare(
    "remediation.redis_max_keys",
    "int",
    100_000,
    "Most keys one redis_clear_prefix run deletes; the result says when it stopped there.",
    min_value=1,
)
declare(
    "remediation.control_timeout_seconds",
    "float",
    5.0,
    "How long a Celery queue pause or resume waits for workers to answer.",
    min_value=0.5,
    max_value=60,
)
declare(
    "remediation.webhook_timeout_seconds",
    "float",
    10.0,
    "Timeout of a remediation webhook call.",
    min_value=1,
    max_value=60,
)
declare(
    "remediation.webhook_allowed_hosts",
    "list",
    [],
    "Host names a remediation webhook may call; empty allows any host.",
)
