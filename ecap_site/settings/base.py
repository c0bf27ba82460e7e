"""Settings shared by every environment. Values come from the environment; defaults suit local development."""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
import environ

# Lets generic classes (ModelAdmin[T], QuerySet[T], serializers) be subscripted at run time, as the type hints do.
django_stubs_ext.monkeypatch()

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state of the embedded mode (SQLite file, Celery spool, generated development keys). Git-ignored.
VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

# --- core -------------------------------------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
PORTAL_ENVIRONMENT = env.str("PORTAL_ENVIRONMENT", default="development")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_celery_beat",
    "django_structlog",
    "apps.common",
    "apps.configuration",
    "apps.audit",
    "apps.catalog",
    "apps.lineage",
    "apps.quality",
    "apps.privacy",
    "apps.incidents",
    "apps.oncall",
    "apps.sparkruns",
]

# The eight domain apps, in the order their API is mounted under /api/v1/<label>/.
ECAP_DOMAIN_APPS = [
    "configuration",
    "audit",
    "catalog",
    "lineage",
    "quality",
    "privacy",
    "incidents",
    "oncall",
    "sparkruns",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.common.middleware.RequestIdMiddleware",
    "apps.common.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.common.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
    "apps.common.middleware.DenialAuditMiddleware",
    "apps.common.middleware.LoginRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "ecap_site.urls"
WSGI_APPLICATION = "ecap_site.wsgi.application"
ASGI_APPLICATION = "ecap_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.common.views.portal_context",
            ],
        },
    },
]

# --- data stores ------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'ecap.sqlite3'}")}
_db_engine = DATABASES["default"]["ENGINE"]
if _db_engine.endswith("postgresql"):
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif _db_engine.endswith("sqlite3"):
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"
    # The embedded mode shares one SQLite file between the web process and the in-process worker.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="ecap"),
            "TIMEOUT": 300,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache", "LOCATION": "ecap"}}

# --- identity and access ----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "common.User"
AUTHENTICATION_BACKENDS = [
    "apps.common.auth_backends.CachedModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Seconds a user's model permission set may be served from the shared cache (0: off; without Redis the cache is
# per process, so off). Changes through the ORM take effect at once; see apps/common/auth_backends.py.
PERMISSION_CACHE_SECONDS = env.int("PERMISSION_CACHE_SECONDS", default=300 if REDIS_URL else 0)
LOGIN_URL = "login"  # every role signs in here; the admin's own login is for staff
LOGOUT_REDIRECT_URL = "login"
LOGIN_REDIRECT_URL = "portal-home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ANONYMOUS_USER_NAME = None  # django-guardian: no anonymous object permissions
GUARDIAN_RAISE_403 = True

# Personal API tokens: default lifetime when none is given, and how often last-use is written back.
API_TOKEN_DEFAULT_EXPIRY_DAYS = env.int("API_TOKEN_DEFAULT_EXPIRY_DAYS", default=90)
API_TOKEN_MAX_EXPIRY_DAYS = env.int("API_TOKEN_MAX_EXPIRY_DAYS", default=365)
API_TOKEN_LAST_USED_RESOLUTION_SECONDS = 60

# Failed sign-ins (portal, admin, API tokens) allowed per username and per client address in a sliding window.
LOGIN_FAILURE_LIMIT_PER_USERNAME = env.int("LOGIN_FAILURE_LIMIT_PER_USERNAME", default=10)
LOGIN_FAILURE_LIMIT_PER_IP = env.int("LOGIN_FAILURE_LIMIT_PER_IP", default=50)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=300)
# Anonymous denials and 429s repeated from one address on one route: one audit event per this many seconds.
DENIAL_AUDIT_REPEAT_SECONDS = env.int("DENIAL_AUDIT_REPEAT_SECONDS", default=60)

# The graph API's in-memory index of dataset lineage (apps/lineage/graph_index.py): per web process, rebuilt in the
# background when the change log shows the graph changed (at most once per REBUILD seconds) or it is older than
# MAX_AGE; change-log rows are kept for RETENTION (longer than MAX_AGE, so no change is missed).
LINEAGE_GRAPH_INDEX = env.bool("LINEAGE_GRAPH_INDEX", default=True)
LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS = env.int("LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS", default=900)
LINEAGE_GRAPH_INDEX_REBUILD_SECONDS = env.int("LINEAGE_GRAPH_INDEX_REBUILD_SECONDS", default=10)
LINEAGE_GRAPH_INDEX_MAX_EDGES = env.int("LINEAGE_GRAPH_INDEX_MAX_EDGES", default=5_000_000)
LINEAGE_GRAPH_CHANGE_RETENTION_SECONDS = env.int("LINEAGE_GRAPH_CHANGE_RETENTION_SECONDS", default=86_400)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "apps.common.views.csrf_failure"

