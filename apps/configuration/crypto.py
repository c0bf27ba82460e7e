"""The Fernet keyring: ``secrets.fernet_keys`` from the configuration layers, primary key first.

``fernet_encrypt`` always uses the primary key; ``fernet_decrypt`` accepts any key of the ring. The ring follows
configuration changes (hot reload), so adding or promoting a key reaches every process within seconds.
"""

from __future__ import annotations

import hashlib
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured

KEY = "secrets.fernet_keys"

_lock = threading.Lock()
_cached: tuple[tuple[str, ...], MultiFernet] | None = None


class DecryptionError(Exception):
    """A ciphertext that no key of the ring can decrypt (wrong key, or tampered data)."""


def keyring_keys() -> list[str]:
    """The configured keys, primary first."""
    from apps.configuration.services import config_get

    keys = config_get(KEY)
    if not keys:
        raise ImproperlyConfigured(
            f"{KEY} is not set: give Fernet keys through Vault, a secret file or ECAP_SECRETS__FERNET_KEYS"
        )
    return list(keys)


def keyring() -> MultiFernet:
    """The current MultiFernet, rebuilt only when the configured keys change."""
    global _cached
    keys = tuple(keyring_keys())
    with _lock:
        if _cached is None or _cached[0] != keys:
            _cached = (keys, MultiFernet([Fernet(k.encode()) for k in keys]))
        return _cached[1]


def primary_fernet() -> Fernet:
    """A Fernet of the primary key alone (to tell whether a value is already under the primary key)."""
    return Fernet(keyring_keys()[0].encode())


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, safe to log and store."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def fernet_encrypt(plaintext: str) -> str:
    """Encrypt text with the primary key."""
    return keyring().encrypt(plaintext.encode()).decode()


def fernet_decrypt(token: str) -> str:
    """Decrypt a value encrypted with any key of the ring."""
    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("no key of the keyring decrypts this value") from exc


def generate_key() -> str:
    """A new random Fernet key."""
    return Fernet.generate_key().decode()
