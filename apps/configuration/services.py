"""The one way the portal reads runtime configuration and secrets, and changes runtime overrides.

Public surface: ``config_get``, ``secret_get``, ``config_subscribe``, ``config_override_set``,
``config_override_clear``, ``vault_changes_poll``, ``credential_get``; ``fernet_encrypt`` / ``fernet_decrypt`` live in
``apps.configuration.crypto`` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.common.errors import DomainError, NotFound
from apps.common.models import User
from apps.configuration.crypto import fernet_decrypt, fernet_encrypt
from apps.configuration.layers import (
    DefaultsLayer,
    EnvLayer,
    FileLayer,
    Layer,
    OverrideLayer,
    SecretFilesLayer,
    VaultLayer,
)
from apps.configuration.models import ConfigChange, ConfigEntry, ConfigVersion, Credential, VaultSecretState
from apps.configuration.registry import ConfigKey, ConfigValueError, get_key, registry
from apps.configuration.store import ConfigStore, Subscriber
from apps.configuration.vault import VaultClient, VaultSettings

__all__ = [
    "config_get",
    "config_override_clear",
    "config_override_set",
    "config_subscribe",
    "credential_get",
    "fernet_decrypt",
    "fernet_encrypt",
    "get_store",
    "secret_get",
    "vault_changes_poll",
]

logger = structlog.get_logger(__name__)
_store: ConfigStore | None = None
_store_lock = threading.Lock()


def config_files() -> list[Path]:
    """PORTAL_CONFIG_FILES when set, else ``config/<environment>.toml`` when it exists."""
    if settings.PORTAL_CONFIG_FILES:
        return [Path(p) for p in settings.PORTAL_CONFIG_FILES]
    default = Path(settings.BASE_DIR) / "config" / f"{settings.PORTAL_ENVIRONMENT}.toml"
    return [default] if default.exists() else []


def build_layers() -> list[Layer]:
    """The layers of this deployment, lowest first."""
    layers: list[Layer] = [DefaultsLayer(), FileLayer(config_files())]
    vault_settings = VaultSettings.from_mapping(settings.VAULT)
    if vault_settings is not None:
        layers.append(VaultLayer(VaultClient(vault_settings), settings.PORTAL_ENVIRONMENT))
    layers += [SecretFilesLayer(Path(settings.PORTAL_SECRETS_DIR)), EnvLayer(), OverrideLayer()]
    return layers


def get_store() -> ConfigStore:
    """This process's configuration store, built on first use."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = ConfigStore(build_layers(), reload_interval=lambda: settings.CONFIG_RELOAD_INTERVAL_SECONDS)
    return _store


def vault_layer() -> VaultLayer | None:
    """The Vault layer, when Vault is configured."""
    return next((layer for layer in get_store().layers if isinstance(layer, VaultLayer)), None)


# --- reading ----------------------------------------------------------------------------------------------------
def config_get(key: str) -> Any:
    """The typed, effective value of a declared key (KeyError naming close matches for an unknown one)."""
    get_key(key)
    return get_store().get(key)


def secret_get(key: str) -> Any:
    """The value of a secret key; ImproperlyConfigured when no layer provides it."""
    if not get_key(key).secret:
        raise ImproperlyConfigured(f"{key} is not a secret: read it with config_get")
    value = get_store().get(key)
    if value in (None, "", []):
        raise ImproperlyConfigured(f"secret {key} is not set in any layer (Vault, secret files, environment)")
    return value


def config_subscribe(key: str, callback: Subscriber) -> None:
    """Call ``callback(key, old, new)`` when ``key``'s effective value changes in this process."""
    get_key(key)
    get_store().subscribe(key, callback)


# --- runtime overrides ------------------------------------------------------------------------------------------
def config_version_bump() -> int:
    """Move the configuration version so every process reloads; returns the new version."""
    ConfigVersion.objects.get_or_create(pk=1)
    ConfigVersion.objects.filter(pk=1).update(version=F("version") + 1, changed_at=timezone.now())
    return ConfigVersion.objects.values_list("version", flat=True).get(pk=1)


def config_entries_sync() -> int:
    """Make sure every declared key has its admin row; returns how many were added."""
    existing = set(ConfigEntry.objects.values_list("key", flat=True))
    missing = [ConfigEntry(key=k) for k in registry() if k not in existing]
    ConfigEntry.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def _reload_after_commit(version: int) -> None:
    store = get_store()

    def reload() -> None:
        store.note_version(version)
        store.load([layer for layer in store.layers if isinstance(layer, OverrideLayer)])

    transaction.on_commit(reload)


