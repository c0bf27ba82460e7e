"""An in-memory index of the dataset-level lineage graph, from which the graph API answers on PostgreSQL.

Even as one prepared statement, a walk from a hub costs the database a few microseconds per node and edge: index
probes, array work, a catalog lookup per node and JSON text per row. A web process that keeps the graph in compact
arrays answers the same question with a handful of vectorised steps per hop and joins JSON fragments prepared once,
which is what keeps hubs with thousands of nodes within the latency budget.

**Shape.** Datasets are numbered densely in id order; edges are held twice in compressed sparse rows (by source
for downstream walks, by target for upstream ones) as numpy arrays, with each dataset's JSON up to its hop count and
each job's label prepared as JSON bytes. At 100,000 datasets and 300,000 edges that is about 25 MB per process.

**Freshness.** The database stays the truth. Triggers record every change that alters an answer (edges added,
removed or re-pointed; a dataset or job renamed) in ``lineage_graphchange`` with the changing transaction's id.
The index is read in one ``REPEATABLE READ`` transaction and keeps that snapshot; before each answer one indexed
query asks whether a change the snapshot could not see is visible now. If one is, or the index is missing or older
than ``LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS``, the answer comes from the database statement
(``apps.lineage.graph``), always current, and a background thread rebuilds the index from committed data in a
connection of its own (at most one build at a time, and none sooner than ``LINEAGE_GRAPH_INDEX_REBUILD_SECONDS``
after the last one started). A change committed while a build runs is newer than the build's snapshot, so it is
caught by the next check: the index never answers with a graph older than what the asking connection sees.

**Same answers.** The walk is the database statement's: breadth first, a node at its smallest hop count, the node
limit applied during the walk (a hop that would pass it keeps its lowest ids; both directions together keep the
nearest, lowest ids first), the edges among the answered nodes on one side, and the nodes in the API's order (hop,
side, namespace, name in code point order). Owners of the downstream datasets are read from the database on every
answer. Field-level graphs, SQLite and an index turned off (``LINEAGE_GRAPH_INDEX``) use the statement.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.catalog.models import Dataset
from apps.common.prepared import execute_prepared

logger = structlog.get_logger(__name__)

MAX_HOPS = 20  # the graph API's maximum depth
SIDES = ("downstream", "root", "upstream")  # the API's order of sides at one hop count
DOWNSTREAM, ROOT, UPSTREAM = range(3)
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class GraphIndex:
    """The dataset graph as read under one snapshot (``xmax``, ``in_progress``: which transactions it could see)."""

    xmax: int
    in_progress: tuple[int, ...]
    built_at: float  # time.monotonic()
    ids: np.ndarray  # dataset ids, ascending: the dense number of a dataset is its position here
    ranks: np.ndarray  # each dataset's position in (namespace, name) order
    prefixes: np.ndarray  # (objects) each dataset's node JSON up to its hop count: b'{"id":"…",…,"hops":'
    quoted: np.ndarray  # (objects) each dataset's id in quotes: b'"<uuid>"'
    down_ptr: np.ndarray  # edges out of dataset i: down_edge[down_ptr[i]:down_ptr[i + 1]]
    down_edge: np.ndarray
    up_ptr: np.ndarray  # edges into dataset i: up_edge[up_ptr[i]:up_ptr[i + 1]]
    up_edge: np.ndarray
    edge_source: np.ndarray  # dense numbers
    edge_target: np.ndarray
    edge_job: np.ndarray  # position in job_labels (0: no job)
    job_tails: np.ndarray  # (objects) the end of an edge's JSON per job: b',"job":"ns/name","transformation":null},'

    @property
    def size(self) -> int:
        return int(self.ids.size)

    def position(self, dataset_id: int) -> int | None:
        """The dense number of a dataset, or None when the index does not hold it."""
        at = int(np.searchsorted(self.ids, dataset_id))
        return at if at < self.ids.size and int(self.ids[at]) == dataset_id else None

    def nbytes(self) -> int:
        """Roughly what the index holds in memory."""
        arrays = (self.ids, self.ranks, self.down_ptr, self.down_edge, self.up_ptr, self.up_edge)
        edges = (self.edge_source, self.edge_target, self.edge_job)
        fragments = sum(len(b) + 41 for column in (self.prefixes, self.quoted, self.job_tails) for b in column)
        return sum(a.nbytes for a in arrays + edges) + fragments


# --- building -----------------------------------------------------------------------------------------------------


def _node_prefix(public_id: Any, namespace: str, name: str) -> bytes:
    return (
        f'{{"id":"{public_id}","type":"dataset","namespace":{json.dumps(namespace, ensure_ascii=False)},'
        f'"name":{json.dumps(name, ensure_ascii=False)},"field":null,"hops":'
    ).encode()


def _objects(values: list[bytes]) -> np.ndarray:
    """A numpy array of bytes objects: gathering from it by an index array runs in C, not a Python loop."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _rows(dense_of: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Compressed sparse rows: for each dataset (dense number), the edges (positions) at that end."""
    order = np.argsort(dense_of, kind="stable")
    pointer = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(dense_of, minlength=count), out=pointer[1:])
    return pointer, order.astype(np.int64)


