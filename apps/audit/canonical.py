"""The canonical text of an event and the chain hash. Changing either breaks every existing chain: never do.

The canonical text is the event's columns joined by U+001F (which no stored text contains): the time as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, the JSON columns as PostgreSQL renders ``jsonb`` as text, numbers in
decimal. On PostgreSQL the database renders it (``CANONICAL_SQL``) for sealing and verifying alike, so verification
re-derives every event from its columns in one pass; elsewhere ``canonical_text`` renders the same from Python values.
The hash is SHA-256 of ``seq|prev_hash|canonical``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

SEPARATOR = "\x1f"
# The columns the canonical text covers, in order (everything but the id and the seal).
CANONICAL_FIELDS = (
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "actor_token",
    "ip",
    "user_agent",
    "request_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "purpose",
    "outcome",
    "risk_score",
    "risk_factors",
    "details",
)
TEXT_COLUMNS = CANONICAL_FIELDS[1:12]
JSON_FIELDS = ("changes", "risk_factors", "details")
CANONICAL_SQL = """concat_ws(E'\\x1f',
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_type, actor_id, actor_label,
  actor_token, ip, user_agent, request_id, action, target_type, target_id, target_label, changes::text, purpose,
  outcome, risk_score::text, risk_factors::text, details::text)"""


def timestamp_text(moment: datetime) -> str:
    """UTC, microseconds, ``Z`` (PostgreSQL: ``to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clean(value: Any) -> Any:
    """JSON-safe, float-free text: NUL and U+001F removed, floats and other objects as text."""
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "").replace(SEPARATOR, "").encode("utf-8", "replace").decode("utf-8")


def jsonb_text(value: Any) -> str:
    """A JSON value rendered exactly as PostgreSQL renders ``jsonb`` as text (keys by length, then bytes)."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {jsonb_text(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def canonical_text(fields: dict[str, Any]) -> str:
    """The canonical text from Python values (PostgreSQL computes the same with CANONICAL_SQL)."""
    parts = [timestamp_text(fields["occurred_at"])]
    parts += [fields[name] for name in TEXT_COLUMNS]
    parts += [
        jsonb_text(fields["changes"]),
        fields["purpose"],
        fields["outcome"],
        str(fields["risk_score"]),
        jsonb_text(fields["risk_factors"]),
        jsonb_text(fields["details"]),
    ]
    return SEPARATOR.join(parts)


def chain_hash(seq: int, prev_hash: str, canonical: str) -> str:
    """SHA-256 of ``seq|prev_hash|canonical`` (PostgreSQL: sha256(convert_to(…, 'UTF8')))."""
    return hashlib.sha256(f"{seq}|{prev_hash}|{canonical}".encode()).hexdigest()
