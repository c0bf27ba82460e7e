"""Gunicorn settings of the portal's web pods (the image passes ``--config /app/deploy/gunicorn.conf.py``).

- Workers follow the CPUs this container may use (its cgroup quota, else its CPU affinity): ``2 * CPUs + 1``,
  at least 2 and at most ``GUNICORN_MAX_WORKERS`` (default 8); ``GUNICORN_WORKERS`` overrides the count.
- Timeouts: a request may take ``GUNICORN_TIMEOUT`` seconds (default 60; exports stream, long work is Celery's);
  a graceful stop waits ``GUNICORN_GRACEFUL_TIMEOUT`` (default 30, below the pod's termination grace period).
- Access log: one JSON line per request on stdout (the same shape as the portal's structlog lines), with the
  request id the portal returned; integration tokens, signed links and query strings never reach it. With
  ``LOG_LAYOUT=ecs`` the access and error lines use ECS field names, like the portal's own lines.
- The heartbeat files live in ``/tmp`` (an in-memory ``emptyDir``; the root filesystem is read-only).
- Tracing (when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) is set up in each worker after the fork (``post_fork``): an
  exporter's thread and connections belong to the process that started them. ``preload_app`` stays off for this.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from apps.common.logging import MASK, ecs_layout, scrub_text


def _cgroup_cpus() -> float | None:
    """CPUs granted by the cgroup v2 (or v1) quota, or None without a quota."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        period_v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if quota_v1.exists() and period_v1.exists():
            quota_us = int(quota_v1.read_text())
            return None if quota_us <= 0 else quota_us / int(period_v1.read_text())
    except (OSError, ValueError):
        return None
    return None


def cpu_count() -> int:
    """The CPUs this process may use: the cgroup quota rounded up, else the affinity mask."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpus()
    return max(1, min(affinity, math.ceil(quota)) if quota else affinity)


def worker_count() -> int:
    """``GUNICORN_WORKERS`` when set, else 2 * CPUs + 1 bounded to [2, GUNICORN_MAX_WORKERS]."""
    explicit = os.environ.get("GUNICORN_WORKERS")
    if explicit:
        return max(1, int(explicit))
    return max(2, min(2 * cpu_count() + 1, int(os.environ.get("GUNICORN_MAX_WORKERS", "8"))))


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # the pod's port, behind the Service
workers = worker_count()
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))  # above the load balancer's idle timeout is wrong; below
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/tmp")  # noqa: S108 - an emptyDir in the pod
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")  # only the ingress reaches the pod
proxy_allow_ips = forwarded_allow_ips
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
capture_output = False
control_socket_disable = True  # no control socket on a read-only root filesystem

# Paths whose segments are credentials: the integration token, signed approval and on-call links.
_SECRET_PATH = re.compile(r"^(/integrations/v1/[a-z]+/|/incidents/remediation/approve/|/oncall/links?/)[^/?]+")
_SKIP_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# The access line's fields under their ECS names (only here: in the portal's own lines ``status`` or ``path`` may mean
# something else, and a string where ECS expects a number would make Elasticsearch reject the line).
_ACCESS_ECS = {
    "method": "http.request.method",
    "path": "url.path",
    "status": "http.response.status_code",
    "bytes": "http.response.body.bytes",
    "remote_addr": "client.ip",
    "user_agent": "user_agent.original",
    "request_id": "http.request.id",
    "pid": "process.pid",
}
_ECS = (
    ecs_layout(os.environ.get("OTEL_SERVICE_NAME") or "ecap-portal", os.environ.get("PORTAL_ENVIRONMENT", ""))
    if os.environ.get("LOG_LAYOUT") == "ecs"
    else None
)


def laid_out(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` in the layout ``LOG_LAYOUT`` asks for (ECS or ours)."""
    if _ECS is None:
        return record
    return _ECS(None, "", {_ACCESS_ECS.get(key, key): value for key, value in record.items()})


def _present(value: Any) -> Any:
    """None for gunicorn's placeholder of a missing atom."""
    return None if value in (None, "-", "") else value


def access_record(atoms: dict[str, Any]) -> dict[str, Any]:
    """The JSON access-log record of one request, built from gunicorn's atoms, with credentials removed."""
    path = atoms.get("U") or "-"
    path = scrub_text(_SECRET_PATH.sub(lambda m: m.group(1) + MASK, path))
    duration_us = int(atoms.get("D") or 0)
    sent = atoms.get("B")
    return {
        "event": "http_access",
        "logger": "gunicorn.access",
        "level": "info",
        "timestamp": datetime.now(tz=UTC).isoformat().replace("+00:00", "Z"),
        "method": atoms.get("m"),
        "path": path,
        "query_present": bool(atoms.get("q")),
        "status": int(atoms["s"]) if str(atoms.get("s", "")).isdigit() else atoms.get("s"),
        "bytes": int(sent) if sent is not None else None,
        "duration_ms": round(duration_us / 1000, 3),
        "remote_addr": _present(atoms.get("{x-forwarded-for}i")) or atoms.get("h"),
        "user_agent": scrub_text(str(atoms.get("a") or "-")),
        "request_id": _present(atoms.get("{x-request-id}o")) or _present(atoms.get("{x-request-id}i")),
        "protocol": atoms.get("H"),
        "pid": os.getpid(),
    }


class JsonFormatter(logging.Formatter):
    """Gunicorn's own error log as JSON lines (master and worker life-cycle, timeouts, crashes)."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "event": scrub_text(record.getMessage()),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat().replace("+00:00", "Z"),
            "pid": record.process,
        }
        if record.exc_info:
            body["exception"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(laid_out(body), default=str)


class JsonLogger(Logger):
    """Gunicorn's logger with JSON access and error lines; probes and scrapes are not logged."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled or environ.get("PATH_INFO") in _SKIP_PATHS:
            return
        try:
            atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
            record = access_record({key: atoms[key] for key in _ATOMS})
            self.access_log.info(json.dumps(laid_out(record), default=str))
        except Exception:
            self.exception("access log line failed")


_ATOMS = ("U", "D", "B", "m", "q", "s", "h", "a", "H", "{x-forwarded-for}i", "{x-request-id}o", "{x-request-id}i")
logger_class = JsonLogger


def when_ready(server: Any) -> None:
    server.log.info("gunicorn ready: %d workers, timeout %ds, started %s", workers, timeout, time.ctime())


def post_fork(server: Any, worker: Any) -> None:
    """Each worker sets up its own tracing (no-op when tracing is off) before it loads the application."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecap_site.settings.prod")
    from apps.common.tracing import tracing_setup

    tracing_setup(component="web")
