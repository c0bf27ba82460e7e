"""The portal's configuration keys. Defaults follow the platform's own settings (shared/SEED_FACTS.md)."""

from __future__ import annotations

import base64
import binascii

from apps.configuration.registry import ConfigValueError, declare

RATE = r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)"


def _fernet_keys(keys: list[str]) -> None:
    if not keys:
        raise ConfigValueError("at least one key is needed")
    if len(set(keys)) != len(keys):
        raise ConfigValueError("a key is listed twice")
    for position, key in enumerate(keys, start=1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ConfigValueError(f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes)")


declare(
    "secrets.fernet_keys",
    "list",
    None,
    "Fernet keys for encrypted model fields, primary (used to encrypt) first; older keys still decrypt. "
    "Rotate with manage.py rotate_encryption_key.",
    secret=True,
    validator=_fernet_keys,
)
declare(
    "app.maintenance_banner",
    "str",
    "",
    "A notice shown on every portal page (e.g. planned maintenance); empty shows nothing.",
)
declare(
    "api.throttle_user_rate",
    "str",
    "1200/min",
    "Requests an authenticated API caller may make, e.g. 1200/min.",
    pattern=RATE,
)
declare(
    "api.throttle_anon_rate",
    "str",
    "60/min",
    "Requests an unauthenticated client address may make, e.g. 60/min.",
    pattern=RATE,
)
declare(
    "vault.max_staleness_seconds",
    "int",
    3600,
    "How long values cached from an unreachable Vault are served before readiness fails (degraded until then).",
    min_value=60,
    max_value=7 * 24 * 3600,
)
declare(
    "audit.retention_days",
    "int",
    2555,
    "How long audit events are kept (seven years by default).",
    min_value=365,
)
declare(
    "audit.risk_alert_threshold",
    "int",
    70,
    "Risk score (0-100) at or above which an access raises a security alert.",
    min_value=0,
    max_value=100,
)
declare(
    "remediation.kill_switch",
    "bool",
    False,
    "When true, no automated remediation runs anywhere (proposals are still recorded).",
)
declare(
    "remediation.cooldown_minutes",
    "int",
    10,
    "Minimum minutes between two runs of the same action on the same target.",
    min_value=0,
    max_value=24 * 60,
)
declare(
    "remediation.max_runs_per_hour",
    "int",
    3,
    "Most runs of one action on one target in any hour (e.g. restarts per service).",
    min_value=1,
    max_value=100,
)
declare(
    "remediation.max_scale_up_percent",
    "int",
    200,
    "Largest scale-up an automated action may make, as a percentage of the current replicas.",
    min_value=100,
    max_value=1000,
)
declare(
    "lake.root",
    "str",
    "file:///tmp/ecap-lake",
    "Root of the data lake given to every Spark job (file:///… locally, s3://… on EMR).",
    pattern=r"(file|s3|s3a)://.+",
)
declare(
    "spark.submit_backend",
    "str",
    "local",
    "Where Spark jobs run: local (a spark-submit subprocess) or emr (a step on the EMR cluster).",
    choices=("local", "emr"),
)
