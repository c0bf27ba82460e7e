"""Users' model permission sets cached across requests (``CachedModelBackend``): served without a query once read,
read afresh after every kind of change (groups, group permissions, user permissions, superuser flag, deletions)
at once, never kept from before a commit, read from the database when the cache is down, and off at 0 seconds."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common import auth_backends
from apps.common.auth_backends import GENERATION_KEY

pytestmark = pytest.mark.django_db

GRAPH = "/api/v1/lineage/graph/"


def permission_queries(client: Any) -> tuple[int, int]:
    """The status of a graph request (403 without ``lineage.view_datasetedge``, else 404 for an unknown dataset)
    and how many queries read permissions."""
    with CaptureQueriesContext(connection) as queries:
        status = client.get(GRAPH, {"namespace": "s3://nowhere", "name": "none"}).status_code
    return status, sum('"auth_permission"' in q["sql"] for q in queries.captured_queries)


@pytest.fixture
def reader(token_client) -> tuple[Any, Any]:
    return token_client()


def test_a_read_set_is_served_without_queries(reader) -> None:
    client, user = reader
    user.groups.add(Group.objects.get(name="data_steward"))
    assert permission_queries(client) == (404, 2)
    assert permission_queries(client) == (404, 0)
    assert cache.get(auth_backends._user_key(user))[0] == cache.get(GENERATION_KEY)


def test_every_kind_of_change_applies_at_once(reader) -> None:
    client, user = reader
    steward = Group.objects.get(name="data_steward")
    assert permission_queries(client)[0] == 403
    user.groups.add(steward)
    assert permission_queries(client)[0] == 404
    steward.user_set.remove(user)  # the reverse side of the relation
    assert permission_queries(client)[0] == 403
    view_edges = Permission.objects.get(codename="view_datasetedge")
    user.user_permissions.add(view_edges)
    assert permission_queries(client)[0] == 404
    user.user_permissions.clear()
    assert permission_queries(client)[0] == 403
    custom = Group.objects.create(name="edge readers")
    user.groups.add(custom)
    assert permission_queries(client)[0] == 403
    custom.permissions.add(view_edges)
    assert permission_queries(client)[0] == 404
    custom.delete()  # the memberships go with it, without an m2m signal
    assert permission_queries(client)[0] == 403
    type(user).objects.filter(pk=user.pk).update(is_superuser=True)  # outside the ORM's signals
    assert permission_queries(client)[0] == 404


def test_a_change_moves_the_generation_again_after_commit(reader, django_capture_on_commit_callbacks) -> None:
    _, user = reader
    before = cache.get(GENERATION_KEY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user.groups.add(Group.objects.get(name="auditor"))
    during = cache.get(GENERATION_KEY)
    assert during != before
    assert len(callbacks) == 1
    callbacks[0]()
    assert cache.get(GENERATION_KEY) not in (before, during)


def test_without_the_cache_permissions_come_from_the_database(reader, monkeypatch) -> None:
    client, user = reader
    user.groups.add(Group.objects.get(name="data_steward"))

    def down(*_: Any, **__: Any) -> Any:
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(auth_backends.cache, "get_many", down)
    monkeypatch.setattr(auth_backends.cache, "set", down)
    assert permission_queries(client) == (404, 2)
    user.groups.clear()
    assert permission_queries(client) == (403, 2)


def test_zero_seconds_turns_the_cache_off(reader, settings) -> None:
    settings.PERMISSION_CACHE_SECONDS = 0
    client, user = reader
    user.groups.add(Group.objects.get(name="data_steward"))
    assert permission_queries(client) == (404, 2)
    assert permission_queries(client) == (404, 2)
    assert cache.get(auth_backends._user_key(user)) is None
