"""Cost of the API stack per request: token authentication, JSON rendering, logging and metrics middleware.

Baseline: ``/healthz`` through the same middleware with no authentication and no database access.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.test import Client

from apps.common.services import api_token_create
from tests.common.factories import UserFactory

REQUESTS = 2000


def per_second(call: Callable[[], object], n: int = REQUESTS) -> float:
    for _ in range(50):
        call()
    started = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - started)


@pytest.mark.django_db
def test_api_request_rate_with_token_auth(bench) -> None:
    user = UserFactory()
    _, raw = api_token_create(user=user, name="bench")
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/common/me/", **headers).status_code == 200

    bench.record("healthz (no auth, no I/O)", per_second(lambda: client.get("/healthz")), "req/s")
    bench.record(
        "GET /api/v1/common/me/ (Bearer token)",
        per_second(lambda: client.get("/api/v1/common/me/", **headers)),
        "req/s",
        baseline="healthz (no auth, no I/O)",
    )
    bench.record(
        "GET /api/v1/common/tokens/ (Bearer token)",
        per_second(lambda: client.get("/api/v1/common/tokens/", **headers)),
        "req/s",
        baseline="healthz (no auth, no I/O)",
    )
