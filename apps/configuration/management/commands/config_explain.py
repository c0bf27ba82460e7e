"""``manage.py config_explain <key>``: every layer's value for a key (secrets masked) and which one won."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.configuration.registry import get_key, registry
from apps.configuration.selectors import config_explain


class Command(BaseCommand):
    help = "Show where a configuration key's value comes from, layer by layer. --list shows every key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", nargs="?")
        parser.add_argument("--list", action="store_true", help="List every declared key with its effective value.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"] or not options["key"]:
            for key in sorted(registry()):
                explanation = config_explain(key)
                self.stdout.write(f"{key:<36} {explanation.display:<40} [{explanation.layer}]")
            return
        try:
            spec = get_key(options["key"])
        except KeyError as exc:
            raise CommandError(exc.args[0]) from exc
        explanation = config_explain(spec.key)
        self.stdout.write(f"{spec.key} ({spec.type}{', secret' if spec.secret else ''}): {spec.description}")
        self.stdout.write(f"effective value: {explanation.display!s}  (from {explanation.layer})")
        for report in explanation.layers:
            mark = "=>" if report.wins else "  "
            if not report.present:
                note = f"  ({report.origin})" if report.origin else ""
                self.stdout.write(f"{mark} {report.layer:<12} —{note}")
                continue
            error = f"  INVALID: {report.error}" if report.error else ""
            self.stdout.write(f"{mark} {report.layer:<12} {report.display}  ← {report.origin}{error}")
