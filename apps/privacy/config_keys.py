"""Configuration keys of privacy."""

from __future__ import annotations

import base64
import binascii

from apps.configuration.registry import ConfigValueError, declare


def _hash_key(value: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError) as exc:
        raise ConfigValueError("not url-safe base64") from exc
    if len(raw) < 32:
        raise ConfigValueError("the key needs at least 32 bytes")


declare(
    "secrets.identity_hash_key",
    "str",
    None,
    "Key of the keyed hash (HMAC-SHA256) that finds data subjects by identity without storing identities in clear "
    "(url-safe base64, at least 32 bytes). Changing it makes every stored identity unfindable: never rotate it "
    "without re-hashing.",
    secret=True,
    validator=_hash_key,
)
declare(
    "privacy.holidays",
    "list",
    [],
    "Public holidays (ISO dates, e.g. 2026-12-25) that are not business days for request deadlines.",
)
declare(
    "privacy.time_zone",
    "str",
    "UTC",
    "The controller's IANA time zone: a request's receipt date and the end of its deadline day are local to it.",
)
declare(
    "privacy.verification_link_hours",
    "int",
    72,
    "How long an e-mailed identity-verification link stays valid.",
    min_value=1,
    max_value=720,
)
declare(
    "privacy.legal_hold_policies",
    "list",
    ["transactions"],
    "Retention policies whose datasets a law obliges us to keep (e.g. orders for tax): erasure anonymises their "
    "personal fields instead of deleting rows (GDPR Art. 17(3)(b)).",
)
