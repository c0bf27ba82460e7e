"""``manage.py audit_purge [--days N]``: verify, checkpoint, then delete events past retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.services import ChainBroken, audit_purge
from apps.configuration.services import config_get


class Command(BaseCommand):
    help = "Purge audit events older than the retention (audit.retention_days) behind a verified checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override the retention, in days.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else config_get("audit.retention_days")
        try:
            result = audit_purge(older_than_days=days)
        except ChainBroken as exc:
            raise CommandError(f"nothing purged: {exc}") from exc
        self.stdout.write(f"deleted {result['deleted']} event(s); checkpoint #{result['checkpoint']}")
