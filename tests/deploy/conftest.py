"""Shared by the deployment tests: scripts/lint_infra.py as a module, and the chart rendered per environment."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_lint_infra() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_infra", ROOT / "scripts" / "lint_infra.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lint_infra"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def lint_infra() -> ModuleType:
    return _load_lint_infra()


@pytest.fixture(scope="session")
def rendered(lint_infra: ModuleType) -> dict[str, list[dict[str, Any]]]:
    """The manifests of every environment, rendered by the helm binary `make lint-infra` installs."""
    if not lint_infra.HELM.exists():
        pytest.skip(f"no helm at {lint_infra.HELM}: `make lint-infra` (a step of `make test`) installs it")
    return {env: lint_infra.render_chart(env) for env in lint_infra.ENVIRONMENTS}
