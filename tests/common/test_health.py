"""Liveness (``/healthz``) and readiness (``/readyz``): which dependency failures make the portal answer 503."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, override_settings
from django.urls import reverse

from apps.common import health


def closed_port() -> int:
    """A loopback port nothing listens on: bound to get a free number, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readyz(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get(reverse("readyz"))
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


@pytest.fixture
def restore_readiness_checks() -> Iterator[None]:
    """Put the module-level registry of checks back as it was."""
    saved = dict(health._CHECKS)
    yield
    health._CHECKS.clear()
    health._CHECKS.update(saved)


# --- /healthz -----------------------------------------------------------------------------------------------------


def test_healthz_answers_200_without_login_or_database_access(client: Client) -> None:
    # No django_db mark: any database access here would raise instead of answering.
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_runs_no_queries(client: Client, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = client.get(reverse("healthz"))

    assert response.status_code == 200


def test_healthz_is_not_cached(client: Client) -> None:
    response = client.get(reverse("healthz"))

    assert "no-cache" in response["Cache-Control"]


# --- /readyz ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_answers_200_when_database_migrations_and_redis_are_ok(client: Client) -> None:
    status, body = readyz(client)

    assert status == 200
    assert body["status"] == "ok"
    assert body["failing"] == []
    for name in ("database", "migrations", "redis"):
        assert body["checks"][name]["ok"] is True, body["checks"][name]
    assert body["checks"]["redis"]["detail"] == "pong"
    assert body["checks"]["migrations"]["detail"] == "all applied"


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_is_unreachable(client: Client) -> None:
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        status, body = readyz(client)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["detail"].startswith("ConnectionError")
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_readyz_answers_503_naming_database_when_database_is_unreachable(client: Client) -> None:
    saved = dict(connection.settings_dict)
    connection.settings_dict["PORT"] = str(closed_port())
    connection.close()
    try:
        status, body = readyz(client)
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.close()

    assert status == 503
    assert "database" in body["failing"]
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["detail"].startswith("OperationalError")
    assert body["checks"]["redis"]["ok"] is True
    # The real connection works again for the rest of the suite.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db
def test_readyz_answers_503_naming_migrations_when_a_migration_is_unapplied(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = SimpleNamespace(app_label="catalog", name="0999_pending")
    monkeypatch.setattr(
        MigrationExecutor, "migration_plan", lambda self, targets, clean_start=False: [(pending, False)]
    )

    status, body = readyz(client)

    assert status == 503
    assert body["failing"] == ["migrations"]
    assert body["checks"]["migrations"]["detail"] == "1 unapplied migration(s): catalog.0999_pending"


@pytest.mark.django_db
@pytest.mark.usefixtures("restore_readiness_checks")
def test_readyz_answers_503_naming_a_registered_check_that_raises(client: Client) -> None:
    def vault() -> tuple[bool, str]:
        raise TimeoutError("vault did not answer")

    health.register_readiness_check("vault", vault)

    status, body = readyz(client)

    assert status == 503
    assert body["failing"] == ["vault"]
    assert body["checks"]["vault"]["ok"] is False
    assert body["checks"]["vault"]["detail"] == "TimeoutError: vault did not answer"


@pytest.mark.django_db
@pytest.mark.usefixtures("restore_readiness_checks")
def test_readyz_answers_503_when_a_registered_check_reports_not_ok(client: Client) -> None:
    health.register_readiness_check("queue", lambda: (False, "backlog of 9000"))

    status, body = readyz(client)

    assert status == 503
    assert body["failing"] == ["queue"]
    assert body["checks"]["queue"]["detail"] == "backlog of 9000"


@pytest.mark.django_db
@pytest.mark.usefixtures("restore_readiness_checks")
def test_readyz_scrubs_credentials_out_of_check_details(client: Client) -> None:
    def broken() -> tuple[bool, str]:
        raise ConnectionError("cannot reach postgres://portal:s3cr3t-pw@db.internal/ecap")

    health.register_readiness_check("replica", broken)

    status, body = readyz(client)

    assert status == 503
    assert "s3cr3t-pw" not in json.dumps(body)
    assert body["checks"]["replica"]["detail"].startswith("ConnectionError: cannot reach postgres://portal:")


@pytest.mark.django_db
@pytest.mark.usefixtures("restore_readiness_checks")
def test_registering_a_check_under_an_existing_name_replaces_it(client: Client) -> None:
    health.register_readiness_check("redis", lambda: (True, "replaced"))

    status, body = readyz(client)

    assert status == 200
    assert body["checks"]["redis"]["detail"] == "replaced"
