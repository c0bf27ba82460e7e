"""``manage.py restore_portal DUMP [--database-url URL] [--verify]``: restore a ``backup_portal`` dump.

The target must be an empty database (a fresh one, or the configured one after it was recreated): restoring over
live tables is refused. The dump's checksum is compared with its manifest first. With ``--verify``, the restored
database is then checked in a separate process pointed at it (``restore_portal --check``): the audit chain verifies
from its first event and every encrypted field of every model decrypts with the keyring configured here, which must
be the one the manifest names (same fingerprints), fetched from the store it names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from apps.common.management.commands.backup_portal import client_binary, pg_env, sha256_file


def manifest_for(dump: Path) -> dict[str, Any] | None:
    path = dump.with_name(dump.name.removesuffix(".dump") + ".manifest.json")
    return json.loads(path.read_text()) if path.exists() else None


def check_restored(stdout: Any) -> bool:
    """Verify the configured database: the audit chain, and that every encrypted value decrypts."""
    from django.db import models
    from django.db.models.functions import Cast

    from apps.audit.verify import verify_chain
    from apps.configuration.crypto import DecryptionError, fernet_decrypt
    from apps.configuration.rotation import encrypted_fields

    ok = True
    report = verify_chain(from_seq=None, to_seq=None, anchors=[])
    stdout.write(f"audit chain: {report.summary()}")
    ok &= report.ok
    for ref in encrypted_fields():
        manager: Any = ref.model._base_manager
        raws = manager.annotate(_raw=Cast(ref.field.attname, models.TextField())).values_list("_raw", flat=True)
        total = bad = 0
        for raw in raws.iterator(chunk_size=2000):
            if raw in (None, ""):
                continue
            total += 1
            try:
                fernet_decrypt(raw)
            except DecryptionError:
                bad += 1
        stdout.write(f"encrypted field {ref.label}: {total - bad}/{total} decrypt")
        ok &= bad == 0
    return ok


class Command(BaseCommand):
    help = "Restore a backup_portal dump into an empty database, then (with --verify) check the audit chain and keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dump", nargs="?", help="The .dump file written by backup_portal.")
        parser.add_argument("--database-url", default="", help="Target database (default: the configured one).")
        parser.add_argument("--jobs", type=int, default=2, help="Parallel pg_restore jobs.")
        parser.add_argument("--verify", action="store_true", help="Check the restored database afterwards.")
        parser.add_argument("--check", action="store_true", help="Only check the configured database.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            if not check_restored(self.stdout):
                sys.exit(1)
            return
        if not options["dump"]:
            raise CommandError("give the dump file to restore")
        dump = Path(options["dump"])
        if not dump.exists():
            raise CommandError(f"{dump} does not exist")
        manifest = manifest_for(dump)
        if manifest is None:
            self.stderr.write("no manifest beside the dump: its checksum and key material cannot be checked")
        elif manifest["dump"]["sha256"] != sha256_file(dump):
            raise CommandError("the dump's SHA-256 differs from its manifest: refusing a corrupt or altered dump")
        url = options["database_url"]
        target = environ.Env.db_url_config(url) if url else dict(connection.settings_dict)
        env = pg_env(target)
        tables = subprocess.run(  # noqa: S603
            [client_binary("psql"), "-tA", "-c", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if tables.returncode != 0:
            raise CommandError(f"cannot reach the target database: {tables.stderr.strip()}")
        if int(tables.stdout.strip() or 0) > 0:
            raise CommandError("the target database is not empty: restore into a fresh database")
        command = [
            client_binary("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--jobs={options['jobs']}",
            f"--dbname={env.get('PGDATABASE', '')}",
            str(dump),
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise CommandError(f"pg_restore failed: {result.stderr.strip()}")
        name = target.get("NAME")
        self.stdout.write(f"restored {dump.name} into {name}")
        if manifest is not None:
            self.stdout.write(self._keys_note(manifest))
        if options["verify"]:
            self._verify(url or os.environ.get("DATABASE_URL") or self._url_of(target))

    def _keys_note(self, manifest: dict[str, Any]) -> str:
        from apps.common.management.commands.backup_portal import key_material_locations

        wanted = manifest.get("key_material", {}).get("secrets.fernet_keys", {}).get("fingerprints") or []
        here = key_material_locations().get("secrets.fernet_keys", {}).get("fingerprints") or []
        missing = [f for f in wanted if f not in here]
        if missing:
            return f"WARNING: the keyring here lacks keys {missing} the backup's data was encrypted with"
        return f"keyring: every key of the backup ({len(wanted)}) is configured here"

    @staticmethod
    def _url_of(database: dict[str, Any]) -> str:
        """A URL of a settings dict without its password (libpq finds it in PGPASSWORD or ~/.pgpass)."""
        user = database.get("USER") or ""
        host = database.get("HOST") or "127.0.0.1"
        port = database.get("PORT") or 5432
        return f"postgres://{user}@{host}:{port}/{database.get('NAME')}"

    def _verify(self, url: str) -> None:
        # A separate process, so every setting, cache and connection points at the restored database.
        env = {**os.environ, "DATABASE_URL": url}
        manage = Path(settings.BASE_DIR) / "manage.py"
        result = subprocess.run(  # noqa: S603
            [sys.executable, str(manage), "restore_portal", "--check", "--skip-checks"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        self.stdout.write(result.stdout.rstrip())
        if result.returncode != 0:
            self.stderr.write(result.stderr.strip()[-4000:])
            raise CommandError(f"the restored database {urlsplit(url).path.lstrip('/')} failed verification")
        self.stdout.write("verified: the audit chain holds and every encrypted field decrypts")