def graph_index_build() -> GraphIndex | None:
    """Read the dataset graph in one snapshot of committed data, on this thread's connection (never inside a
    transaction of its own caller's: it runs in a thread of its own). None when the graph is larger than
    ``LINEAGE_GRAPH_INDEX_MAX_EDGES``."""
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT CAST(pg_current_snapshot() AS TEXT)")
        _, xmax, in_progress = str(cursor.fetchone()[0]).split(":")
        cursor.execute("SELECT COUNT(*) FROM lineage_datasetedge")
        if int(cursor.fetchone()[0]) > settings.LINEAGE_GRAPH_INDEX_MAX_EDGES:
            return None
        cursor.execute("SELECT id, namespace || '/' || name FROM lineage_job")
        job_rows = cursor.fetchall()
        cursor.execute("SELECT source_id, target_id, COALESCE(job_id, 0) FROM lineage_datasetedge")
        edges = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 3)
        cursor.execute("SELECT id, public_id, namespace, name FROM catalog_dataset ORDER BY id")
        datasets = cursor.fetchall()
    ids = np.fromiter((row[0] for row in datasets), dtype=np.int64, count=len(datasets))
    order = sorted(range(len(datasets)), key=lambda i: datasets[i][2] + "\x01" + datasets[i][3])
    ranks = np.empty(len(datasets), dtype=np.int64)
    ranks[np.array(order, dtype=np.int64)] = np.arange(len(datasets), dtype=np.int64)
    prefixes = _objects([_node_prefix(public_id, namespace, name) for _, public_id, namespace, name in datasets])
    quoted = _objects([f'"{public_id}"'.encode() for _, public_id, _, _ in datasets])
    job_ids = np.array([0] + [row[0] for row in job_rows], dtype=np.int64)
    job_labels = [b"null"] + [json.dumps(label, ensure_ascii=False).encode() for _, label in job_rows]
    job_tails = _objects([b',"job":' + label + b',"transformation":null},' for label in job_labels])
    job_order = np.argsort(job_ids)
    source = np.searchsorted(ids, edges[:, 0])
    target = np.searchsorted(ids, edges[:, 1])
    job = job_order[np.searchsorted(job_ids, edges[:, 2], sorter=job_order)]
    down_ptr, down_edge = _rows(source, ids.size)
    up_ptr, up_edge = _rows(target, ids.size)
    index = GraphIndex(
        xmax=int(xmax),
        in_progress=tuple(int(x) for x in in_progress.split(",") if x),
        built_at=time.monotonic(),
        ids=ids,
        ranks=ranks,
        prefixes=prefixes,
        quoted=quoted,
        down_ptr=down_ptr,
        down_edge=down_edge,
        up_ptr=up_ptr,
        up_edge=up_edge,
        edge_source=source,
        edge_target=target,
        edge_job=job,
        job_tails=job_tails,
    )
    logger.info(
        "lineage_graph_index_built",
        datasets=index.size,
        edges=int(edges.shape[0]),
        seconds=round(time.monotonic() - started, 3),
        megabytes=round(index.nbytes() / 2**20, 1),
    )
    return index


# --- the process's index and its rebuilds --------------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.index: GraphIndex | None = None
        self.lock = threading.Lock()
        self.builder: threading.Thread | None = None
        self.last_start = -float("inf")


