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
    "secrets.anonymisation_key",
    "str",
    None,
    "Key of the keyed hash (HMAC-SHA256) that erasure, rectification and retention jobs use to pseudonymise values "
    "(url-safe base64, at least 32 bytes). Handed to the job in its environment, never in its arguments; the same "
    "key gives the same pseudonym in every dataset, so joins keep working.",
    secret=True,
    validator=_hash_key,
)
declare(
    "secrets.certificate_signing_key",
    "str",
    None,
    "Ed25519 private key (its 32-byte seed, url-safe base64) that signs erasure certificates. Its public key is "
    "published on every certificate; keep old public keys to verify old certificates after a rotation.",
    secret=True,
    validator=_hash_key,
)
declare(
    "privacy.package_hours",
    "int",
    168,
    "How long an access/portability package can be downloaded before it expires and its file is removed.",
    min_value=1,
    max_value=2160,
)
declare(
    "privacy.package_dir",
    "str",
    "",
    "Where encrypted export packages are kept (default: var/dsr-packages).",
)
declare(
    "privacy.retention_auto_apply",
    "bool",
    True,
    "Apply the daily retention dry run automatically once it succeeds; off: staff apply a reviewed dry run from "
    "the retention page. Dry runs started by staff are always applied by hand.",
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
