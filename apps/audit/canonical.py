"""The canonical form of an event and the chain hash. Changing either breaks every existing chain: never do."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def timestamp_text(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: the same text PostgreSQL's ``to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`` gives."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clean(value: Any) -> Any:
    """JSON-safe, float-free, NUL-free: floats become text so every reader reproduces the same bytes."""
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "")
    return str(value)


def event_document(fields: dict[str, Any]) -> dict[str, Any]:
    """The event as the nested document its payload holds (columns map onto it one to one)."""
    return {
        "occurred_at": timestamp_text(fields["occurred_at"]),
        "actor": {
            "type": fields["actor_type"],
            "id": fields["actor_id"],
            "label": fields["actor_label"],
            "token": fields["actor_token"],
        },
        "ip": fields["ip"],
        "user_agent": fields["user_agent"],
        "request_id": fields["request_id"],
        "action": fields["action"],
        "target": {"type": fields["target_type"], "id": fields["target_id"], "label": fields["target_label"]},
        "changes": fields["changes"],
        "purpose": fields["purpose"],
        "outcome": fields["outcome"],
        "risk": {"score": fields["risk_score"], "factors": fields["risk_factors"]},
        "details": fields["details"],
    }


def canonical_payload(fields: dict[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the exact text the hash covers."""
    return json.dumps(event_document(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(seq: int, prev_hash: str, payload: str) -> str:
    """SHA-256 of ``seq|prev_hash|payload``; PostgreSQL computes the same with sha256(convert_to(…, 'UTF8'))."""
    return hashlib.sha256(f"{seq}|{prev_hash}|{payload}".encode()).hexdigest()
