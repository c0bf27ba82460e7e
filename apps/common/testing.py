"""Test helpers shared by every app's tests: query counting for list endpoints, waiting for a worker, and pointing
this process's task publisher at another broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext


def count_queries(func: Callable[[], Any], using: str = DEFAULT_DB_ALIAS) -> tuple[int, Any]:
    """Run ``func`` and return (number of SQL queries it made, its result)."""
    with CaptureQueriesContext(connections[using]) as ctx:
        result = func()
    return len(ctx.captured_queries), result


def assert_queries_constant(
    fetch: Callable[[], Any], grow: Callable[[int], Any], *, small: int = 2, large: int = 12
) -> int:
    """Assert that ``fetch`` makes as many queries with ``large`` rows as with ``small`` (no N+1); returns the count.

    ``grow(n)`` must add ``n`` more rows to what ``fetch`` reads.
    """
    grow(small)
    fetch()  # warm up: first-use writes (token last use, sessions) are not what is measured
    few, _ = count_queries(fetch)
    grow(large - small)
    many, response = count_queries(fetch)
    if many != few:
        with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as ctx:
            fetch()
        sql = "\n".join(q["sql"] for q in ctx.captured_queries)
        raise AssertionError(f"query count grew from {few} to {many} with {large} rows instead of {small}:\n{sql}")
    status = getattr(response, "status_code", 200)
    if status != 200:
        raise AssertionError(f"fetch answered {status}, not 200")
    return many


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it is true (work of a worker in another process); fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the worker")
        time.sleep(0.2)


def use_broker(url: str) -> None:
    """Point this process's publisher at another broker (fresh connection and producer pools)."""
    from ecap_site.celery import app as celery_app

    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
