"""Impact analysis: the lineage graph around a dataset or a field, N hops upstream, downstream or both.

One SQL statement answers it: a recursive CTE per direction walks the current edges (``UNION`` on (node, hops), so
a cycle cannot loop: a node is revisited at most once per hop count, and the walk stops at the depth), keeps each
node at its smallest hop count, applies the node limit (lowest hops first), and returns the nodes with their catalog
names and the edges between them with their job, in one result. The same SQL runs on PostgreSQL and SQLite.

The walk itself is capped too: at ``(node limit + 1) * (depth + 1)`` rows a direction stops walking, which still
yields more than ``node limit`` distinct nodes (a node appears at most once per hop count), so the answer is marked
truncated whenever the cap was reached.

The graph API's answer comes from ``lineage_graph_document``: on PostgreSQL one prepared statement walks breadth first
a whole hop at a time (each node expanded once, the edges followed being the answer's edges) and also builds the JSON
(nodes, edges, owners), because turning a hub's tens of thousands of rows into Python dicts and encoding them cost far
more than the walk; SQLite keeps the portable path through ``lineage_graph``. Both answer the same nodes and edges
(only a truncated answer may keep different nodes of its last hop: the lowest ids of the whole hop, where the
portable walk keeps the lowest of those it reached before its cap).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.catalog.models import Dataset
from apps.common.prepared import execute_prepared
from apps.lineage.graph_index import graph_index_document, owner_tables, usable_graph_index

DEFAULT_DEPTH = 3
MAX_DEPTH = 20
NODE_LIMIT = 20_000
DIRECTIONS = ("upstream", "downstream", "both")
OWNER_PERMISSIONS = ("own_dataset", "steward_dataset")


@dataclass(frozen=True)
class GraphRoot:
    """Where a walk starts: a catalog dataset, or one of its fields."""

    node_id: int
    public_id: str
    namespace: str
    name: str
    field: str | None

    @property
    def is_field(self) -> bool:
        return self.field is not None


@dataclass
class Graph:
    """A walk's result, shaped like the API answer."""

    root: GraphRoot
    direction: str
    depth: int
    truncated: bool = False
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    downstream_datasets: dict[int, str] = field(default_factory=dict)  # catalog id → "namespace/name"


def graph_root(*, namespace: str, name: str, field_name: str | None = None) -> GraphRoot | None:
    """The dataset (or its field) a walk starts from, or None when the catalog does not know it (one query; written
    in SQL, as composing it through the ORM costs more than running it)."""
    with connection.cursor() as cursor:
        if field_name is None:
            cursor.execute(
                "SELECT id, public_id FROM catalog_dataset WHERE namespace = %s AND name = %s", [namespace, name]
            )
        else:
            cursor.execute(
                "SELECT f.id, f.public_id FROM catalog_field f JOIN catalog_dataset d ON d.id = f.dataset_id "
                "WHERE d.namespace = %s AND d.name = %s AND f.name = %s",
                [namespace, name, field_name],
            )
        found = cursor.fetchone()
    if found is None:
        return None
    return GraphRoot(found[0], _public(found[1]), namespace, name, field_name)


