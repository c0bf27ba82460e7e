"""Fixtures of the privacy tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog.factories import LAKE


@pytest.fixture(autouse=True)
def _factories_lake_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The catalog factories' datasets live in the configured lake (a test with a real lake configures its own);
    export packages are kept under the test's own directory."""
    from apps.configuration.services import get_store

    monkeypatch.setenv("ECAP_LAKE__ROOT", LAKE)
    monkeypatch.setenv("ECAP_PRIVACY__PACKAGE_DIR", str(tmp_path / "packages"))
    get_store().invalidate()
