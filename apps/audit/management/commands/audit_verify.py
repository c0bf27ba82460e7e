"""``manage.py audit_verify [--from N] [--to N]``: exit 0 when the chain is intact, 1 with a report otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.audit.anchors import anchors_read
from apps.audit.services import audit_seal_pending
from apps.audit.verify import verify_chain


class Command(BaseCommand):
    help = "Verify the audit chain (hashes, links, sequence, payload) and the external anchors."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="from_seq", type=int, default=None, help="First sequence number to check.")
        parser.add_argument("--to", dest="to_seq", type=int, default=None, help="Last sequence number to check.")
        parser.add_argument("--no-anchors", action="store_true", help="Skip the external anchors.")
        parser.add_argument("--no-seal", action="store_true", help="Do not seal pending events first.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_seal"]:
            audit_seal_pending()
        anchors = [] if options["no_anchors"] else anchors_read()
        report = verify_chain(from_seq=options["from_seq"], to_seq=options["to_seq"], anchors=anchors)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(report.summary())
            for problem in report.problems[1:]:
                self.stdout.write(f"  also: {problem}")
        if not report.ok:
            sys.exit(1)