def _walk_ctes(*, edge_table: str, direction: str, node_limit: int | None) -> str:
    """The common table expressions of one walk, ending with ``kept(node, hops, side)``: the nodes reached, nearest
    first, at most ``node_limit + 1`` of them (one more than answered, so truncation shows); parameters: root, depth,
    then the walk and node limits."""
    walks = []
    for side, near, far in (("downstream", "source_id", "target_id"), ("upstream", "target_id", "source_id")):
        if direction not in (side, "both"):
            walks.append(f"{side}_nodes(node, hops) AS (SELECT CAST(NULL AS BIGINT), 0 WHERE 1 = 0)")
            continue
        cap = " LIMIT %(walk_limit)s" if node_limit is not None else ""
        walks.append(
            f"{side}_walk(node, hops) AS ("  # noqa: S608 - fixed identifiers only; values are parameters
            f"SELECT CAST(%(root)s AS BIGINT), 0 UNION "
            f"SELECT e.{far}, w.hops + 1 FROM {side}_walk w JOIN {edge_table} e ON e.{near} = w.node "
            f"WHERE w.hops < %(depth)s), "
            f"{side}_capped(node, hops) AS (SELECT node, hops FROM {side}_walk{cap}), "
            f"{side}_nodes(node, hops) AS (SELECT node, MIN(hops) FROM {side}_capped "
            f"WHERE node <> %(root)s GROUP BY node)"
        )
    limit = " LIMIT %(node_limit)s" if node_limit is not None else ""
    return (
        f"WITH RECURSIVE {', '.join(walks)}, nodes(node, hops, side) AS ("  # noqa: S608
        "SELECT node, hops, 'downstream' FROM downstream_nodes "
        "UNION ALL SELECT node, hops, 'upstream' FROM upstream_nodes "
        "WHERE node NOT IN (SELECT node FROM downstream_nodes) "
        "UNION ALL SELECT CAST(%(root)s AS BIGINT), 0, 'root'), "
        f"kept(node, hops, side) AS (SELECT node, hops, side FROM nodes ORDER BY hops, node{limit})"
    )


def _walk_sql(*, edge_table: str, direction: str, node_limit: int | None) -> str:
    """The statement for one walk; parameters: root, depth (per direction), then the walk and node limits."""
    if edge_table == "lineage_fieldedge":
        node_columns = "CAST(f.public_id AS TEXT), d.namespace, d.name, f.name, d.id"
        node_from = "kept k JOIN catalog_field f ON f.id = k.node JOIN catalog_dataset d ON d.id = f.dataset_id"
        edge_columns = "e.transformation_type, e.transformation_subtype, CAST(e.masking AS INTEGER)"
    else:
        node_columns = "CAST(d.public_id AS TEXT), d.namespace, d.name, CAST(NULL AS TEXT), d.id"
        node_from = "kept k JOIN catalog_dataset d ON d.id = k.node"
        edge_columns = "CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS INTEGER)"
    # Only identifiers chosen above from fixed strings are formatted in; every value is a parameter. The statement
    # is wrapped in a plain SELECT so it reads as the read it is (a bare WITH may write, and would be sent with the
    # audit context first; a server-side cursor for the export allows only one statement).
    return (
        f"SELECT * FROM ({_walk_ctes(edge_table=edge_table, direction=direction, node_limit=node_limit)} "  # noqa: S608
        f"SELECT 'n', k.node, CAST(NULL AS BIGINT), k.hops, k.side, {node_columns}, "
        f"CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS INTEGER) FROM {node_from} "
        "UNION ALL "
        "SELECT 'e', e.source_id, e.target_id, CAST(NULL AS INTEGER), CAST(NULL AS TEXT), "
        f"CAST(NULL AS TEXT), j.namespace, j.name, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), {edge_columns} "
        f"FROM {edge_table} e JOIN kept s ON s.node = e.source_id JOIN kept t ON t.node = e.target_id "
        "LEFT JOIN lineage_job j ON j.id = e.job_id "
        "WHERE (s.side IN ('root', 'downstream') AND t.side IN ('root', 'downstream')) "
        "OR (t.side IN ('root', 'upstream') AND s.side IN ('root', 'upstream'))"
        ") AS graph ORDER BY 1 DESC"
    )


def _params(root: GraphRoot, depth: int, node_limit: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"root": root.node_id, "depth": depth}
    if node_limit is not None:
        params["walk_limit"] = (node_limit + 1) * (depth + 1)
        params["node_limit"] = node_limit + 1
    return params


def _public(value: Any) -> str:
    """A UUID column as text: PostgreSQL gives the canonical form, SQLite 32 hex digits."""
    return str(uuid.UUID(str(value)))


