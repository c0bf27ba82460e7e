"""The test suite: real PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``), fast hashing, quiet logs."""

from __future__ import annotations

import os

from apps.common.logging import build_logging_config

from .base import *  # noqa: F403
from .base import DATABASES, env

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecap")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASES["default"] = env.db_url("DATABASE_URL")
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
# Lets the test runner empty the append-only audit table between transactional tests (nothing else may).
DATABASES["default"]["OPTIONS"]["options"] = "-c ecap.allow_truncate=on"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Tests open a connection per request; servers started by the benchmarks keep them, as production does.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)

REDIS_URL = os.environ["REDIS_URL"]
# Every test run gets its own key space, so runs sharing one Redis never see each other's keys or tasks.
_run_prefix = env.str("CELERY_KEY_PREFIX", default="") or f"ecap-test-{os.getpid()}:"
os.environ["CELERY_KEY_PREFIX"] = _run_prefix
CACHES = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": _run_prefix,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "global_keyprefix": _run_prefix}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": _run_prefix}

# Tests that exercise the graph index turn it on and build it; elsewhere answers come from the database statement.
LINEAGE_GRAPH_INDEX = False

SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789abcdefghijklmnop"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOG_LEVEL = env.str("LOG_LEVEL", default="WARNING")
LOGGING = build_logging_config(level=LOG_LEVEL, fmt="json")

# Static files come from the app finders; nothing is collected in tests.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# A Fernet keyring for this run only, through the environment layer (subprocess workers inherit it).
if not os.environ.get("ECAP_SECRETS__FERNET_KEYS"):
    from cryptography.fernet import Fernet

    os.environ["ECAP_SECRETS__FERNET_KEYS"] = Fernet.generate_key().decode()
# The identity hash key, the anonymisation key and the certificate signing key (32 random bytes each), likewise.
for _name in ("IDENTITY_HASH_KEY", "ANONYMISATION_KEY", "CERTIFICATE_SIGNING_KEY"):
    if not os.environ.get(f"ECAP_SECRETS__{_name}"):
        import base64
        import secrets

        os.environ[f"ECAP_SECRETS__{_name}"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
PORTAL_SECRETS_DIR = env.str("PORTAL_SECRETS_DIR", default="/nonexistent/ecap-test-secrets")
# Reload checks are off by default so query counts stay exact; hot-reload tests switch them on.
CONFIG_RELOAD_INTERVAL_SECONDS = env.float("CONFIG_RELOAD_INTERVAL_SECONDS", default=None)
PORTAL_ENVIRONMENT = "test"
# The whole run shares one cache: sign-in failure limits high enough that tests sending bad credentials on purpose
# never lock out the tests after them (tests of the limits set their own).
LOGIN_FAILURE_LIMIT_PER_USERNAME = 10_000
LOGIN_FAILURE_LIMIT_PER_IP = 10_000
# Every denial recorded, so a test sees the event of the request it makes (the repeat test sets its own window).
DENIAL_AUDIT_REPEAT_SECONDS = 0
