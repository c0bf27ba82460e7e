"""Development-only keys, generated on first use into the git-ignored ``var/`` directory. Never used in production."""

from __future__ import annotations

import secrets
from pathlib import Path


def dev_secret_key(var_dir: Path) -> str:
    """Django's SECRET_KEY for local development, created once and kept in ``var/dev_secret_key``."""
    path = var_dir / "dev_secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def dev_fernet_keys(secrets_dir: Path) -> None:
    """The development Fernet keyring as the secret file ``secrets.fernet_keys``, created once."""
    path = secrets_dir / "secrets.fernet_keys"
    if path.exists():
        return
    from cryptography.fernet import Fernet

    secrets_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(Fernet.generate_key().decode())


def dev_random_key(secrets_dir: Path, name: str) -> None:
    """A development key of 32 random bytes (url-safe base64) as the secret file ``name``, created once: the identity
    hash key, the anonymisation key, the certificate signing key (an Ed25519 seed)."""
    import base64

    path = secrets_dir / name
    if path.exists():
        return
    secrets_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