def lineage_graph(*, root: GraphRoot, direction: str, depth: int, node_limit: int | None = None) -> Graph:
    """The nodes within ``depth`` hops of ``root`` in ``direction`` and the edges between them (at most
    ``node_limit`` nodes, default ``NODE_LIMIT``, the nearest first; ``truncated`` says some were left out)."""
    node_limit = node_limit or NODE_LIMIT
    table = "lineage_fieldedge" if root.is_field else "lineage_datasetedge"
    graph = Graph(root=root, direction=direction, depth=depth)
    with connection.cursor() as cursor:
        cursor.execute(
            _walk_sql(edge_table=table, direction=direction, node_limit=node_limit),
            _params(root, depth, node_limit),
        )
        rows = cursor.fetchall()
    public: dict[int, str] = {}
    node_rows = [row for row in rows if row[0] == "n"]
    if len(node_rows) > node_limit:
        graph.truncated = True
        node_rows.sort(key=lambda r: (r[3], r[1]))
        node_rows = node_rows[:node_limit]
    for _, node, _, hops, side, public_id, namespace, name, field_name, dataset_id, *_ in node_rows:
        public[node] = _public(public_id)
        graph.nodes.append(
            {
                "id": public[node],
                "type": "field" if root.is_field else "dataset",
                "namespace": namespace,
                "name": name,
                "field": field_name,
                "hops": hops,
                "side": side,
            }
        )
        if side == "downstream":
            graph.downstream_datasets[dataset_id] = f"{namespace.rstrip('/')}/{name}"
    graph.nodes.sort(key=lambda n: (n["hops"], n["side"], n["namespace"], n["name"], n["field"] or ""))
    for row in rows:
        source, target, job_ns, job_name, t_type, t_subtype, masking = (
            row[1], row[2], row[6], row[7], row[10], row[11], row[12]
        )  # fmt: skip
        if row[0] != "e" or source not in public or target not in public:
            continue
        graph.edges.append(
            {
                "source": public[source],
                "target": public[target],
                "job": f"{job_ns}/{job_name}" if job_name is not None else None,
                "transformation": (
                    {"type": t_type, "subtype": t_subtype, "masking": bool(masking)} if t_type is not None else None
                ),
            }
        )
    return graph


def lineage_graph_rows(*, root: GraphRoot, direction: str, depth: int) -> Iterator[tuple[Any, ...]]:
    """Every node and edge of the walk, without a node limit, streamed from the database (for the CSV export):
    ``("node", id, type, namespace, name, field, hops, side, "", "", "", "", "", "")`` rows first, then
    ``("edge", "", "", "", "", "", "", "", source, target, job, type, subtype, masking)`` rows."""
    table = "lineage_fieldedge" if root.is_field else "lineage_datasetedge"
    kind = "field" if root.is_field else "dataset"
    public: dict[int, str] = {}
    with connection.chunked_cursor() as cursor:
        cursor.execute(_walk_sql(edge_table=table, direction=direction, node_limit=None), _params(root, depth, None))
        while batch := cursor.fetchmany(2000):
            for row in batch:
                if row[0] == "n":
                    _, node, _, hops, side, public_id, namespace, name, field_name, *_ = row
                    public[node] = _public(public_id)
                    yield ("node", public[node], kind, namespace, name, field_name or "", hops, side) + ("",) * 6
                else:
                    source, target, job_ns, job_name, t_type, t_subtype, masking = (
                        row[1], row[2], row[6], row[7], row[10], row[11], row[12]
                    )  # fmt: skip
                    job = f"{job_ns}/{job_name}" if job_name is not None else ""
                    yield ("edge",) + ("",) * 7 + (
                        public[source], public[target], job, t_type or "", t_subtype or "",
                        "" if masking is None else str(bool(masking)).lower(),
                    )  # fmt: skip


