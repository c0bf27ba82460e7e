"""Readiness and metrics of the configuration: Vault reachability and how stale the served values are."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from apps.common.health import Degraded
from apps.configuration.layers import VaultLayer
from apps.configuration.services import config_get, get_store, vault_layer
from apps.configuration.vault import VaultAuthError, VaultError, VaultPermissionDenied

VAULT_STALENESS = Gauge(
    "ecap_config_vault_staleness_seconds",
    "Age of the Vault values this process serves: 0 while Vault answers, growing while it is unreachable.",
)
VAULT_UP = Gauge("ecap_config_vault_up", "1 when this process's last contact with Vault succeeded.")


def vault_staleness(layer: VaultLayer) -> float:
    """0 while the last contact succeeded; otherwise seconds since the last successful read."""
    result = get_store().layer_result(layer.name)
    if result is None or result.error is None:
        return 0.0
    if layer.last_success is None:
        return float("inf")
    return time.time() - layer.last_success


def check_vault() -> tuple[bool, str]:
    """Vault answers: ok. Unreachable with a recent cache: degraded. Unreachable too long, or never read: failing."""
    layer = vault_layer()
    if layer is None:
        return True, "not configured"
    store = get_store()
    try:
        layer.client.ensure_token()
        layer.client.list(layer.root)
    except (VaultPermissionDenied, VaultAuthError) as exc:
        VAULT_UP.set(0)
        return False, f"Vault refused the portal: {exc}"
    except VaultError as exc:
        store.load([layer])  # records the failure, keeps serving the cache
        age = vault_staleness(layer)
        VAULT_UP.set(0)
        VAULT_STALENESS.set(age if age != float("inf") else -1)
        if age == float("inf"):
            return False, f"unreachable and never read: {exc}"
        if age > config_get("vault.max_staleness_seconds"):
            return False, f"unreachable; cached values are {age:.0f}s old, past vault.max_staleness_seconds"
        raise Degraded(f"unreachable; serving values cached {age:.0f}s ago") from exc
    result = store.layer_result(layer.name)
    if result is None or result.error is not None:
        store.load([layer])  # Vault is back: serve fresh values at once
    VAULT_UP.set(1)
    VAULT_STALENESS.set(0)
    return True, "reachable"