_state = _State()


def _build_in_thread() -> None:
    try:
        index = graph_index_build()
        _state.index = index
    except Exception:  # a failed build leaves the statement answering; the next stale answer tries again
        logger.exception("lineage_graph_index_build_failed")
    finally:
        connection.close()  # this thread's own connection


def graph_index_refresh(*, wait: bool = False) -> threading.Thread | None:
    """Start a rebuild in a background thread unless one is running or started too recently (``wait``: start it
    regardless of the interval, and return once it is done). Returns the thread started, if any."""
    with _state.lock:
        running = _state.builder
        if running is not None and running.is_alive():
            thread = None
        elif not wait and time.monotonic() - _state.last_start < settings.LINEAGE_GRAPH_INDEX_REBUILD_SECONDS:
            thread = running = None
        else:
            _state.last_start = time.monotonic()
            thread = running = _state.builder = threading.Thread(
                target=_build_in_thread, name="lineage-graph-index", daemon=True
            )
            thread.start()
    if wait and running is not None:
        running.join()
        if thread is None:  # a build that was already running may have read the graph before the caller's change
            return graph_index_refresh(wait=True)
    return thread


def graph_index_drop() -> None:
    """Forget the index, once a build that is running has finished (tests, and a process that must stop answering
    from it)."""
    with _state.lock:
        running = _state.builder
    if running is not None:
        running.join()
    with _state.lock:
        _state.index = None
        _state.builder = None
        _state.last_start = -float("inf")


def usable_graph_index() -> GraphIndex | None:
    """The index, if it is on, built and young enough (whether a change made it stale is asked with the answer's
    owners, in one query: see ``graph_index_document``). Otherwise None, and a rebuild is started."""
    if not settings.LINEAGE_GRAPH_INDEX or connection.vendor != "postgresql":
        return None
    index = _state.index
    if index is None or time.monotonic() - index.built_at > settings.LINEAGE_GRAPH_INDEX_MAX_AGE_SECONDS:
        graph_index_refresh()
        return None
    return index


# Whether a change the index's snapshot could not see (made by a transaction that had not started or not committed
# when it was taken) is visible now.
_CHANGED = (
    "EXISTS (SELECT 1 FROM lineage_graphchange "
    "WHERE transaction_id >= %(xmax)s OR transaction_id = ANY(%(in_progress)s))"
)


def current_graph_index() -> GraphIndex | None:
    """The index, if it may answer now: usable, with no change since its snapshot that this connection can see.
    Otherwise None, and a rebuild is started."""
    index = usable_graph_index()
    if index is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_CHANGED}", {"xmax": index.xmax, "in_progress": list(index.in_progress)})
        changed = cursor.fetchone()[0]
    if changed:
        graph_index_refresh()
        return None
    return index


# --- answering ---------------------------------------------------------------------------------------------------