def dataset_owners(*, datasets: dict[int, str]) -> list[dict[str, Any]]:
    """Owners and stewards (django-guardian object permissions, directly or through a group) of the datasets
    (catalog id → "namespace/name"), each with the datasets they hold; two queries whatever the number of datasets."""
    if not datasets:
        return []
    content_type = ContentType.objects.get_for_model(Dataset)
    object_pks = [str(pk) for pk in datasets]
    user_rows = UserObjectPermission.objects.filter(
        content_type=content_type, permission__codename__in=OWNER_PERMISSIONS, object_pk__in=object_pks
    ).values_list("user__username", "user__display_name", "user__email", "object_pk")
    group_rows = GroupObjectPermission.objects.filter(
        content_type=content_type,
        permission__codename__in=OWNER_PERMISSIONS,
        object_pk__in=object_pks,
        group__user__is_active=True,
    ).values_list("group__user__username", "group__user__display_name", "group__user__email", "object_pk")
    holders: dict[str, tuple[str, str]] = {}
    held: dict[str, set[str]] = defaultdict(set)
    for username, display_name, email, object_pk in [*user_rows, *group_rows]:
        holders[username] = (display_name, email)
        held[username].add(datasets[int(object_pk)])
    return [
        {
            "username": username,
            "display_name": holders[username][0],
            "email": holders[username][1],
            "datasets": sorted(held[username]),
        }
        for username in sorted(holders)
    ]


def _frontier_walk(*, side: str, edge_table: str) -> str:
    """One direction's walk for the graph API, breadth first, a whole hop per step: each row holds the nodes first
    reached at that hop (``frontier``), every node reached so far (``seen``), whether the node limit left some of the
    hop's nodes out (``cut``) and the edges followed out of the previous hop's nodes (``eid``, ``src``, ``tgt``,
    ``job``: parallel arrays).

    Each node is expanded once, with one index probe, and the edges the walk follows are the answer's edges, so
    nothing is looked up twice. The nodes of the last hop (at the depth, or where the node limit stopped the walk)
    are expanded once more without taking new nodes, for the edges between them and nodes already reached. The node
    limit (the root included) applies during the walk: a hop that would pass it keeps its lowest ids. Parameters:
    root, depth, limit."""
    near = "source_id" if side == "downstream" else "target_id"
    far = "y.tgt" if side == "downstream" else "y.src"
    empty = "CAST('{}' AS BIGINT[])"
    room = "%(limit)s - cardinality(w.seen)"
    frontier = (
        f"CASE WHEN cardinality(x.fresh) <= {room} THEN x.fresh "  # noqa: S608 - no values formatted in
        f"ELSE (ARRAY(SELECT n FROM unnest(x.fresh) AS n ORDER BY n))[:{room}] END"
    )
    return (
        f"{side}_walk(hops, frontier, seen, cut, eid, src, tgt, job) AS ("  # noqa: S608 - fixed identifiers only
        f"SELECT 0, ARRAY[CAST(%(root)s AS BIGINT)], ARRAY[CAST(%(root)s AS BIGINT)], FALSE, {empty}, {empty}, "
        f"{empty}, {empty} UNION ALL "
        f"SELECT w.hops + 1, {frontier}, w.seen || {frontier}, cardinality(x.fresh) > {room}, "
        f"x.eid, x.src, x.tgt, x.job FROM {side}_walk w CROSS JOIN LATERAL ("
        "SELECT CASE WHEN w.hops < %(depth)s THEN ARRAY("
        f"SELECT t FROM unnest({far}) AS t EXCEPT SELECT s FROM unnest(w.seen) AS s) ELSE {empty} END AS fresh, y.* "
        "FROM (SELECT array_agg(e.id) AS eid, array_agg(e.source_id) AS src, array_agg(e.target_id) AS tgt, "
        f"array_agg(e.job_id) AS job FROM {edge_table} e WHERE e.{near} = ANY(w.frontier)) AS y "
        # OFFSET 0 keeps the subquery whole, so the new nodes are worked out once, not once per use.
        "OFFSET 0) AS x WHERE cardinality(w.frontier) > 0), "
        f"{side}_nodes(node, hops) AS (SELECT f.node, w.hops FROM {side}_walk w "
        "CROSS JOIN unnest(w.frontier) AS f(node) WHERE w.hops > 0), "
        f"{side}_edges(id, source, target, job) AS (SELECT e.id, e.source, e.target, e.job FROM {side}_walk w "
        "CROSS JOIN unnest(w.eid, w.src, w.tgt, w.job) AS e(id, source, target, job))"
    )


