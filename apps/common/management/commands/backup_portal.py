"""``manage.py backup_portal --out DIR``: a pg_dump of the portal's database and a manifest beside it.

The dump is PostgreSQL's custom format (``pg_restore`` reads it, in parallel if asked). The manifest
(``<name>.manifest.json``) says what the dump holds and where the key material lives that its encrypted fields need:
the keyring's store (Vault path or secret file) and key fingerprints, never a key. Restore with ``restore_portal``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

MANIFEST_VERSION = 1
# Secrets the database's contents depend on: without them a restored database cannot be read or searched.
KEY_MATERIAL = {
    "secrets.fernet_keys": "decrypts every encrypted field (primary key first; older keys still decrypt)",
    "secrets.identity_hash_key": "finds data subjects by HMAC of their identities; never rotated",
    "secrets.certificate_signing_key": "signed the erasure certificates stored in the database",
    "secrets.anonymisation_key": "keyed the pseudonyms written into the lake",
}


def pg_env(database: dict[str, Any]) -> dict[str, str]:
    """libpq variables for a Django database setting (the password travels in the environment, never argv)."""
    env = {**os.environ}
    for setting, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("NAME", "PGDATABASE")):
        if database.get(setting):
            env[variable] = str(database[setting])
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    sslmode = database.get("OPTIONS", {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return env


def client_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CommandError(f"{name} is not installed (Debian package postgresql-client, the same major as the server)")
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key_material_locations() -> dict[str, dict[str, Any]]:
    """Where each secret the data depends on is served from now (layer and origin), and key fingerprints."""
    from apps.configuration.crypto import key_fingerprint
    from apps.configuration.services import get_store

    store = get_store()
    locations: dict[str, dict[str, Any]] = {}
    for key, purpose in KEY_MATERIAL.items():
        resolved = store.resolved(key)
        entry: dict[str, Any] = {"purpose": purpose, "layer": None, "origin": None}
        if resolved is not None:
            entry["layer"] = resolved.layer
            entry["origin"] = resolved.origin
            if key == "secrets.fernet_keys":
                entry["fingerprints"] = [key_fingerprint(k) for k in resolved.value]
        locations[key] = entry
    return locations


def audit_head() -> dict[str, Any] | None:
    from apps.audit.models import AuditEvent

    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values("seq", "hash").first()
    return {"seq": head["seq"], "hash": head["hash"]} if head else None


class Command(BaseCommand):
    help = "Dump the portal's database (pg_dump, custom format) with a manifest of where its key material lives."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="Directory to write the dump and its manifest into.")
        parser.add_argument("--name", default="", help="File name stem (default ecap-<environment>-<UTC time>).")

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.audit.services import audit_seal_pending

        database = connection.settings_dict
        if "postgresql" not in database["ENGINE"]:
            raise CommandError("backup_portal needs PostgreSQL (the embedded SQLite mode is backed up by copying var/)")
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        stem = options["name"] or f"ecap-{settings.PORTAL_ENVIRONMENT}-{stamp}"
        dump = out / f"{stem}.dump"
        # Seal what is pending so the dump's chain ends on a sealed head.
        audit_seal_pending()
        head = audit_head()
        command = [client_binary("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"]
        result = subprocess.run(command, env=pg_env(database), capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            dump.unlink(missing_ok=True)
            raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server_version = cursor.fetchone()[0]
            cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
            # The latest applied migration of every app: the code version a restore needs at least.
            migrations: dict[str, str] = dict(cursor.fetchall())
        from apps.configuration.rotation import encrypted_fields

        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "created_at": timezone.now().isoformat(),
            "environment": settings.PORTAL_ENVIRONMENT,
            "database": {"name": database.get("NAME"), "server_version": server_version},
            "dump": {
                "file": dump.name,
                "format": "pg_dump custom",
                "bytes": dump.stat().st_size,
                "sha256": sha256_file(dump),
            },
            "audit_chain_head": head,
            "latest_migrations": migrations,
            "encrypted_fields": [ref.label for ref in encrypted_fields()],
            # Where the keys live, never the keys: a restore needs the same keyring to read encrypted fields.
            "key_material": key_material_locations(),
        }
        manifest_path = out / f"{stem}.manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        self.stdout.write(f"backup written: {dump} ({manifest['dump']['bytes']} bytes), manifest {manifest_path}")
