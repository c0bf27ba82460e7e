"""Encrypted model fields and the Fernet keyring: ciphertext at rest, rotation that re-encrypts everything,
resumes after interruption and is idempotent, after which old keys can be retired."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection

from apps.configuration.crypto import DecryptionError, fernet_decrypt, key_fingerprint
from apps.configuration.layers import DefaultsLayer, EnvLayer, OverrideLayer, SecretFilesLayer
from apps.configuration.models import Credential, KeyRotation
from apps.configuration.rotation import keyring_write, reencrypt_all, undecryptable_with_primary

pytestmark = pytest.mark.django_db

ROWS = 1000


def raw_column(name: str, column: str = "secret") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM configuration_credential WHERE name = %s", [name])  # noqa: S608
        return cursor.fetchone()[0]


def test_secrets_are_stored_as_ciphertext_and_read_back_as_plaintext() -> None:
    Credential.objects.create(name="slack", kind="webhook_url", secret="https://hooks/x", secret_extra={"p": "pw"})
    assert raw_column("slack").startswith("gAAAAA")
    assert "hooks" not in raw_column("slack")
    assert "pw" not in raw_column("slack", "secret_extra")
    stored = Credential.objects.get(name="slack")
    assert (stored.secret, stored.secret_extra) == ("https://hooks/x", {"p": "pw"})


def test_encrypted_fields_can_only_be_filtered_on_presence() -> None:
    Credential.objects.create(name="a", kind="other", secret="s")
    assert Credential.objects.filter(secret__isnull=False).count() == 1
    with pytest.raises(FieldError, match="Unsupported lookup"):
        list(Credential.objects.filter(secret="s"))


def test_a_value_from_another_keyring_is_a_clear_error() -> None:
    foreign = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    with pytest.raises(DecryptionError, match="no key of the keyring"):
        fernet_decrypt(foreign)


@pytest.fixture
def file_keyring(use_config_store, settings, tmp_path: Path):
    """The keyring in a secret file (as in the embedded mode), so rotation can write it."""
    settings.PORTAL_SECRETS_DIR = str(tmp_path)
    first = Fernet.generate_key().decode()
    (tmp_path / "secrets.fernet_keys").write_text(first)
    use_config_store([DefaultsLayer(), SecretFilesLayer(tmp_path), EnvLayer({}), OverrideLayer()])
    return tmp_path, first


def make_rows(n: int = ROWS) -> dict[str, str]:
    rows = [
        Credential(name=f"cred-{i:04d}", kind="api_token", secret=f"token-{i}", secret_extra={"i": i}) for i in range(n)
    ]
    Credential.objects.bulk_create(rows, batch_size=500)
    return {f"cred-{i:04d}": f"token-{i}" for i in range(n)}


def decryptable_by(key: str) -> int:
    fernet, ok = Fernet(key.encode()), 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM configuration_credential")
        for (raw,) in cursor.fetchall():
            try:
                fernet.decrypt(raw.encode())
                ok += 1
            except InvalidToken:
                pass
    return ok


def test_rotation_reencrypts_every_row_and_the_new_key_alone_decrypts_them(file_keyring) -> None:
    secrets_dir, old = file_keyring
    expected = make_rows()
    out = io.StringIO()
    call_command(
        "rotate_encryption_key", "--store", "file", "--propagation-wait", "0", "--batch-size", "100", stdout=out
    )
    keys = (secrets_dir / "secrets.fernet_keys").read_text().split(",")
    assert len(keys) == 2
    assert keys[1] == old
    new = keys[0]
    assert f"configuration.credential.secret: {ROWS} re-encrypted, 0 already current" in out.getvalue()
    assert decryptable_by(new) == ROWS
    assert decryptable_by(old) == 0

    call_command("rotate_encryption_key", "--store", "file", "--reencrypt-only", "--retire", stdout=io.StringIO())
    assert (secrets_dir / "secrets.fernet_keys").read_text() == new
    assert {c.name: c.secret for c in Credential.objects.all()} == expected
    assert Credential.objects.get(name="cred-0007").secret_extra == {"i": 7}


def test_an_interrupted_rotation_resumes_where_it_stopped(file_keyring) -> None:
    _, old = file_keyring
    make_rows()
    new = Fernet.generate_key().decode()
    keyring_write([new, old], store="file")

    batches = []

    def stop_after_three(label: str, done: int, total: int) -> None:
        batches.append((label, done))
        if len(batches) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reencrypt_all(batch_size=100, progress=stop_after_three)
    rotation = KeyRotation.objects.get(primary_fingerprint=key_fingerprint(new))
    assert rotation.finished_at is None
    assert rotation.progress["configuration.credential.secret"]["rotated"] == 300
    assert decryptable_by(new) == 300

    resumed = reencrypt_all(batch_size=100)
    assert resumed.pk == rotation.pk
    assert resumed.finished_at is not None
    assert resumed.progress["configuration.credential.secret"]["rotated"] == ROWS
    assert resumed.progress["configuration.credential.secret_extra"]["rotated"] == ROWS
    remaining = undecryptable_with_primary()
    assert {"configuration.credential.secret", "configuration.credential.secret_extra"} <= set(remaining)
    assert set(remaining.values()) == {0}  # every encrypted field of every model, whichever apps declare them


def test_rotating_again_changes_nothing(file_keyring) -> None:
    _, old = file_keyring
    make_rows(50)
    keyring_write([Fernet.generate_key().decode(), old], store="file")
    reencrypt_all(batch_size=20)
    before = raw_column("cred-0001")
    again = reencrypt_all(batch_size=20)
    assert again.progress["configuration.credential.secret"] == {
        "last_pk": again.progress["configuration.credential.secret"]["last_pk"],
        "rotated": 0,
        "skipped": 50,
        "done": True,
    }
    assert raw_column("cred-0001") == before


def test_retiring_is_refused_while_values_still_need_an_old_key(file_keyring, monkeypatch) -> None:
    from apps.configuration.management.commands import rotate_encryption_key

    secrets_dir, old = file_keyring
    make_rows(5)
    new = Fernet.generate_key().decode()
    keyring_write([new, old], store="file")
    # A writer that still had only the old key saved rows after the re-encryption pass: simulated by skipping it.
    monkeypatch.setattr(rotate_encryption_key, "reencrypt_all", lambda **_: KeyRotation(primary_fingerprint="x"))
    with pytest.raises(CommandError, match="values still need an old key"):
        call_command("rotate_encryption_key", "--store", "file", "--retire", "--reencrypt-only", stdout=io.StringIO())
    assert (secrets_dir / "secrets.fernet_keys").read_text() == f"{new},{old}"


def test_batch_size_must_be_positive(file_keyring) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("rotate_encryption_key", "--batch-size", "0", stdout=io.StringIO())


def test_rotation_of_an_environment_keyring_explains_the_manual_steps(use_config_store) -> None:
    use_config_store([DefaultsLayer(), EnvLayer({"ECAP_SECRETS__FERNET_KEYS": Fernet.generate_key().decode()})])
    with pytest.raises(CommandError, match="comes from the environment"):
        call_command("rotate_encryption_key", "--propagation-wait", "0", stdout=io.StringIO())