def _json_text(*members: tuple[str, str, str]) -> str:
    """SQL that writes one JSON object as text by concatenation, several times cheaper per row than aggregating
    records: ``(name, value, how)`` per member, where ``how`` is ``"json"`` (an expression giving the member's JSON
    text), ``"quoted"`` (an expression whose text goes in quotes as it is: only for values that never need escaping,
    such as UUIDs and fixed words) or ``"constant"`` (the value is fixed JSON text, written once into the SQL)."""
    arguments = []
    pending = "{"
    for index, (name, value, how) in enumerate(members):
        pending += ("," if index else "") + f'"{name}":'
        if how == "constant":
            pending += value
            continue
        pending += '"' if how == "quoted" else ""
        arguments += [f"'{pending}'", value]
        pending = '"' if how == "quoted" else ""
    arguments.append(f"'{pending}}}'")
    return f"concat({', '.join(arguments)})"


@functools.cache
def _document_sql(*, edge_table: str, direction: str) -> str:
    """The statement that answers the graph API as one JSON text on PostgreSQL: the walk (``_frontier_walk`` per
    direction), the node limit, the nodes in the API's order, the edges between the answered nodes and the owners of
    the downstream datasets.

    Building the answer in the database is what keeps a hub fast: tens of thousands of rows turned into dicts, sorted
    and JSON-encoded in Python cost far more than the walk itself. Nodes and edges are written as JSON text by
    concatenation (``to_json`` escapes the strings), several times cheaper per row than aggregating records, and the
    nodes are sorted on one text key (hop, side, namespace, name, field, the parts joined with U+0001) rather than
    five: the same order unless a name itself holds that control character. Parameters: root, depth, limit (the node
    limit), the root's fields, ``direction``, ``content_type`` and ``codenames``."""
    user_table, groups_table, permission_table, user_perms, group_perms = owner_tables()
    if edge_table == "lineage_fieldedge":
        kind = "field"
        node_columns = "f.public_id, d.namespace, d.name, f.name, d.id"
        node_from = "kept k JOIN catalog_field f ON f.id = k.node JOIN catalog_dataset d ON d.id = f.dataset_id"
        field_member = ("field", "to_json(n.field)", "json")
        edge_join = "JOIN lineage_fieldedge fe ON fe.id = e.id "
        transformation = (
            "CASE WHEN fe.transformation_type IS NULL THEN 'null' ELSE CAST(json_build_object('type', "
            "fe.transformation_type, 'subtype', fe.transformation_subtype, 'masking', COALESCE(fe.masking, FALSE)) "
            "AS TEXT) END"
        )
        transformation_member = ("transformation", "l.transformation", "json")
        # Text is ordered with the "C" collation, code point order, as Python sorts strings (the portable path).
        node_order = "chr(65 + n.hops) || left(n.side, 1) || n.namespace || chr(1) || n.name || chr(1) || n.field"
    else:
        kind = "dataset"
        node_columns = "d.public_id, d.namespace, d.name, CAST(NULL AS TEXT), d.id"
        node_from = "kept k JOIN catalog_dataset d ON d.id = k.node"
        field_member = ("field", "null", "constant")
        edge_join = ""
        transformation = "CAST(NULL AS TEXT)"
        transformation_member = ("transformation", "null", "constant")
        node_order = "chr(65 + n.hops) || left(n.side, 1) || n.namespace || chr(1) || n.name"
    sides = [side for side in ("downstream", "upstream") if direction in (side, "both")]
    root = "SELECT CAST(%(root)s AS BIGINT), 0, 'root'"
    if direction == "both":
        nodes = (
            "SELECT node, hops, 'downstream' FROM downstream_nodes UNION ALL SELECT node, hops, 'upstream' "
            "FROM upstream_nodes WHERE node NOT IN (SELECT node FROM downstream_nodes)"
        )
        # An edge between nodes on both sides (in a cycle through the root) is followed by both walks.
        edges = "SELECT * FROM downstream_edges UNION SELECT * FROM upstream_edges"
        same_side = (
            "WHERE (s.side IN ('root', 'downstream') AND t.side IN ('root', 'downstream')) "
            "OR (t.side IN ('root', 'upstream') AND s.side IN ('root', 'upstream'))"
        )
        # Each walk kept up to the limit; together they keep the nearest.
        kept = f"SELECT node, hops, side FROM nodes UNION ALL {root} ORDER BY hops, node LIMIT %(limit)s"  # noqa: S608
        truncated = (
            "(SELECT COUNT(*) FROM nodes) >= %(limit)s OR (SELECT bool_or(cut) FROM downstream_walk) "
            "OR (SELECT bool_or(cut) FROM upstream_walk)"
        )
    else:
        # Only the direction's fixed names are formatted in (a choice the serializer checked).
        nodes = f"SELECT node, hops, '{direction}' FROM {direction}_nodes"  # noqa: S608
        edges = f"SELECT * FROM {direction}_edges"  # noqa: S608
        same_side = ""
        kept = f"SELECT node, hops, side FROM nodes UNION ALL {root}"  # noqa: S608
        truncated = f"(SELECT bool_or(cut) FROM {direction}_walk)"  # noqa: S608
    c = 'COLLATE "C"'
    node_json = _json_text(
        ("id", "n.public_id", "quoted"),
        ("type", f'"{kind}"', "constant"),
        ("namespace", "to_json(n.namespace)", "json"),
        ("name", "to_json(n.name)", "json"),
        field_member,
        ("hops", "n.hops", "json"),
        ("side", "n.side", "quoted"),
    )
    edge_json = _json_text(
        ("source", "l.source", "quoted"),
        ("target", "l.target", "quoted"),
        ("job", "COALESCE(CAST(to_json(l.job) AS TEXT), 'null')", "json"),
        transformation_member,
    )
    walks = ", ".join(_frontier_walk(side=side, edge_table=edge_table) for side in sides)
    return (
        f"SELECT doc FROM (WITH RECURSIVE {walks}, "  # noqa: S608 - fixed identifiers only; values are parameters
        f"nodes(node, hops, side) AS ({nodes}), "
        f"kept(node, hops, side) AS ({kept}), "
        f"answered(node, hops, side, public_id, namespace, name, field, dataset_id) AS ("
        f"SELECT k.node, k.hops, k.side, {node_columns} FROM {node_from}), "
        f"edges(id, source, target, job) AS ({edges}), "
        "jobs(id, label) AS (SELECT j.id, j.namespace || '/' || j.name FROM lineage_job j "
        "WHERE j.id IN (SELECT job FROM edges)), "
        f"links(source, target, job, transformation) AS (SELECT s.public_id, t.public_id, j.label, {transformation} "
        "FROM edges e JOIN answered s ON s.node = e.source JOIN answered t ON t.node = e.target "
        f"LEFT JOIN jobs j ON j.id = e.job {edge_join}{same_side}), "
        "downstream(dataset_pk, label) AS (SELECT DISTINCT CAST(dataset_id AS TEXT), "
        "RTRIM(namespace, '/') || '/' || name FROM answered WHERE side = 'downstream'), "
        "holds(user_id, label) AS ("
        f"SELECT p.user_id, w.label FROM {user_perms} p JOIN {permission_table} a ON a.id = p.permission_id "
        "JOIN downstream w ON w.dataset_pk = p.object_pk "
        "WHERE p.content_type_id = %(content_type)s AND a.codename = ANY(%(codenames)s) "
        f"UNION SELECT m.user_id, w.label FROM {group_perms} p JOIN {permission_table} a ON a.id = p.permission_id "
        f"JOIN {groups_table} m ON m.group_id = p.group_id JOIN {user_table} u ON u.id = m.user_id AND u.is_active "
        "JOIN downstream w ON w.dataset_pk = p.object_pk "
        "WHERE p.content_type_id = %(content_type)s AND a.codename = ANY(%(codenames)s)), "
        "held(user_id, datasets) AS ("
        f"SELECT user_id, json_agg(label ORDER BY label {c}) FROM holds GROUP BY user_id) "
        "SELECT concat('{\"root\":', CAST(json_build_object('id', CAST(%(root_id)s AS TEXT), "
        f"'type', '{kind}', 'namespace', CAST(%(root_namespace)s AS TEXT), 'name', CAST(%(root_name)s AS TEXT), "
        "'field', CAST(%(root_field)s AS TEXT)) AS TEXT), "
        "',\"direction\":', to_json(CAST(%(direction)s AS TEXT)), ',\"depth\":', CAST(%(depth)s AS INTEGER), "
        f"',\"truncated\":', CASE WHEN {truncated} THEN 'true' ELSE 'false' END, "
        f"',\"nodes\":[', (SELECT string_agg({node_json}, ',' ORDER BY ({node_order}) {c}) FROM answered n), "
        f"'],\"edges\":[', (SELECT string_agg({edge_json}, ',') FROM links l), "
        "'],\"owners\":', COALESCE(CAST((SELECT json_agg(json_build_object('username', u.username, "
        f"'display_name', u.display_name, 'email', u.email, 'datasets', h.datasets) ORDER BY u.username {c}) "
        f"FROM held h JOIN {user_table} u ON u.id = h.user_id) AS TEXT), '[]'), '}}') AS doc) AS graph"
    )