# --- internationalisation ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files -----------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- request bodies ---------------------------------------------------------------------------------------------
# The largest body accepted, refused with 413 by RequestGuardMiddleware before anything reads it: by path prefix
# (longest wins), else REQUEST_BODY_MAX_BYTES. OpenLineage arrays (up to 1,000 events, 2 MiB) and alert deliveries
# (up to 1,000 alerts) are larger than any other API body.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=1024 * 1024)
REQUEST_BODY_MAX_BYTES_BY_PATH: dict[str, int] = env.dict(
    "REQUEST_BODY_MAX_BYTES_BY_PATH",
    cast={"value": int},
    default={"/api/v1/lineage": 2 * 1024 * 1024, "/integrations/v1/": 2 * 1024 * 1024},
)
# Django's own ceiling on a read body stays above every limit above, so the middleware's limits are the ones that hold.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2621440, REQUEST_BODY_MAX_BYTES, *REQUEST_BODY_MAX_BYTES_BY_PATH.values())

# The lineage walk indexes carry non-key columns (INCLUDE) on PostgreSQL; SQLite (the embedded mode) indexes the keys
# alone, which is all it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- REST API ---------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes unauthenticated API calls answer 401, not 403.
        "apps.common.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.common.api.parsers.SafeJSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.common.api.pagination.PagePagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.common.api.throttling.AnonRateThrottle",
        "apps.common.api.throttling.UserRateThrottle",
    ],
    "EXCEPTION_HANDLER": "apps.common.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0) or None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ECAP Governance Portal API",
    "DESCRIPTION": (
        "Catalog, lineage, quality, privacy, incidents and on-call of the ECAP analytics platform. "
        "Authenticate with `Authorization: Bearer <token>` (or `Token <token>`); "
        "create a token with `manage.py issue_token` or `POST /api/v1/common/tokens/`. "
        'Every error is JSON `{"code", "detail", "fields"}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "apps.incidents.choices.IncidentStatus",
        "IntegrationKindEnum": "apps.incidents.choices.IntegrationKind",
        "IdentityKindEnum": "apps.privacy.choices.IdentityKind",
        "OverrideModeEnum": "apps.oncall.choices.OverrideMode",
        "RuleUrgencyEnum": "apps.oncall.choices.RuleUrgency",
        "UrgencyEnum": "apps.incidents.choices.Urgency",
        "ScanScheduleModeEnum": "apps.quality.choices.ScheduleMode",
    },
}

# --- outgoing e-mail (identity-verification links to data subjects) ----------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@ecap.example")

# --- runtime configuration (apps.configuration) -------------------------------------------------------------
# Layers: code defaults < config files < Vault < secret files < ECAP_* environment < admin overrides.
PORTAL_CONFIG_FILES: list[str] = env.list("PORTAL_CONFIG_FILES", default=[])
PORTAL_SECRETS_DIR = env.str("PORTAL_SECRETS_DIR", default="/var/run/secrets/ecap")
CONFIG_RELOAD_INTERVAL_SECONDS: float | None = env.float("CONFIG_RELOAD_INTERVAL_SECONDS", default=2.0)
VAULT = {
    "addr": env.str("VAULT_ADDR", default=""),
    "auth_method": env.str("VAULT_AUTH_METHOD", default="token"),
    "token": env.str("VAULT_TOKEN", default=""),
    "role_id": env.str("VAULT_ROLE_ID", default=""),
    "secret_id": env.str("VAULT_SECRET_ID", default=""),
    "kubernetes_role": env.str("VAULT_KUBERNETES_ROLE", default=""),
    "kubernetes_jwt_path": env.str(
        "VAULT_KUBERNETES_JWT_PATH", default="/var/run/secrets/kubernetes.io/serviceaccount/token"
    ),
    "kv_mount": env.str("VAULT_KV_MOUNT", default="secret"),
    "namespace": env.str("VAULT_NAMESPACE", default=""),
    "timeout": env.float("VAULT_TIMEOUT", default=5.0),
    "verify": env.str("VAULT_CACERT", default="") or True,
}

# --- Celery -----------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND", default=REDIS_URL or f"file://{VAR_DIR / 'celery' / 'results'}"
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _spool = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_spool / "queue"),
        "data_folder_out": str(_spool / "queue"),
        "control_folder": str(_spool / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
_key_prefix = env.str("CELERY_KEY_PREFIX", default="")
if _key_prefix:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _key_prefix
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- observability ----------------------------------------------------------------------------------------------
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PROMETHEUS_METRIC_NAMESPACE = ""
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True  # RequestIdMiddleware has already validated the header
DJANGO_STRUCTLOG_USER_ID_FIELD = "public_id"
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = True
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
# JSON field names: "default" (ours) or "ecs" (Elastic Common Schema: @timestamp, log.level, message, trace.id, ...).
LOG_LAYOUT = env.str("LOG_LAYOUT", default="default")
# Tracing (apps/common/tracing.py): off, with nothing but the no-op API, unless an OTLP/HTTP endpoint is set
# (the collector's base URL; spans go to <endpoint>/v1/traces). New traces are kept with probability
# OTEL_TRACES_SAMPLER_ARG (0 to 1); a span with a parent follows its parent's decision.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="ecap-portal")
OTEL_TRACES_SAMPLER_ARG = env.float("OTEL_TRACES_SAMPLER_ARG", default=1.0)

from apps.common.logging import build_logging_config, configure_structlog  # noqa: E402

LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT, layout=LOG_LAYOUT, service_name=OTEL_SERVICE_NAME)
configure_structlog()
