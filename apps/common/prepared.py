"""Statements prepared once per PostgreSQL session and executed by name: for a statement of many joins run on every
request, planning costs more than running it, and a prepared statement is planned once per connection."""

from __future__ import annotations

import functools
import hashlib
import weakref
from typing import Any

from django.db import connection

# Names of the statements prepared on each open database connection (a prepared statement lives as long as its
# session, whatever happens to transactions; a new connection starts with none).
_PREPARED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


@functools.cache
def _prepare(sql: str, types: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The name of the prepared statement for ``sql`` and the PREPARE that makes it (named after its text, so a
    changed statement is never confused with an older one)."""
    for position, (key, _) in enumerate(types, start=1):
        sql = sql.replace(f"%({key})s", f"${position}")
    name = f"ecap_{hashlib.sha256(sql.encode()).hexdigest()[:16]}"
    return name, f"PREPARE {name} ({', '.join(kind for _, kind in types)}) AS {sql}"


def execute_prepared(cursor: Any, sql: str, types: dict[str, str], params: dict[str, Any]) -> None:
    """Execute ``sql`` (``%(name)s`` placeholders; ``types``: each parameter's SQL type, in order) on ``cursor`` as
    a statement prepared on this connection, preparing it the first time."""
    name, prepare = _prepare(sql, tuple(types.items()))
    session = connection.connection
    if name not in _PREPARED.setdefault(session, set()):
        cursor.execute(prepare)
        _PREPARED[session].add(name)
    placeholders = ", ".join(["%s"] * len(types))
    cursor.execute(f"EXECUTE {name} ({placeholders})", [params[key] for key in types])
