"""backup_portal / restore_portal on real PostgreSQL: a dump restored into a fresh database still verifies its audit
chain and every encrypted field decrypts; the manifest says where the keys live and never holds one."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.configuration.models import Credential

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed (postgresql-client)"),
]
ROOT = Path(__file__).resolve().parents[2]


def _admin_connection() -> psycopg2.extensions.connection:
    settings = connection.settings_dict
    conn = psycopg2.connect(
        dbname="postgres",
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"],
        password=settings.get("PASSWORD") or None,
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database beside the test database; yields its URL and drops it afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore_{os.getpid()}"
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(os.environ["DATABASE_URL"])
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def backup(tmp_path: Path) -> tuple[Path, dict]:
    """Governed data with encrypted fields and audit events, dumped by backup_portal."""
    for i in range(5):
        Credential.objects.create(
            name=f"slack-{i}", kind="webhook_url", secret=f"https://hooks.example/{i}", secret_extra={"pw": f"p{i}"}
        )
    audit_record(action="export", target_type="dataset", target_id="raw/orders", rows=12, purpose="backup test")
    out = io.StringIO()
    call_command("backup_portal", out=str(tmp_path), name="ecap-test", stdout=out)
    dump = tmp_path / "ecap-test.dump"
    manifest = json.loads((tmp_path / "ecap-test.manifest.json").read_text())
    return dump, manifest


def test_a_restored_dump_verifies_its_audit_chain_and_decrypts_every_field(
    backup: tuple[Path, dict], fresh_database: str
) -> None:
    dump, manifest = backup
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
    assert head is not None
    assert manifest["audit_chain_head"] == {"seq": head.seq, "hash": head.hash}
    out = io.StringIO()
    call_command("restore_portal", str(dump), database_url=fresh_database, verify=True, stdout=out)
    text = out.getvalue()
    assert "verified: the audit chain holds and every encrypted field decrypts" in text
    assert "encrypted field configuration.credential.secret: 5/5 decrypt" in text
    assert "encrypted field configuration.credential.secret_extra: 5/5 decrypt" in text
    assert "keyring: every key of the backup (1) is configured here" in text
    with psycopg2.connect(fresh_database) as restored, restored.cursor() as cursor:
        cursor.execute("SELECT max(seq), count(*) FROM audit_auditevent WHERE seq IS NOT NULL")
        assert cursor.fetchone()[0] == head.seq


def test_the_manifest_names_where_the_keys_live_and_holds_no_key(backup: tuple[Path, dict]) -> None:
    dump, manifest = backup
    text = json.dumps(manifest)
    for name in ("FERNET_KEYS", "IDENTITY_HASH_KEY", "CERTIFICATE_SIGNING_KEY", "ANONYMISATION_KEY"):
        for key in os.environ[f"ECAP_SECRETS__{name}"].split(","):
            assert key not in text
            assert key.encode() not in dump.read_bytes()
    fernet = manifest["key_material"]["secrets.fernet_keys"]
    assert fernet["layer"] == "env"
    assert len(fernet["fingerprints"]) == len(os.environ["ECAP_SECRETS__FERNET_KEYS"].split(","))
    assert "configuration.credential.secret" in manifest["encrypted_fields"]
    assert manifest["dump"]["format"] == "pg_dump custom"


def test_a_restore_without_the_backups_keyring_fails_verification(
    backup: tuple[Path, dict], fresh_database: str
) -> None:
    dump, _ = backup
    call_command("restore_portal", str(dump), database_url=fresh_database, stdout=io.StringIO())
    env = {**os.environ, "DATABASE_URL": fresh_database, "ECAP_SECRETS__FERNET_KEYS": Fernet.generate_key().decode()}
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "restore_portal", "--check", "--skip-checks"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "encrypted field configuration.credential.secret: 0/5 decrypt" in result.stdout


def test_restore_refuses_a_database_that_is_not_empty_and_an_altered_dump(
    backup: tuple[Path, dict], fresh_database: str
) -> None:
    dump, _ = backup
    call_command("restore_portal", str(dump), database_url=fresh_database, stdout=io.StringIO())
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore_portal", str(dump), database_url=fresh_database, stdout=io.StringIO())
    with dump.open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(CommandError, match="differs from its manifest"):
        call_command("restore_portal", str(dump), database_url=fresh_database, stdout=io.StringIO())
