"""``manage.py audit_anchor``: write the chain head to the external anchor sink now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.audit.anchors import anchor_write


class Command(BaseCommand):
    help = "Write the audit chain head (sequence number and hash) to the configured anchor sink."

    def handle(self, *args: Any, **options: Any) -> None:
        anchor = anchor_write()
        self.stdout.write(f"anchored #{anchor.seq} at {anchor.location}" if anchor else "the chain is empty")
