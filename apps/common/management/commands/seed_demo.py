"""``manage.py seed_demo``: idempotent demo data for every capability, app by app."""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or refresh demo data. Each app contributes a demo.seed() function; running it twice changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PORTAL_ENVIRONMENT == "production":
            raise CommandError("Demo data is not seeded in production.")
        for config in apps.get_app_configs():
            if not config.name.startswith("apps.") or find_spec(f"{config.name}.demo") is None:
                continue
            seed = getattr(import_module(f"{config.name}.demo"), "seed", None)
            if seed is None:
                continue
            for line in seed():
                self.stdout.write(f"[{config.label}] {line}")
