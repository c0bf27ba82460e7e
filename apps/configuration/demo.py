"""Demo data of configuration: a runtime override with its history, and encrypted credentials."""

from __future__ import annotations

from apps.common.models import User
from apps.configuration.models import ConfigEntry, Credential, CredentialKind
from apps.configuration.services import config_entries_sync, config_override_set


def seed() -> list[str]:
    """Idempotent demo data of this app; returns lines describing what exists."""
    config_entries_sync()
    admin = User.objects.filter(username="admin").first()
    lines = []
    if admin is not None and ConfigEntry.objects.filter(key="remediation.cooldown_minutes", override=15).count() == 0:
        config_override_set(key="remediation.cooldown_minutes", value=15, actor=admin)
        lines.append("override remediation.cooldown_minutes = 15 (by admin), see /admin/configuration/configentry/")
    credentials: tuple[tuple[str, str, str, str, dict[str, str], dict[str, object]], ...] = (
        (
            "slack-oncall",
            CredentialKind.WEBHOOK_URL,
            "Slack incoming webhook of #ecap-oncall",
            "http://127.0.0.1:9/slack/ecap-oncall",
            {},
            {"channel": "#ecap-oncall"},
        ),
        (
            "smtp-relay",
            CredentialKind.SMTP,
            "SMTP relay for e-mail pages",
            "demo-smtp-password",
            {"username": "portal@ecap.invalid"},
            {"host": "127.0.0.1", "port": 1025},
        ),
    )
    for name, kind, description, secret, extra, metadata in credentials:
        _, created = Credential.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "description": description,
                "secret": secret,
                "secret_extra": extra,
                "metadata": metadata,
            },
        )
        if created:
            lines.append(f"credential {name} (encrypted at rest)")
    return lines or ["configuration demo data already present"]
