"""``manage.py rotate_encryption_key``: add a new primary Fernet key and re-encrypt every encrypted field.

The new key is first added as a secondary key, so every process can decrypt with it before anything is encrypted
with it; then it is promoted to primary; then every encrypted value is re-encrypted in batches. An interrupted run
is resumed by running the command again. ``--retire`` then removes the old keys once nothing needs them.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.configuration.crypto import generate_key, key_fingerprint, keyring_keys
from apps.configuration.keys import _fernet_keys
from apps.configuration.models import KeyRotation
from apps.configuration.registry import ConfigValueError
from apps.configuration.rotation import (
    KEYRING_STORES,
    keyring_store_detect,
    keyring_write,
    reencrypt_all,
    undecryptable_with_primary,
)


class Command(BaseCommand):
    help = "Rotate the Fernet encryption key: add a new primary key, re-encrypt everything, optionally retire old keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", choices=KEYRING_STORES, help="Where the keyring lives (default: detected).")
        parser.add_argument("--new-key", help="Use this Fernet key instead of generating one.")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--propagation-wait",
            type=float,
            default=None,
            help="Seconds to let every process load a keyring change (default: 3 reload intervals + 2).",
        )
        parser.add_argument("--reencrypt-only", action="store_true", help="Only re-encrypt under the current primary.")
        parser.add_argument("--retire", action="store_true", help="Afterwards, remove every key but the primary.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        store = options["store"] or keyring_store_detect()
        wait = options["propagation_wait"]
        if wait is None:
            wait = 3 * (settings.CONFIG_RELOAD_INTERVAL_SECONDS or 2.0) + 2
        unfinished = KeyRotation.objects.filter(
            primary_fingerprint=key_fingerprint(keyring_keys()[0]), finished_at__isnull=True
        ).exists()
        if options["reencrypt_only"] or unfinished:
            self.stdout.write("Resuming the unfinished re-encryption." if unfinished else "Re-encrypting only.")
        else:
            if store == "none":
                raise CommandError(
                    "The keyring comes from the environment, which this command cannot change. Deploy the new key "
                    "first in ECAP_SECRETS__FERNET_KEYS as a secondary key, then as the primary, then run "
                    "`rotate_encryption_key --reencrypt-only`."
                )
            self._add_primary(options["new_key"] or generate_key(), store, wait)
        rotation = reencrypt_all(batch_size=options["batch_size"], progress=self._progress)
        self.stdout.write("")
        for label, state in sorted(rotation.progress.items()):
            self.stdout.write(f"{label}: {state['rotated']} re-encrypted, {state['skipped']} already current")
        self.stdout.write(self.style.SUCCESS(f"Every encrypted value is under key {rotation.primary_fingerprint}."))
        if options["retire"]:
            self._retire(store)

    def _add_primary(self, new_key: str, store: str, wait: float) -> None:
        old = keyring_keys()
        try:
            _fernet_keys([new_key, *old])
        except ConfigValueError as exc:
            raise CommandError(f"--new-key: {exc}") from exc
        where = keyring_write([*old, new_key], store=store)
        self.stdout.write(f"Added key {key_fingerprint(new_key)} as a secondary key in {where}; waiting {wait:.0f}s.")
        time.sleep(wait)
        keyring_write([new_key, *old], store=store)
        self.stdout.write(f"Promoted key {key_fingerprint(new_key)} to primary; waiting {wait:.0f}s.")
        time.sleep(wait)

    def _retire(self, store: str) -> None:
        remaining = {label: n for label, n in undecryptable_with_primary().items() if n}
        if remaining:
            raise CommandError(f"Not retiring: values still need an old key: {remaining}")
        keys = keyring_keys()
        if len(keys) == 1:
            self.stdout.write("Only the primary key is left; nothing to retire.")
            return
        if store == "none":
            self.stdout.write(
                f"Every value decrypts with the primary alone: set ECAP_SECRETS__FERNET_KEYS={keys[0][:4]}… only."
            )
            return
        keyring_write(keys[:1], store=store)
        retired = ", ".join(key_fingerprint(k) for k in keys[1:])
        self.stdout.write(self.style.SUCCESS(f"Retired key(s) {retired}."))

    def _progress(self, label: str, done: int, total: int) -> None:
        width = 30
        filled = width if not total else min(width, int(width * done / total))
        line = f"{label:<40} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        if sys.stdout.isatty():
            self.stdout.write("\r" + line, ending="")
        else:
            self.stdout.write(line)
