"""Fixtures shared by the whole suite: API clients, users with roles, and a real Celery worker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from apps.common.models import User
from apps.common.services import api_token_create
from apps.configuration.store import ConfigStore
from tests.common.factories import UserFactory
from tests.support import start_celery_worker, stop_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    """Each test starts from the configuration in its database, not one cached by an earlier test."""
    from apps.configuration.services import get_store

    get_store().invalidate()
    yield
    get_store().invalidate()


@pytest.fixture
def use_config_store(monkeypatch: pytest.MonkeyPatch) -> Callable[[list], ConfigStore]:
    """Replace this process's configuration store with one built from the given layers (for the test only)."""
    from apps.configuration import services

    def install(layers: list, reload_interval: float | None = None) -> ConfigStore:
        store = ConfigStore(layers, reload_interval=lambda: reload_interval)
        monkeypatch.setattr(services, "_store", store)
        return store

    return install


@pytest.fixture
def api_client() -> APIClient:
    """An unauthenticated API client."""
    return APIClient()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Create a user, optionally in a role group: ``make_user(role="auditor")``."""

    def make(role: str | None = None, **kwargs: object) -> User:
        user = UserFactory(**kwargs)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def token_client(make_user: Callable[..., User]) -> Callable[..., tuple[APIClient, User]]:
    """An API client authenticated with a fresh Bearer token of a new user in ``role``."""

    def make(role: str | None = None, **kwargs: object) -> tuple[APIClient, User]:
        owner = make_user(role=role, **kwargs)
        _, raw = api_token_create(user=owner, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client, owner

    return make


def _test_database_url() -> str:
    """DATABASE_URL pointing at the test database pytest-django created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process working on the test database and the test Redis (``extra`` adds to or
    overrides it)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecap_site.settings.test",
        "DATABASE_URL": _test_database_url(),
        "LOG_LEVEL": "INFO",
        **(extra or {}),
    }


@contextmanager
def celery_worker(log_file: Path, *, name: str = "test", env: dict[str, str] | None = None) -> Iterator[Path]:
    """A real solo-pool Celery worker in its own process, on the test Redis and the test database, consuming every
    queue; ready when it says so, stopped on exit. ``env`` adds to (or overrides) its environment."""
    proc = start_celery_worker(log_file, name=name, env=worker_env(env))
    try:
        yield log_file
    finally:
        stop_process(proc)


@pytest.fixture
def celery_worker_process(transactional_db: None, tmp_path: Path) -> Iterator[Path]:
    """A real Celery worker in its own process, on the test Redis and the test database. Yields its log file."""
    with celery_worker(tmp_path / "worker.log") as log_file:
        yield log_file


@pytest.fixture
def configured_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A lake root under ``tmp_path`` (empty until a test writes to it) and a Spark work directory, configured."""
    from apps.configuration.services import get_store

    root = f"file://{tmp_path / 'lake'}"
    monkeypatch.setenv("ECAP_LAKE__ROOT", root)
    monkeypatch.setenv("ECAP_SPARK__WORK_DIR", str(tmp_path / "runs"))
    get_store().invalidate()
    yield root
    get_store().invalidate()