def lineage_graph_document(*, root: GraphRoot, direction: str, depth: int) -> bytes:
    """The graph API's answer as JSON bytes: root, direction, depth, truncated, nodes (at most ``NODE_LIMIT``, the
    nearest first), the edges between them and the owners of the downstream datasets.

    On PostgreSQL a dataset's graph comes from the in-memory index when it is current (``graph_index``), otherwise
    one statement builds the whole document and the bytes pass straight through; elsewhere (SQLite, the embedded
    mode) the portable walk and owner lookup build it in Python."""
    if connection.vendor != "postgresql":
        graph = lineage_graph(root=root, direction=direction, depth=depth)
        document = {
            "root": _root_document(root),
            "direction": graph.direction,
            "depth": graph.depth,
            "truncated": graph.truncated,
            "nodes": graph.nodes,
            "edges": graph.edges,
            "owners": dataset_owners(datasets=graph.downstream_datasets),
        }
        return json.dumps(document, separators=(",", ":")).encode()
    if not root.is_field and (index := usable_graph_index()) is not None:
        answer = graph_index_document(
            index,
            root_id=root.node_id,
            root_document=json.dumps(_root_document(root), ensure_ascii=False).encode(),
            direction=direction,
            depth=depth,
            limit=NODE_LIMIT,
            owner_permissions=list(OWNER_PERMISSIONS),
        )
        if answer is not None:
            return answer
    table = "lineage_fieldedge" if root.is_field else "lineage_datasetedge"
    params: dict[str, Any] = {
        "root": root.node_id,
        "depth": depth,
        "limit": NODE_LIMIT,
        "root_id": root.public_id,
        "root_namespace": root.namespace,
        "root_name": root.name,
        "root_field": root.field,
        "direction": direction,
        "content_type": ContentType.objects.get_for_model(Dataset).pk,
        "codenames": list(OWNER_PERMISSIONS),
    }
    sql = _document_sql(edge_table=table, direction=direction)
    with connection.cursor() as cursor:
        if direction == "both":
            # Planned for its values every time: after five runs PostgreSQL may switch a prepared statement to a
            # generic plan, and for both directions that plan joins the edges to the nodes in a nested loop, which
            # takes minutes from a large hub instead of a second.
            cursor.execute(sql, params)
        else:
            execute_prepared(cursor, sql, _DOCUMENT_PARAMETERS, params)
        row = cursor.fetchone()
    return str(row[0]).encode()


# The document statement runs prepared, once per database session: for most datasets planning it costs more than
# running it. Its parameters, in order, with their types.
_DOCUMENT_PARAMETERS = {
    "root": "bigint",
    "depth": "integer",
    "limit": "integer",
    "root_id": "text",
    "root_namespace": "text",
    "root_name": "text",
    "root_field": "text",
    "direction": "text",
    "content_type": "integer",
    "codenames": "text[]",
}


def _root_document(root: GraphRoot) -> dict[str, Any]:
    """The ``root`` member of the graph API's answer."""
    return {
        "id": root.public_id,
        "type": "field" if root.is_field else "dataset",
        "namespace": root.namespace,
        "name": root.name,
        "field": root.field,
    }
