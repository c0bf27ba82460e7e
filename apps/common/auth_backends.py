"""Django's model permission backend, with each user's permission set kept in the shared cache across requests.

Every API request checks a model permission, and Django's backend loads the user's permissions afresh for each
request: two joined queries, the biggest fixed cost of an API call after authentication. Here the set is cached per
user with the *generation* of the permission data it was read under, and both come back in one cache round trip.
Any change that can alter a set moves the generation on: a user's groups or permissions, a group's permissions,
a group or permission deleted, migrations run. It moves at once (so the rest of the changing transaction already
reads afresh) and again after commit (so a set read by another request before the commit is never kept). A user
whose superuser flag changed is read afresh too (the flag is stored with the set); an inactive user has none.

Entries expire after ``PERMISSION_CACHE_SECONDS`` whatever happens (a last line for a change made outside the ORM);
0 turns the cache off, as without a shared cache (the embedded mode), where other processes would not see the
generation move. When the cache is unreachable, permissions are read from the database as Django does.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "auth:permissions:generation"


def _user_key(user: Any) -> str:
    """Keyed by the user's public id, never reused, so a restored or recreated database cannot meet a set cached
    for another user of the same primary key."""
    return f"auth:permissions:user:{user.public_id}"


def permissions_generation_advance(action: str = "", **_: Any) -> None:
    """Move the generation on now and once more after the current transaction commits (a signal receiver; of a
    many-to-many change, only its ``post_`` signal)."""
    if not settings.PERMISSION_CACHE_SECONDS or action.startswith("pre_"):
        return
    _advance()
    transaction.on_commit(_advance)


def _advance() -> None:
    with contextlib.suppress(Exception):  # unreachable: entries still expire; the next read may find it back
        cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


class CachedModelBackend(ModelBackend):
    """``ModelBackend`` whose ``get_all_permissions`` reads the shared cache first (see the module)."""

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = self._cached(user_obj)
        return user_obj._perm_cache

    def _cached(self, user_obj: Any) -> set[str]:
        seconds = settings.PERMISSION_CACHE_SECONDS
        if not seconds:
            return self._read(user_obj)
        key = _user_key(user_obj)
        try:
            found = cache.get_many([GENERATION_KEY, key])
        except Exception:  # the cache is down: read from the database
            return self._read(user_obj)
        generation = found.get(GENERATION_KEY)
        if generation is None:  # first use, or the cache was emptied: start a generation
            generation = uuid.uuid4().hex
            with contextlib.suppress(Exception):
                if not cache.add(GENERATION_KEY, generation, timeout=None):
                    generation = cache.get(GENERATION_KEY) or generation
        entry = found.get(key)
        if entry is not None and entry[0] == generation and entry[1] == user_obj.is_superuser:
            return set(entry[2])
        permissions = self._read(user_obj)
        with contextlib.suppress(Exception):
            cache.set(key, (generation, user_obj.is_superuser, sorted(permissions)), timeout=seconds)
        return permissions

    def _read(self, user_obj: Any) -> set[str]:
        return {*self.get_user_permissions(user_obj), *self.get_group_permissions(user_obj)}
