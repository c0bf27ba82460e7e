"""The configuration layers, lowest first: code defaults, config files, Vault, Kubernetes secret files, the
environment, and runtime overrides edited in the admin. Each reports where every value came from."""

from __future__ import annotations

import os
import time
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from apps.configuration.registry import ConfigKey
from apps.configuration.vault import VaultClient, VaultError, VaultUnavailable

logger = structlog.get_logger(__name__)

ENV_PREFIX = "ECAP_"


@dataclass(frozen=True)
class LayerValue:
    """A raw value and where it came from (file and key, Vault path and version, variable name…)."""

    raw: Any
    origin: str


@dataclass
class LayerResult:
    """What a layer holds now."""

    values: dict[str, LayerValue] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # origins of keys nobody declared
    problems: list[str] = field(default_factory=list)  # values that must not be there (a secret in a file)
    error: str | None = None  # the layer could not be read
    stale_seconds: float | None = None  # served from cache, this old
    versions: dict[str, int] = field(default_factory=dict)  # Vault: version of each secret path


class Layer(ABC):
    """Base of the layers."""

    name = ""
    reloadable = False  # re-read on every reload (Vault, overrides); others are read once per process
    needs_database = False

    @abstractmethod
    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        """Everything this layer holds now, checked against the declared keys."""


class DefaultsLayer(Layer):
    """The defaults declared with each key."""

    name = "default"

    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        defaults = {k: spec.default for k, spec in known.items() if spec.default is not None}
        return LayerResult(values={k: LayerValue(v, "declared default") for k, v in defaults.items()})


def _flatten(data: Mapping[str, Any], known: Mapping[str, ConfigKey], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, Mapping) and not (key in known and known[key].type == "json"):
            flat.update(_flatten(value, known, key))
        else:
            flat[key] = value
    return flat


class FileLayer(Layer):
    """Per-environment TOML files (``config/<environment>.toml``); tables nest dotted keys. Secrets are refused."""

    name = "file"

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        result = LayerResult()
        for path in self.paths:
            try:
                data = tomllib.loads(path.read_text())
            except OSError as exc:
                result.problems.append(f"{path}: cannot read ({exc.strerror})")
                continue
            except tomllib.TOMLDecodeError as exc:
                result.problems.append(f"{path}: invalid TOML ({exc})")
                continue
            for key, raw in _flatten(data, known).items():
                origin = f"{path.name}: {key}"
                if key not in known:
                    result.unknown.append(origin)
                elif known[key].secret:
                    result.problems.append(
                        f"{origin}: secret keys must not be in a config file (use Vault or a secret)"
                    )
                else:
                    result.values[key] = LayerValue(raw, origin)
        return result


class VaultLayer(Layer):
    """KV v2 secrets under ``ecap/<environment>/``: the secret ``ecap/prod/app`` field ``x`` is the key ``app.x``.

    When Vault is unreachable, the last values read are served with their age.
    """

    name = "vault"
    reloadable = True

    def __init__(self, client: VaultClient, environment: str) -> None:
        self.client = client
        self.root = f"ecap/{environment}"
        self._cache: LayerResult | None = None
        self.last_success: float | None = None  # wall-clock time of the last successful read

    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        try:
            secrets = self.client.walk(self.root)
        except VaultUnavailable as exc:
            return self._from_cache(str(exc))
        except VaultError as exc:
            logger.error("vault_read_failed", error=str(exc))
            return self._from_cache(str(exc))
        result = LayerResult()
        for path, (data, version) in secrets.items():
            result.versions[path] = version
            section = path[len(self.root) + 1 :].replace("/", ".")
            for name, raw in data.items():
                key = f"{section}.{name}"
                origin = f"vault {self.client.settings.kv_mount}/{path} v{version}: {name}"
                if key in known:
                    result.values[key] = LayerValue(raw, origin)
                else:
                    result.unknown.append(origin)
        self._cache = result
        self.last_success = time.time()
        return result

    def _from_cache(self, error: str) -> LayerResult:
        if self._cache is None or self.last_success is None:
            return LayerResult(error=error)
        age = time.time() - self.last_success
        logger.warning("vault_unreachable_serving_cache", age_seconds=round(age, 1))
        return LayerResult(
            values=dict(self._cache.values),
            unknown=list(self._cache.unknown),
            versions=dict(self._cache.versions),
            error=error,
            stale_seconds=age,
        )


class SecretFilesLayer(Layer):
    """A mounted Kubernetes secret: one file per key, named ``section.name`` (or ``section__name``)."""

    name = "secret_file"
    reloadable = True  # the kubelet updates mounted secrets in place

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        result = LayerResult()
        if not self.directory.is_dir():
            return result
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue  # Kubernetes keeps ..data links and timestamped folders beside the files
            key = path.name.replace("__", ".").lower()
            origin = f"secret file {path}"
            if key not in known:
                result.unknown.append(origin)
                continue
            try:
                result.values[key] = LayerValue(path.read_text().rstrip("\n"), origin)
            except OSError as exc:
                result.problems.append(f"{origin}: cannot read ({exc.strerror})")
        return result


def env_name_to_key(name: str) -> str:
    """``ECAP_API__THROTTLE_USER_RATE`` → ``api.throttle_user_rate``."""
    return name[len(ENV_PREFIX) :].lower().replace("__", ".")


class EnvLayer(Layer):
    """Environment variables ``ECAP_<SECTION>__<NAME>``: a double underscore separates the dotted parts."""

    name = "env"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ if environ is not None else os.environ

    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        result = LayerResult()
        for name, raw in self.environ.items():
            if not name.startswith(ENV_PREFIX):
                continue
            key = env_name_to_key(name)
            if key in known:
                result.values[key] = LayerValue(raw, f"env {name}")
            else:
                result.unknown.append(f"env {name}")
        return result


class OverrideLayer(Layer):
    """Runtime overrides edited in the admin (``ConfigEntry.override``); never secrets."""

    name = "override"
    reloadable = True
    needs_database = True

    def load(self, known: Mapping[str, ConfigKey]) -> LayerResult:
        from django.db import DatabaseError

        from apps.configuration.models import ConfigEntry

        result = LayerResult()
        try:
            rows = list(
                ConfigEntry.objects.filter(override__isnull=False)
                .select_related("override_set_by")
                .values_list("key", "override", "override_set_by__username")
            )
        except DatabaseError as exc:  # before migrate, or the database is down: overrides are simply absent
            return LayerResult(error=f"overrides unavailable: {type(exc).__name__}")
        for key, raw, username in rows:
            if key in known and not known[key].secret:
                result.values[key] = LayerValue(raw, f"admin override by {username or 'unknown'}")
        return result