def _override_write(*, entry: ConfigEntry, spec: ConfigKey, value: Any, actor: User, detail: str) -> None:
    """Store the override (None removes it), record the change, and make every process reload after commit."""
    old = spec.display(entry.override)
    entry.override, entry.override_set_by, entry.override_set_at = value, actor, timezone.now()
    entry.save(update_fields=["override", "override_set_by", "override_set_at"])
    ConfigChange.objects.create(
        key=entry.key,
        layer="override",
        old_value=old,
        new_value=spec.display(value),
        actor=actor,
        actor_label=actor.get_username(),
        detail=detail,
    )
    _reload_after_commit(config_version_bump())
    logger.info("config_override_changed", key=entry.key, actor=actor.get_username(), change=detail)


def config_override_set(*, key: str, value: Any, actor: User) -> ConfigEntry:
    """Set a runtime override of a non-secret key, validated against its declaration; recorded and propagated."""
    spec = get_key(key)
    if spec.secret:
        raise DomainError(
            f"{key} is a secret: set it in Vault or a secret file, not as a runtime override.",
            code="secret_not_overridable",
            fields={"key": ["Secret keys cannot be overridden at run time."]},
        )
    try:
        parsed = spec.parse(value)
    except ConfigValueError as exc:
        raise DomainError(
            f"Invalid value for {key}: {exc}", code="validation_error", fields={"value": [str(exc)]}
        ) from exc
    with transaction.atomic():
        entry, _ = ConfigEntry.objects.select_for_update().get_or_create(key=key)
        _override_write(entry=entry, spec=spec, value=parsed, actor=actor, detail="runtime override set")
    return entry


def config_override_clear(*, key: str, actor: User) -> ConfigEntry:
    """Remove a runtime override; the key falls back to the layers below."""
    spec = get_key(key)
    with transaction.atomic():
        entry = ConfigEntry.objects.select_for_update().filter(key=key).first()
        if entry is None or entry.override is None:
            raise NotFound(f"{key} has no runtime override.")
        _override_write(entry=entry, spec=spec, value=None, actor=actor, detail="runtime override removed")
    return entry


# --- Vault change detection -------------------------------------------------------------------------------------
def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _vault_display(spec: ConfigKey | None, value: Any) -> str:
    if spec is None:
        return "(undeclared key)"
    return spec.display(value)


def vault_changes_poll() -> list[str]:
    """Compare Vault's secrets with what was last seen; record each changed key and make every process reload.

    Runs from beat every few seconds. Returns the keys that changed. Old and new values are recorded as shown to
    people: secrets masked; what was seen is kept per field as a hash, so a changed secret is noticed all the same.
    """
    layer = vault_layer()
    if layer is None:
        return []
    secrets = layer.client.walk(layer.root)
    known = registry()
    changed: list[str] = []
    with transaction.atomic():
        seen = {s.path: s for s in VaultSecretState.objects.select_for_update()}
        for path, (data, version) in secrets.items():
            state = seen.get(path)
            if state is not None and state.version == version:
                continue
            section = path[len(layer.root) + 1 :].replace("/", ".")
            fingerprints = {name: _fingerprint(v) for name, v in data.items()}
            displays = {name: _vault_display(known.get(f"{section}.{name}"), v) for name, v in data.items()}
            before = state.data_fingerprints if state else {}
            before_displays = state.data_displays if state else {}
            for name in sorted(set(before) | set(fingerprints)):
                if before.get(name) == fingerprints.get(name):
                    continue
                ConfigChange.objects.create(
                    key=f"{section}.{name}",
                    layer="vault",
                    old_value=before_displays.get(name, ""),
                    new_value=displays.get(name, ""),
                    actor_label="vault",
                    detail=f"{layer.client.settings.kv_mount}/{path} v{state.version if state else 0} → v{version}",
                )
                changed.append(f"{section}.{name}")
            VaultSecretState.objects.update_or_create(
                path=path,
                defaults={
                    "version": version,
                    "data_fingerprints": fingerprints,
                    "data_displays": displays,
                    "seen_at": timezone.now(),
                },
            )
        if changed:
            config_version_bump()
    if changed:
        logger.info("vault_changes_detected", keys=changed)
    return changed


# --- credentials ------------------------------------------------------------------------------------------------
def credential_get(*, name: str) -> Credential:
    """A stored credential by name, decrypted on access of ``secret`` / ``secret_extra``."""
    try:
        return Credential.objects.get(name=name)
    except Credential.DoesNotExist as exc:
        raise NotFound(f"No credential named {name!r}.") from exc
