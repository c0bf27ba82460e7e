"""Remediation actions on the platform's own parts: cache keys in Redis, Celery queues, beat schedules, Spark runs,
outgoing webhooks and idle database sessions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
from celery import current_app
from django.conf import settings
from django.db import connection
from django_celery_beat.models import PeriodicTask

from apps.common.periodic import MANAGED_PREFIX
from apps.configuration.services import config_get
from apps.incidents.remediation.registry import Action, ActionBlocked, ActionFailed, invalid, register
from ecap_site.celery import QUEUES

SCAN_BATCH = 500
GLOB_CHARS = re.compile(r"[*?\[\]\\]")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}")
# The queue that carries alert intake and remediation itself: pausing it would also stop its own resume.
UNPAUSABLE_QUEUES = ("critical",)
MIN_IDLE_SECONDS = 60


def _redis_url() -> str:
    url = str(config_get("remediation.redis_url") or settings.REDIS_URL or "")
    if not url:
        raise ActionFailed("no Redis is configured (remediation.redis_url or REDIS_URL)")
    return url


def _redis_where(url: str) -> str:
    """host:port/db of a Redis URL, without its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def _protected_prefixes() -> list[str]:
    names = list(config_get("remediation.redis_protected_prefixes"))
    # A run-wide broker key prefix (CELERY_KEY_PREFIX) puts every broker key under it: protect those names too.
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    global_prefix = str(options.get("global_keyprefix", "") or "")
    return names + [global_prefix + name for name in names] if global_prefix else names


@register
class RedisClearPrefix(Action):
    """Delete the keys under a literal prefix (the target) with SCAN and UNLINK in batches, never KEYS."""

    key = "redis_clear_prefix"
    label = "Delete Redis keys under a prefix"
    target_help = "a literal key prefix, e.g. ecap:1:circuit:{service}:"

    def validate_target(self, target: str) -> None:
        super().validate_target(target)
        minimum = int(config_get("remediation.redis_min_prefix_length"))
        if target.strip() in ("*", ""):
            raise invalid("target", "refusing to delete every key: give a prefix")
        if GLOB_CHARS.search(target):
            raise invalid("target", "the prefix is literal: wildcards (* ? [ ]) and backslashes are not allowed")
        if len(target) < minimum:
            raise invalid("target", f"the prefix must have at least {minimum} characters")
        for protected in _protected_prefixes():
            if target.startswith(protected) or protected.startswith(target):
                raise invalid("target", f"keys under {protected!r} belong to the Celery broker and are never cleared")

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        url = _redis_url()
        limit = int(config_get("remediation.redis_max_keys"))
        pattern = GLOB_CHARS.sub(lambda m: "\\" + m.group(0), target) + "*"
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        count, cursor, truncated = 0, 0, False
        try:
            while True:
                cursor, keys = client.scan(cursor=cursor, match=pattern, count=SCAN_BATCH)
                batch = keys[: limit - count]
                if batch and not dry_run:
                    client.unlink(*batch)
                count += len(batch)
                if len(batch) < len(keys) or (count >= limit and cursor != 0):
                    truncated = True
                    break
                if cursor == 0:
                    break
        except redis.RedisError as exc:
            raise ActionFailed(f"Redis failed after {count} keys ({type(exc).__name__})", keys=count) from None
        finally:
            client.close()
        verb = "would delete" if dry_run else "deleted"
        summary = f"{verb} {count} keys under {target!r}" + (" (limit reached)" if truncated else "")
        return {
            ("would" if dry_run else "done"): summary,
            "keys": count,
            "truncated": truncated,
            "redis": _redis_where(url),
        }


class _QueueControl(Action):
    """Base of pausing and resuming a Celery queue on every worker (until the worker restarts)."""

    target_help = f"one of the queues: {', '.join(QUEUES)}"
    command = ""

    def validate_target(self, target: str) -> None:
        super().validate_target(target)
        if target not in QUEUES:
            raise invalid("target", f"{target!r} is not a declared queue ({', '.join(QUEUES)})")

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        timeout = float(config_get("remediation.control_timeout_seconds"))
        control = current_app.control
        if dry_run:
            active = control.inspect(timeout=timeout).active_queues() or {}
            consuming = sorted(w for w, queues in active.items() if any(q.get("name") == target for q in queues))
            return {"would": f"{self.command} {target} on {len(active)} workers", "consuming_now": consuming}
        if self.command == "pause":
            replies = control.cancel_consumer(target, reply=True, timeout=timeout)
        else:
            replies = control.add_consumer(target, reply=True, timeout=timeout)
        workers = sorted(name for reply in replies or [] for name in reply)
        if not workers:
            raise ActionFailed(f"no worker answered within {timeout:g}s; the queue was not {self.command}d")
        return {"done": f"{self.command}d {target} on {len(workers)} workers", "workers": workers}


@register
class CeleryQueuePause(_QueueControl):
    """Tell every worker to stop consuming a queue (a flood of failing jobs); messages wait in the broker."""

    key = "celery_queue_pause"
    label = "Pause a Celery queue"
    command = "pause"

    def validate_target(self, target: str) -> None:
        super().validate_target(target)
        if target in UNPAUSABLE_QUEUES:
            raise invalid("target", f"the {target} queue carries alert intake and remediation; it is never paused")


@register
class CeleryQueueResume(_QueueControl):
    """Tell every worker to consume a queue again."""

    key = "celery_queue_resume"
    label = "Resume a Celery queue"
    command = "resume"


