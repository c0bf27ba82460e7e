"""Demo data of the shared kernel: one login per role and an integration service account."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from apps.common import roles
from apps.common.models import User

# username, role, display name, time zone, staff (may use the admin)
DEMO_USERS = (
    ("steward", roles.DATA_STEWARD, "Sam Steward", "Europe/Berlin", True),
    ("compliance", roles.COMPLIANCE_OFFICER, "Casey Compliance", "Europe/Dublin", False),
    ("integrator", roles.INTEGRATOR, "Ivy Integrator", "UTC", False),
    ("oncall", roles.ONCALL_ENGINEER, "Oli On-call", "America/Los_Angeles", False),
    ("auditor", roles.AUDITOR, "Alex Auditor", "Europe/London", True),
    ("admin", roles.ADMIN, "Ada Admin", "UTC", True),
)


def _logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo_logins.json"


def demo_users_ensure() -> list[tuple[str, str, str]]:
    """Create or reset the demo users; returns (username, role, password).

    Passwords are random, generated on first run and kept in the git-ignored ``var/demo_logins.json`` so they stay
    the same across restarts.
    """
    path = _logins_file()
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    out = []
    with transaction.atomic():
        for username, role, display_name, tz, staff in DEMO_USERS:
            password = stored.get(username) or secrets.token_urlsafe(12)
            stored[username] = password
            user, _ = User.objects.get_or_create(username=username)
            user.display_name, user.time_zone, user.email = display_name, tz, f"{username}@demo.ecap.invalid"
            user.is_staff = staff
            user.is_superuser = role == roles.ADMIN
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            out.append((username, role, password))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(stored, indent=2))
    return out


def seed() -> list[str]:
    """Idempotent demo data of this app; returns lines describing what exists."""
    bot, _ = User.objects.update_or_create(
        username="svc-lineage-push",
        defaults={"display_name": "Lineage push (Airflow)", "is_service_account": True, "is_active": True},
    )
    bot.set_unusable_password()
    bot.save(update_fields=["password"])
    bot.groups.set([Group.objects.get(name=roles.INTEGRATOR)])
    return [f"service account {bot.username} (integrator); issue a token with: manage.py issue_token {bot.username}"]
