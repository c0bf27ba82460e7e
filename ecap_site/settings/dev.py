"""Local development and the embedded mode of ``make run``: SQLite, no external server, DEBUG on.

Set DATABASE_URL / REDIS_URL to develop against real servers instead.
"""

from __future__ import annotations

from pathlib import Path

from .base import *  # noqa: F403
from .base import SECRET_KEY, VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A development-only key kept in the git-ignored var/ directory, generated on first use.
if not SECRET_KEY:
    from apps.common.devkeys import dev_secret_key

    SECRET_KEY = dev_secret_key(VAR_DIR)

# Secrets of the embedded mode (the Fernet keyring) live as secret files in the git-ignored var/secrets.
PORTAL_SECRETS_DIR = env.str("PORTAL_SECRETS_DIR", default=str(VAR_DIR / "secrets"))
from apps.common.devkeys import dev_fernet_keys, dev_random_key  # noqa: E402

dev_fernet_keys(Path(PORTAL_SECRETS_DIR))
for _name in ("secrets.identity_hash_key", "secrets.anonymisation_key", "secrets.certificate_signing_key"):
    dev_random_key(Path(PORTAL_SECRETS_DIR), _name)

LOG_FORMAT = env.str("LOG_FORMAT", default="console")
from apps.common.logging import build_logging_config  # noqa: E402

LOGGING = build_logging_config(level=env.str("LOG_LEVEL", default="INFO"), fmt=LOG_FORMAT)

# runserver and WhiteNoise serve static files from the app finders; nothing is collected in development.
STATIC_ROOT = None

# Mail is written to files under var/mail instead of being sent (set EMAIL_BACKEND to send for real).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
