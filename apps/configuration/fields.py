"""Model fields encrypted with the portal's Fernet keyring (``apps.configuration.crypto``).

Values are encrypted on every write with the primary key and decrypted with any key of the ring, so a key rotation
never makes data unreadable. Ciphertext is randomised: these fields cannot be filtered on except ``isnull``.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db import models
from django.db.models import Lookup

from apps.configuration.crypto import fernet_decrypt, fernet_encrypt


class Ciphertext(str):
    """A value that is already encrypted and is written as it is (used by key rotation)."""

    __slots__ = ()


class EncryptedTextField(models.TextField):
    """Text stored Fernet-encrypted."""

    description = "Text encrypted with the portal's Fernet keyring"
    encrypted = True

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return str(value)
        return fernet_encrypt(self.to_plaintext(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.from_plaintext(fernet_decrypt(value))

    def to_plaintext(self, value: Any) -> str:
        return str(value)

    def from_plaintext(self, text: str) -> Any:
        return text

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        # Equal plaintexts encrypt differently; only presence can be queried.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None


class EncryptedJSONField(EncryptedTextField):
    """A JSON document stored Fernet-encrypted."""

    description = "JSON encrypted with the portal's Fernet keyring"
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def to_plaintext(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def from_plaintext(self, text: str) -> Any:
        return json.loads(text)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise forms.ValidationError("Enter valid JSON.") from exc
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return self.to_plaintext(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:
        return forms.JSONField(**{"required": not self.blank, "label": self.verbose_name, **kwargs})
