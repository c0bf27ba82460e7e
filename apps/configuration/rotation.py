"""Re-encrypting every encrypted field of every model under the primary key, in batches, resumably.

Progress is saved in the same transaction as each batch, so an interrupted run resumes exactly where it stopped;
values already under the primary key are skipped, so running it again is harmless. Rows are locked per batch, so
concurrent writers are never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from apps.configuration.crypto import key_fingerprint, keyring, keyring_keys, primary_fernet
from apps.configuration.fields import Ciphertext, EncryptedTextField
from apps.configuration.models import KeyRotation

Progress = Callable[[str, int, int], None]  # (field label, processed, total)


@dataclass(frozen=True)
class EncryptedFieldRef:
    """One encrypted column of one model."""

    model: type[models.Model]
    field: EncryptedTextField

    @property
    def label(self) -> str:
        return f"{self.model._meta.label_lower}.{self.field.name}"


def encrypted_fields() -> list[EncryptedFieldRef]:
    """Every encrypted field of every installed model, in a stable order."""
    refs = [
        EncryptedFieldRef(model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
    return sorted(refs, key=lambda r: r.label)


def rotation_current() -> KeyRotation:
    """The unfinished rotation to the current primary key, or a new one."""
    fingerprint = key_fingerprint(keyring_keys()[0])
    rotation = KeyRotation.objects.filter(primary_fingerprint=fingerprint, finished_at__isnull=True).first()
    return rotation or KeyRotation.objects.create(primary_fingerprint=fingerprint)


def _reencrypt_batch(ref: EncryptedFieldRef, rotation: KeyRotation, batch_size: int) -> tuple[int, bool]:
    """Re-encrypt the next batch of one field; returns (rows looked at, finished)."""
    manager: Any = ref.model._base_manager
    attname = ref.field.attname
    state = rotation.progress.setdefault(ref.label, {"last_pk": None, "rotated": 0, "skipped": 0, "done": False})
    ring, primary = keyring(), primary_fernet()
    with transaction.atomic():
        qs = manager.select_for_update().order_by("pk")
        if state["last_pk"] is not None:
            qs = qs.filter(pk__gt=state["last_pk"])
        rows = list(qs.annotate(_raw=Cast(attname, models.TextField())).values_list("pk", "_raw")[:batch_size])
        changed = []
        for pk, raw in rows:
            if raw is None:
                continue
            try:
                primary.decrypt(raw.encode())
            except InvalidToken:
                obj = ref.model(pk=pk)
                setattr(obj, attname, Ciphertext(ring.rotate(raw.encode()).decode()))
                changed.append(obj)
            else:
                state["skipped"] += 1
        if changed:
            manager.bulk_update(changed, [ref.field.name])
        state["rotated"] += len(changed)
        if rows:
            state["last_pk"] = rows[-1][0]
        state["done"] = len(rows) < batch_size
        KeyRotation.objects.filter(pk=rotation.pk).update(progress=rotation.progress)
    return len(rows), state["done"]


def reencrypt_all(*, batch_size: int = 500, progress: Progress | None = None) -> KeyRotation:
    """Bring every encrypted value under the primary key; resumes an interrupted rotation to the same key."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rotation = rotation_current()
    for ref in encrypted_fields():
        state = rotation.progress.get(ref.label, {})
        if state.get("done"):
            continue
        total = ref.model._base_manager.count()
        processed = ref.model._base_manager.filter(pk__lte=state["last_pk"]).count() if state.get("last_pk") else 0
        finished = False
        while not finished:
            seen, finished = _reencrypt_batch(ref, rotation, batch_size)
            processed += seen
            if progress is not None:
                progress(ref.label, processed, total)
    rotation.finished_at = timezone.now()
    rotation.save(update_fields=["finished_at"])
    return rotation


def undecryptable_with_primary() -> dict[str, int]:
    """Per field, how many values the primary key alone cannot decrypt (0 everywhere before retiring old keys)."""
    primary = primary_fernet()
    counts: dict[str, int] = {}
    for ref in encrypted_fields():
        manager: Any = ref.model._base_manager
        bad = 0
        raws = manager.annotate(_raw=Cast(ref.field.attname, models.TextField())).values_list("_raw", flat=True)
        for raw in raws.iterator(chunk_size=2000):
            if raw is None:
                continue
            try:
                primary.decrypt(raw.encode())
            except InvalidToken:
                bad += 1
        counts[ref.label] = bad
    return counts


# --- where the keyring lives ------------------------------------------------------------------------------------
KEYRING_STORES = ("vault", "file", "none")


def keyring_store_detect() -> str:
    """The layer that supplies the keyring now: ``vault``, ``file`` (a secret file) or ``none`` (env, read-only)."""
    from apps.configuration.services import get_store

    resolved = get_store().resolved("secrets.fernet_keys")
    if resolved is None:
        return "none"
    return {"vault": "vault", "secret_file": "file"}.get(resolved.layer, "none")


def keyring_write(keys: list[str], *, store: str) -> str:
    """Write the keyring (primary first) where it lives, reload it in this process, and make every process reload.

    Returns where it was written.
    """
    import os
    import tempfile
    from pathlib import Path

    from django.conf import settings

    from apps.configuration.services import config_version_bump, get_store, vault_layer

    value = ",".join(keys)
    if store == "vault":
        layer = vault_layer()
        if layer is None:
            raise ValueError("Vault is not configured (VAULT_ADDR)")
        path = f"{layer.root}/secrets"
        current = layer.client.read(path)
        data, version = current if current else ({}, 0)
        layer.client.write(path, {**data, "fernet_keys": value}, cas=version)
        where = f"vault {layer.client.settings.kv_mount}/{path}"
    elif store == "file":
        directory = Path(settings.PORTAL_SECRETS_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fernet-")
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        Path(tmp).replace(directory / "secrets.fernet_keys")
        where = f"secret file {directory / 'secrets.fernet_keys'}"
    else:
        raise ValueError(f"cannot write the keyring to {store!r}; choose one of vault, file")
    store_obj = get_store()
    version = config_version_bump()
    store_obj.note_version(version)
    store_obj.load([layer for layer in store_obj.layers if layer.reloadable])
    return where