class _ScheduleToggle(Action):
    """Base of disabling and enabling a django-celery-beat schedule by name."""

    target_help = "the schedule's name, e.g. code:quality.nightly_scan"
    enable = False

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        task = PeriodicTask.objects.filter(name=target).first()
        if task is None:
            raise ActionFailed(f"no schedule named {target!r}")
        verb = "enable" if self.enable else "disable"
        note = (
            {"note": "owned by code: manage.py sync_periodic_tasks restores it at the next release"}
            if target.startswith(MANAGED_PREFIX)
            else {}
        )
        if task.enabled == self.enable:
            return {"done": f"{target} was already {verb}d", "changed": False, **note}
        if dry_run:
            return {"would": f"{verb} the schedule {target} (task {task.task})", **note}
        task.enabled = self.enable
        task.save()  # save(), not update(): beat notices changes through the model's save signal
        return {"done": f"{verb}d the schedule {target} (task {task.task})", "changed": True, **note}


@register
class SchedulePause(_ScheduleToggle):
    """Disable a beat schedule (e.g. a data pipeline feeding bad data) until it is resumed."""

    key = "schedule_pause"
    label = "Pause a scheduled job"


@register
class ScheduleResume(_ScheduleToggle):
    """Enable a beat schedule again."""

    key = "schedule_resume"
    label = "Resume a scheduled job"
    enable = True


@register
class SparkResubmit(Action):
    """Publish ``spark.resubmit_run`` on the spark queue for a failed Spark run; the Spark side re-submits it."""

    key = "spark_resubmit"
    label = "Re-submit a failed Spark run"
    target_help = "the run id, e.g. {run_id}"

    def validate_target(self, target: str) -> None:
        super().validate_target(target)
        if not RUN_ID.fullmatch(target):
            raise invalid("target", f"{target!r} is not a run id (letters, digits, . _ : -; at most 128)")

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        if dry_run:
            return {"would": f"publish spark.resubmit_run for run {target} on the spark queue"}
        sent = current_app.send_task("spark.resubmit_run", kwargs={"run_id": target}, queue="spark")
        return {"done": f"published spark.resubmit_run for run {target}", "task_id": sent.id, "queue": "spark"}


def _public_url(url: str) -> str:
    """The URL without its query string and fragment, which may carry credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@register
class HttpWebhook(Action):
    """POST JSON to a URL (another system's own remediation hook); ``params``: ``url`` and optional ``body``."""

    key = "http_webhook"
    label = "Call a webhook"
    target_help = "a name for what the hook acts on, e.g. {service}"

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        url = params.get("url")
        if not isinstance(url, str) or len(url) > 2000:
            raise invalid("params", "params.url must be a URL of at most 2000 characters")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid("params", "params.url must be an http or https URL with a host")
        if parts.username or parts.password:
            raise invalid("params", "params.url must not carry credentials")

    def preflight(self, target: str, params: Mapping[str, Any]) -> dict[str, Any]:
        allowed = config_get("remediation.webhook_allowed_hosts")
        host = urlsplit(str(params["url"])).hostname or ""
        if allowed and host not in allowed:
            raise ActionBlocked(f"webhook allow-list: {host} is not in remediation.webhook_allowed_hosts")
        return {}

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        url = str(params["url"])
        shown = _public_url(url)
        if dry_run:
            return {"would": f"POST to {shown}"}
        body = params.get("body", {"target": target})
        try:
            response = requests.post(
                url,
                json=body,
                timeout=float(config_get("remediation.webhook_timeout_seconds")),
                allow_redirects=False,  # a redirect could lead anywhere; the allow-list covers the first host only
                headers={"User-Agent": "ecap-portal-remediation"},
            )
        except requests.RequestException as exc:
            raise ActionFailed(f"the webhook did not answer ({type(exc).__name__})", url=shown) from None
        if response.status_code >= 300:
            raise ActionFailed(
                f"the webhook answered {response.status_code}", status_code=response.status_code, url=shown
            )
        return {"done": f"POST to {shown} answered {response.status_code}", "status_code": response.status_code}


@register
class DatabaseTerminateIdle(Action):
    """Terminate the sessions of one database (on the portal's PostgreSQL) idle longer than ``idle_seconds``."""

    # Frees a connection pool exhausted by leaked connections. Needs the pg_signal_backend role in production.

    key = "db_terminate_idle_connections"
    label = "Terminate idle database sessions"
    needs_approval = True
    target_help = "the database name"

    def validate_target(self, target: str) -> None:
        super().validate_target(target)
        if not DATABASE_NAME.fullmatch(target):
            raise invalid("target", f"{target!r} is not a database name")

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        idle = params.get("idle_seconds", 600)
        if isinstance(idle, bool) or not isinstance(idle, int) or idle < MIN_IDLE_SECONDS:
            raise invalid("params", f"idle_seconds must be a whole number of at least {MIN_IDLE_SECONDS}")

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        if connection.vendor != "postgresql":
            raise ActionFailed("only possible on PostgreSQL")
        idle = int(params.get("idle_seconds", 600))
        sessions = (
            "FROM pg_stat_activity WHERE datname = %s AND state = 'idle' AND backend_type = 'client backend' "
            "AND state_change < now() - make_interval(secs => %s) AND pid <> pg_backend_pid()"
        )
        select = "SELECT count(*) " if dry_run else "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
        with connection.cursor() as cursor:
            cursor.execute(select + sessions, [target, idle])
            (count,) = cursor.fetchone()
        if dry_run:
            return {"would": f"terminate {count} sessions of {target} idle for more than {idle}s", "sessions": count}
        return {"done": f"terminated {count} sessions of {target} idle for more than {idle}s", "sessions": count}
