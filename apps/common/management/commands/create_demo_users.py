"""``manage.py create_demo_users``: one login per role for local development, printed as a table."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.common.demo import demo_users_ensure


class Command(BaseCommand):
    help = "Create (or reset) one demo user per role and print their logins. Refuses to run in production."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PORTAL_ENVIRONMENT == "production":
            raise CommandError("Demo users are not created in production.")
        rows = demo_users_ensure()
        self.stdout.write("Demo logins (http://127.0.0.1:8000/admin/):")
        self.stdout.write(f"  {'username':<12} {'role':<20} password")
        for username, role, password in rows:
            self.stdout.write(f"  {username:<12} {role:<20} {password}")
