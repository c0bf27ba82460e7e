"""Reads of configuration for people: explanations of keys, entries for the admin and API, change history."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from apps.configuration.models import ConfigChange
from apps.configuration.registry import ConfigKey, get_key, registry
from apps.configuration.services import get_store
from apps.configuration.store import LayerReport


@dataclass(frozen=True)
class Explanation:
    """A key's declaration, effective value (masked when secret), winning layer, and every layer's say."""

    spec: ConfigKey
    display: str
    layer: str
    origin: str
    layers: list[LayerReport]


def config_explain(key: str) -> Explanation:
    """Where ``key``'s value comes from, layer by layer."""
    spec = get_key(key)
    store = get_store()
    resolved = store.resolved(key)
    return Explanation(
        spec=spec,
        display=spec.display(resolved.value) if resolved else "",
        layer=resolved.layer if resolved else "unset",
        origin=resolved.origin if resolved else "",
        layers=store.explain(key),
    )


def config_explain_all() -> list[Explanation]:
    """Every declared key, explained, in key order."""
    return [config_explain(key) for key in sorted(registry())]


def config_changes(*, key: str | None = None) -> QuerySet[ConfigChange]:
    """The change history, newest first."""
    qs = ConfigChange.objects.select_related("actor")
    return qs.filter(key=key) if key else qs
