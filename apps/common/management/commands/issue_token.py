"""``manage.py issue_token <username> [--expires-days N] [--name NAME]``: print a new API token once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import DomainError
from apps.common.models import User
from apps.common.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it. It is shown this once and stored only hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--expires-days", type=int, default=None, help="Lifetime in days (default from settings).")
        parser.add_argument("--name", default="cli", help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {options['username']!r}.") from exc
        try:
            token, raw = api_token_create(user=user, name=options["name"], expires_days=options["expires_days"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        expiry = token.expires_at.isoformat() if token.expires_at else "never"
        self.stderr.write(f"Token {token.prefix}… for {user.username} ({token.name}), expires {expiry}.")
        self.stderr.write("Store it now: it cannot be shown again.")
        self.stdout.write(raw)
