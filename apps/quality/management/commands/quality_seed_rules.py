"""``manage.py quality_seed_rules``: add the lake's baseline quality rules to the catalogued datasets."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.common.models import User
from apps.configuration.services import config_get
from apps.quality.seed import default_rules_install


class Command(BaseCommand):
    help = "Add the baseline quality rules missing on the lake's datasets (existing rules are left as they are)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", default="", help="Username of the rules' owner.")

    def handle(self, *args: Any, **options: Any) -> None:
        from spark.paths import normalize_root

        owner = User.objects.filter(username=options["owner"]).first() if options["owner"] else None
        created = default_rules_install(namespace=normalize_root(str(config_get("lake.root"))), owner=owner)
        for rule in created:
            self.stdout.write(f"added {rule.dataset.name}: {rule.name}")
        self.stdout.write(f"{len(created)} rule(s) added")
