"""Identity values: normalised, then found by a keyed hash and stored only encrypted.

The same person typed twice must hash the same, so values are normalised per kind first: e-mail addresses are
trimmed and lower-cased; phone numbers keep their digits and a leading ``+``; customer ids are trimmed. The hash is
HMAC-SHA256 under ``secrets.identity_hash_key`` over ``kind:value``, so equal values of different kinds never
collide and nobody without the key can test a guessed address against the table.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from apps.common.errors import DomainError
from apps.privacy.choices import IdentityKind

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_IDENTITY_LENGTH = 320


class IdentityInvalid(DomainError):
    code = "identity_invalid"


def identity_normalise(kind: str, value: str) -> str:
    """The canonical form of an identity value; raises ``IdentityInvalid`` naming what is wrong."""
    if kind not in IdentityKind.values:
        raise IdentityInvalid(f"Unknown identity kind {kind!r}.", fields={"kind": [", ".join(IdentityKind.values)]})
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_IDENTITY_LENGTH:
        raise IdentityInvalid("The identity value is empty or too long.", fields={"value": ["1 to 320 characters"]})
    text = value.strip()
    if kind == IdentityKind.EMAIL:
        text = text.lower()
        if not _EMAIL.match(text):
            raise IdentityInvalid("Not an e-mail address.", fields={"value": ["an e-mail address"]})
    elif kind == IdentityKind.PHONE:
        digits = re.sub(r"\D", "", text)
        if not 6 <= len(digits) <= 15:
            raise IdentityInvalid("Not a phone number.", fields={"value": ["6 to 15 digits"]})
        # "+351…" and "00351…" are the same international number.
        international = text.startswith(("+", "00"))
        text = ("+" if international else "") + (digits[2:] if text.startswith("00") else digits)
    return text


def identity_hash_key() -> bytes:
    """The key of identity hashes (also of IP-address proofs in the consent ledger)."""
    import base64

    from apps.configuration.services import config_get

    return base64.urlsafe_b64decode(str(config_get("secrets.identity_hash_key")).encode())


def identity_hash(kind: str, value: str) -> str:
    """The keyed hash that finds an identity (64 hex characters); the value is normalised first."""
    normalised = identity_normalise(kind, value)
    return hmac.new(identity_hash_key(), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()
