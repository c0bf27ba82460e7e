"""Fixtures of the privacy tests."""

from __future__ import annotations

import pytest

from tests.catalog.factories import LAKE


@pytest.fixture(autouse=True)
def _factories_lake_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog factories' datasets live in the configured lake (a test with a real lake configures its own)."""
    from apps.configuration.services import get_store

    monkeypatch.setenv("ECAP_LAKE__ROOT", LAKE)
    get_store().invalidate()
