"""The resolved configuration of this process: every layer merged, later layers winning, with provenance.

Reads are in-memory. Every few seconds (``CONFIG_RELOAD_INTERVAL_SECONDS``) a read compares the database's
configuration version with the one loaded and, when it moved, re-reads Vault and the overrides and tells
subscribers what changed. A process with subscribers runs a small watcher thread so it reloads even when idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from apps.configuration.layers import Layer, LayerResult
from apps.configuration.registry import ConfigKey, ConfigValueError, registry

logger = structlog.get_logger(__name__)

Subscriber = Callable[[str, Any, Any], None]


@dataclass(frozen=True)
class Resolved:
    """The effective value of a key and the layer it came from."""

    value: Any
    layer: str
    origin: str


@dataclass(frozen=True)
class LayerReport:
    """One layer's say on one key, for config_explain."""

    layer: str
    present: bool
    display: str
    origin: str
    error: str | None
    wins: bool


class ConfigurationError(Exception):
    """Invalid configuration found at start-up: names the key, the layer and the reason."""


class ConfigStore:
    """Merges the layers; thread-safe; reloads when the configuration version moves."""

    def __init__(self, layers: list[Layer], *, reload_interval: Callable[[], float | None] = lambda: None) -> None:
        self.layers = layers
        self.reload_interval = reload_interval
        self._lock = threading.RLock()
        self._results: dict[str, LayerResult] = {}
        self._resolved: dict[str, Resolved] = {}
        self._invalid: dict[tuple[str, str], str] = {}  # (key, layer) -> reason
        self._loaded = False
        self._version: int | None = None
        self._checked_at = 0.0
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._watcher: threading.Thread | None = None
        self._watcher_pid: int | None = None

    # --- loading ------------------------------------------------------------------------------------------------
    def load(self, layers: list[Layer] | None = None) -> dict[str, tuple[Any, Any]]:
        """(Re)read ``layers`` (default: all) and resolve; returns {key: (old, new)} for values that changed."""
        known = registry()
        with self._lock:
            for layer in self.layers if layers is None else layers:
                self._results[layer.name] = layer.load(known)
            before = {k: r.value for k, r in self._resolved.items()}
            self._resolve(known)
            after = {k: r.value for k, r in self._resolved.items()}
        return {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}

    def ensure_loaded(self) -> None:
        """Load what is not loaded yet; the version is read first so no change made meanwhile is missed."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._version = _current_version()
            self.load([layer for layer in self.layers if layer.name not in self._results])
            self._loaded = True

    def validate_static(self) -> None:
        """At start-up: read every layer that needs no database and fail fast on an invalid or forbidden value."""
        self.load([layer for layer in self.layers if not layer.needs_database])
        problems = self._problems()
        if problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(problems))

    def _resolve(self, known: dict[str, ConfigKey]) -> None:
        resolved: dict[str, Resolved] = {}
        invalid: dict[tuple[str, str], str] = {}
        for layer in self.layers:
            result = self._results.get(layer.name)
            if result is None:
                continue
            for key, lv in result.values.items():
                try:
                    value = known[key].parse(lv.raw)
                except ConfigValueError as exc:
                    invalid[(key, layer.name)] = str(exc)
                    continue  # an invalid value never wins: the layer below keeps serving
                resolved[key] = Resolved(value, layer.name, lv.origin)
        self._resolved, self._invalid = resolved, invalid
        for (key, layer_name), reason in invalid.items():
            logger.error("config_value_invalid", key=key, layer=layer_name, reason=reason)

    def problems(self) -> list[str]:
        """Everything wrong with the configuration: invalid values, forbidden values, unreadable layers."""
        self.ensure_loaded()
        return self._problems()

    def _problems(self) -> list[str]:
        out = [f"{key} in layer {layer}: {reason}" for (key, layer), reason in sorted(self._invalid.items())]
        for name, result in self._results.items():
            out.extend(f"layer {name}: {p}" for p in result.problems)
        return out

    def unknown_keys(self) -> list[str]:
        """Origins of values for keys nobody declared (a typo in a file, a stray variable)."""
        self.ensure_loaded()
        return [origin for result in self._results.values() for origin in result.unknown]

    # --- reading ------------------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        self.ensure_loaded()
        self.maybe_reload()
        resolved = self._resolved.get(key)
        return None if resolved is None else resolved.value

    def resolved(self, key: str) -> Resolved | None:
        self.ensure_loaded()
        self.maybe_reload()
        return self._resolved.get(key)

    def explain(self, key: str) -> list[LayerReport]:
        """Every layer's value for ``key`` (secrets masked) and which one won."""
        spec = registry()[key]
        winner = self.resolved(key)
        reports = []
        for layer in self.layers:
            result = self._results.get(layer.name, LayerResult())
            lv = result.values.get(key)
            error = self._invalid.get((key, layer.name))
            if lv is None:
                reports.append(LayerReport(layer.name, False, "", result.error or "", None, False))
                continue
            shown = spec.display(lv.raw if error else spec.parse(lv.raw))
            origin = lv.origin + (f" (cached {result.stale_seconds:.0f}s ago)" if result.stale_seconds else "")
            wins = winner is not None and winner.layer == layer.name
            reports.append(LayerReport(layer.name, True, shown, origin, error, wins))
        return reports

    def layer_result(self, name: str) -> LayerResult | None:
        self.ensure_loaded()
        return self._results.get(name)

    # --- hot reload ---------------------------------------------------------------------------------------------
    def maybe_reload(self, *, force: bool = False) -> None:
        interval = self.reload_interval()
        if interval is None and not force:
            return
        now = time.monotonic()
        if not force and now - self._checked_at < (interval or 0):
            return
        self._checked_at = now
        version = _current_version()
        if version is None or (version == self._version and not force):
            return
        self._version = version
        changes = self.load([layer for layer in self.layers if layer.reloadable])
        if changes:
            logger.info("config_reloaded", version=version, keys=sorted(changes))
        self._notify(changes)

    def note_version(self, version: int) -> None:
        """This process made the change that produced ``version``; it has already reloaded."""
        self._version = version

    def subscribe(self, key: str, callback: Subscriber) -> None:
        """Call ``callback(key, old, new)`` whenever the effective value of ``key`` changes in this process."""
        registry()  # fail early on unknown keys below
        with self._lock:
            self._subscribers.setdefault(key, []).append(callback)
        self._start_watcher()

    def _notify(self, changes: dict[str, tuple[Any, Any]]) -> None:
        for key, (old, new) in changes.items():
            for callback in list(self._subscribers.get(key, ())):
                try:
                    callback(key, old, new)
                except Exception:
                    logger.exception("config_subscriber_failed", key=key)

    def _start_watcher(self) -> None:
        import os

        interval = self.reload_interval()
        if interval is None:
            return
        with self._lock:
            if self._watcher is not None and self._watcher.is_alive() and self._watcher_pid == os.getpid():
                return  # after a fork the parent's thread does not exist here
            self._watcher_pid = os.getpid()
            self._watcher = threading.Thread(target=self._watch, name="config-watcher", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        from django.db import close_old_connections

        while True:
            interval = self.reload_interval()
            if interval is None:
                return
            time.sleep(max(interval, 0.2))
            try:
                self.maybe_reload()
            except Exception:
                logger.exception("config_watcher_failed")
            finally:
                close_old_connections()

    def invalidate(self) -> None:
        """Forget everything loaded (tests, and after the layers themselves were replaced)."""
        with self._lock:
            self._results, self._resolved, self._invalid = {}, {}, {}
            self._loaded = False
            self._version = None
            self._checked_at = 0.0


def _current_version() -> int | None:
    from django.db import DatabaseError

    from apps.configuration.models import ConfigVersion

    try:
        return ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    except DatabaseError:
        return None
