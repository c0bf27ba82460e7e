"""The declaration of every configuration key: type, default, whether it is secret, and what values it allows.

Keys are dotted names (``api.throttle_user_rate``). The portal's own keys are in ``keys.py``; another app declares
its keys in an ``apps/<app>/config_keys.py`` module with ``declare(...)``, found at start-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec
from typing import Any

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
TYPES = ("str", "int", "float", "bool", "list", "json")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigValueError(ValueError):
    """A value that does not fit its key's declaration."""


@dataclass(frozen=True)
class ConfigKey:
    """One configuration key."""

    key: str
    type: str
    default: Any
    description: str
    secret: bool = False
    choices: tuple[Any, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    pattern: str | None = None
    validator: Callable[[Any], None] | None = field(default=None, compare=False)
    restart_required: bool = False

    def __post_init__(self) -> None:
        if not KEY_PATTERN.match(self.key):
            raise ValueError(f"config key {self.key!r} must be dotted lower-case words, e.g. 'api.page_size'")
        if self.type not in TYPES:
            raise ValueError(f"config key {self.key}: type must be one of {', '.join(TYPES)}")
        if self.default is not None:
            self.parse(self.default)

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (a string from the environment or a file, or a native TOML/JSON value) into a typed,
        validated value; raises ConfigValueError saying why not."""
        value = _COERCE[self.type](raw)
        if self.choices is not None and value not in self.choices:
            raise ConfigValueError(f"{value!r} is not one of {', '.join(map(repr, self.choices))}")
        if self.min_value is not None and value < self.min_value:
            raise ConfigValueError(f"{value!r} is below the minimum {self.min_value}")
        if self.max_value is not None and value > self.max_value:
            raise ConfigValueError(f"{value!r} is above the maximum {self.max_value}")
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            raise ConfigValueError(f"{'value' if self.secret else repr(value)} does not match {self.pattern}")
        if self.validator is not None:
            try:
                self.validator(value)
            except ConfigValueError:
                raise
            except (ValueError, TypeError) as exc:
                raise ConfigValueError(str(exc)) from exc
        return value

    def display(self, value: Any) -> str:
        """The value as shown to people: secrets masked."""
        if value is None:
            return ""
        if self.secret:
            return MASK
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


MASK = "********"


def _to_str(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw)
    raise ConfigValueError(f"expected text, got {type(raw).__name__}")


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigValueError("expected a whole number, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d+\s*", raw):
        return int(raw)
    raise ConfigValueError(f"expected a whole number, got {raw!r}")


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ConfigValueError("expected a number, got a boolean")
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError as exc:
        raise ConfigValueError(f"expected a number, got {raw!r}") from exc


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigValueError(f"expected true or false, got {raw!r}")


def _to_list(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [_to_str(item) for item in raw]
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                return _to_list(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ConfigValueError(f"invalid JSON list: {exc.msg}") from exc
        return [part.strip() for part in text.split(",") if part.strip()]
    raise ConfigValueError(f"expected a list, got {type(raw).__name__}")


def _to_json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigValueError(f"invalid JSON: {exc.msg}") from exc
    if isinstance(raw, dict | list | int | float | bool) or raw is None:
        return raw
    raise ConfigValueError(f"expected JSON, got {type(raw).__name__}")


_COERCE: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "list": _to_list,
    "json": _to_json,
}

_REGISTRY: dict[str, ConfigKey] = {}
_discovered = False


def declare(key: str, type: str, default: Any, description: str, **options: Any) -> ConfigKey:
    """Declare a key once; declaring the same key again is a programming error."""
    if key in _REGISTRY:
        raise ValueError(f"config key {key} is declared twice")
    spec = ConfigKey(key=key, type=type, default=default, description=description, **options)
    _REGISTRY[key] = spec
    return spec


def registry() -> dict[str, ConfigKey]:
    """Every declared key, after importing each app's ``config_keys`` module."""
    global _discovered
    if not _discovered:
        _discovered = True
        import_module("apps.configuration.keys")
        from django.apps import apps

        for config in apps.get_app_configs():
            module = f"{config.name}.config_keys"
            if config.name.startswith("apps.") and find_spec(module) is not None:
                import_module(module)
    return _REGISTRY


def get_key(key: str) -> ConfigKey:
    """The declaration of ``key``; KeyError naming close matches when it is unknown."""
    keys = registry()
    if key not in keys:
        import difflib

        close = difflib.get_close_matches(key, keys, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"unknown configuration key {key!r}{hint}")
    return keys[key]
