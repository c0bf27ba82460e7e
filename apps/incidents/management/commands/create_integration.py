"""``manage.py create_integration --kind alertmanager --name NAME``: create an integration and print its URL."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import DomainError
from apps.incidents.choices import GroupBy, IntegrationKind
from apps.incidents.services import integration_create


class Command(BaseCommand):
    help = "Create an alert integration and print the URL to configure in the sender (the token is shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=[IntegrationKind.ALERTMANAGER, IntegrationKind.WEBHOOK])
        parser.add_argument("--name", required=True)
        parser.add_argument("--group-by", choices=GroupBy.values, default=GroupBy.GROUP_KEY)
        parser.add_argument("--group-template", default="", help="With --group-by template: e.g. {alertname}/{service}")
        parser.add_argument("--heartbeat-seconds", type=int, default=None, help="Expect a heartbeat this often.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the portal is reached.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            integration, token = integration_create(
                kind=options["kind"],
                name=options["name"],
                group_by=options["group_by"],
                group_template=options["group_template"],
                heartbeat_interval_seconds=options["heartbeat_seconds"],
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        base = options["base_url"].rstrip("/")
        self.stderr.write(f"Integration {integration.name} ({integration.kind}) created. The URL holds its secret:")
        self.stderr.write("store it now, it cannot be shown again.")
        self.stdout.write(f"{base}/integrations/v1/{integration.kind}/{token}/")