def _gather(pointer: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Positions of every row entry of ``nodes`` in a compressed sparse rows array."""
    starts = pointer[nodes]
    lengths = pointer[nodes + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return _EMPTY
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total, dtype=np.int64)


def _walk(
    index: GraphIndex, root: int, depth: int, limit: int, downstream: bool
) -> tuple[np.ndarray, np.ndarray, bool]:
    """One direction's walk: the nodes reached (root excluded), their hop counts, and whether the limit cut a hop."""
    pointer, order, far = (
        (index.down_ptr, index.down_edge, index.edge_target)
        if downstream
        else (index.up_ptr, index.up_edge, index.edge_source)
    )
    reached = np.zeros(index.size, dtype=bool)
    reached[root] = True
    frontier = np.array([root], dtype=np.int64)
    found, hops, seen, cut = [], [], 1, False
    for hop in range(1, depth + 1):
        if frontier.size == 0:
            break
        targets = far[order[_gather(pointer, frontier)]]
        fresh = np.unique(targets[~reached[targets]])
        room = max(limit - seen, 0)
        if fresh.size > room:
            cut, fresh = True, fresh[:room]
        reached[fresh] = True
        seen += int(fresh.size)
        found.append(fresh)
        hops.append(np.full(fresh.size, hop, dtype=np.int64))
        frontier = fresh
    if not found:
        return _EMPTY, _EMPTY, cut
    return np.concatenate(found), np.concatenate(hops), cut


def _answered(index: GraphIndex, root: int, direction: str, depth: int, limit: int) -> tuple[Any, Any, Any, bool]:
    """The answered nodes (dense numbers), their hop counts and sides (codes), and whether the answer is cut."""
    if direction != "both":
        nodes, hops, truncated = _walk(index, root, depth, limit, downstream=direction == "downstream")
        side = np.full(nodes.size, DOWNSTREAM if direction == "downstream" else UPSTREAM, dtype=np.int64)
    else:
        down, down_hops, down_cut = _walk(index, root, depth, limit, downstream=True)
        up, up_hops, up_cut = _walk(index, root, depth, limit, downstream=False)
        only_up = ~np.isin(up, down, assume_unique=True)
        nodes = np.concatenate([down, up[only_up]])
        hops = np.concatenate([down_hops, up_hops[only_up]])
        side = np.concatenate([np.full(down.size, DOWNSTREAM), np.full(int(only_up.sum()), UPSTREAM)])
        truncated = nodes.size >= limit or down_cut or up_cut
        keep = np.lexsort((nodes, hops))[: limit - 1]  # the nearest, lowest ids first; the root takes a place
        nodes, hops, side = nodes[keep], hops[keep], side[keep]
    nodes = np.concatenate([[root], nodes]).astype(np.int64)
    hops = np.concatenate([[0], hops]).astype(np.int64)
    side = np.concatenate([[ROOT], side]).astype(np.int64)
    return nodes, hops, side, bool(truncated)


def _edges(index: GraphIndex, nodes: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The edges (positions) among the answered nodes on one side: out of the root and downstream nodes into root
    and downstream nodes, into the root and upstream nodes from root and upstream nodes."""
    side_of = np.full(index.size, -1, dtype=np.int64)
    side_of[nodes] = side
    out = index.down_edge[_gather(index.down_ptr, nodes[side <= ROOT])]
    far = side_of[index.edge_target[out]]
    into = index.up_edge[_gather(index.up_ptr, nodes[side >= ROOT])]
    near = side_of[index.edge_source[into]]
    found = [out[(far == DOWNSTREAM) | (far == ROOT)], into[(near == UPSTREAM) | (near == ROOT)]]
    return np.unique(np.concatenate(found))


def owner_tables() -> tuple[str, str, str, str, str]:
    """Quoted names of the tables an owner lookup joins: users, users' groups, permissions, and django-guardian's
    user and group object permissions."""
    user = get_user_model()
    quote = connection.ops.quote_name
    return (
        quote(user._meta.db_table),
        quote(user.groups.through._meta.db_table),
        quote(Permission._meta.db_table),
        quote(UserObjectPermission._meta.db_table),
        quote(GroupObjectPermission._meta.db_table),
    )


@functools.cache
def _owners_sql() -> str:
    """The statement that answers, in one round trip, whether the graph changed since the index's snapshot (the
    first row, its last column) and who owns or stewards the downstream datasets (the other rows: username, display
    name, e-mail, namespace, name). The datasets go over as one text parameter, unnested once: thousands of ids cost
    next to nothing that way."""
    user_table, groups_table, permission_table, user_perms, group_perms = owner_tables()
    granted = (
        "p.content_type_id = %(content_type)s AND a.codename = ANY(%(codenames)s) "
        "AND p.object_pk IN (SELECT pk FROM wanted)"
    )
    return (
        "WITH wanted(pk) AS MATERIALIZED (SELECT unnest(string_to_array(%(pks)s, ','))), "  # noqa: S608
        f"grants(user_id, object_pk) AS (SELECT p.user_id, p.object_pk FROM {user_perms} p "
        f"JOIN {permission_table} a ON a.id = p.permission_id WHERE {granted} "
        f"UNION SELECT m.user_id, p.object_pk FROM {group_perms} p JOIN {permission_table} a ON a.id = p.permission_id "
        f"JOIN {groups_table} m ON m.group_id = p.group_id JOIN {user_table} u ON u.id = m.user_id AND u.is_active "
        f"WHERE {granted}) "
        f"SELECT NULL, NULL, NULL, NULL, NULL, {_CHANGED} "
        "UNION ALL SELECT u.username, u.display_name, u.email, d.namespace, d.name, NULL FROM grants g "
        f"JOIN {user_table} u ON u.id = g.user_id JOIN catalog_dataset d ON d.id = CAST(g.object_pk AS BIGINT)"
    )


_OWNERS_PARAMETERS = {
    "pks": "text",
    "content_type": "integer",
    "codenames": "text[]",
    "xmax": "bigint",
    "in_progress": "bigint[]",
}


def _owners(index: GraphIndex, datasets: np.ndarray, codenames: list[str]) -> bytes | None:
    """The owners and stewards (``codenames``) of the downstream datasets (ids) as the API's JSON ``owners``, or
    None when the graph changed since the index's snapshot."""
    with connection.cursor() as cursor:
        params = {
            "pks": ",".join(map(str, datasets.tolist())),
            "content_type": ContentType.objects.get_for_model(Dataset).pk,
            "codenames": codenames,
            "xmax": index.xmax,
            "in_progress": list(index.in_progress),
        }
        execute_prepared(cursor, _owners_sql(), _OWNERS_PARAMETERS, params)
        rows = cursor.fetchall()
    holders: dict[str, tuple[str, str]] = {}
    held: dict[str, set[str]] = {}
    for username, display_name, email, namespace, name, changed in rows:
        if username is None:
            if changed:
                return None
            continue
        holders[username] = (display_name, email)
        held.setdefault(username, set()).add(f"{namespace.rstrip('/')}/{name}")
    owners = [
        {"username": u, "display_name": holders[u][0], "email": holders[u][1], "datasets": sorted(held[u])}
        for u in sorted(holders)
    ]
    return json.dumps(owners, ensure_ascii=False, separators=(",", ":")).encode()


# The end of a node's JSON after its prefix, per (hop count, side): b'2,"side":"downstream"},'.
_SUFFIXES = _objects(
    [f'{hops},"side":"{SIDES[code]}"}},'.encode() for hops in range(MAX_HOPS + 1) for code in range(len(SIDES))]
)


def _interleave(*columns: Any) -> bytes:
    """The bytes of several equally long columns (arrays of bytes objects, or one bytes object for all rows)
    interleaved row by row, joined: the JSON of many rows without a Python loop over them."""
    rows = next(len(c) for c in columns if isinstance(c, np.ndarray))
    flat = np.empty(rows * len(columns), dtype=object)
    for at, column in enumerate(columns):
        flat[at :: len(columns)] = column
    return b"".join(flat.tolist())


def graph_index_document(
    index: GraphIndex,
    *,
    root_id: int,
    root_document: bytes,
    direction: str,
    depth: int,
    limit: int,
    owner_permissions: list[str],
) -> bytes | None:
    """The graph API's answer from the index (as ``lineage_graph_document`` answers it from the database), or None
    when the index does not hold the root (a dataset newer than the index: it has no edges the index lacks) or the
    graph changed since the index's snapshot."""
    root = index.position(root_id)
    if root is None:
        return None
    nodes, hops, side, truncated = _answered(index, root, direction, depth, limit)
    order = np.argsort((hops * len(SIDES) + side) * index.size + index.ranks[nodes], kind="stable")
    ordered = nodes[order]
    node_json = _interleave(index.prefixes[ordered], _SUFFIXES[hops[order] * len(SIDES) + side[order]])[:-1]
    edges = _edges(index, nodes, side)
    edge_json = _interleave(
        b'{"source":',
        index.quoted[index.edge_source[edges]],
        b',"target":',
        index.quoted[index.edge_target[edges]],
        index.job_tails[index.edge_job[edges]],
    )[:-1]
    owners = _owners(index, index.ids[nodes[side == DOWNSTREAM]], owner_permissions)
    if owners is None:  # the graph changed since the index's snapshot: the statement answers, a rebuild starts
        graph_index_refresh()
        return None
    return b"".join(
        [
            b'{"root":',
            root_document,
            b',"direction":',
            json.dumps(direction).encode(),
            b',"depth":',
            str(depth).encode(),
            b',"truncated":',
            b"true" if truncated else b"false",
            b',"nodes":[',
            node_json,
            b'],"edges":[',
            edge_json,
            b'],"owners":',
            owners,
            b"}",
        ]
    )
