"""Writer processes for the audit benchmark: each sets up Django on the benchmark database and appends events."""

from __future__ import annotations

import os
import time
from typing import Any


def write(kind: str, count: int, start_at: float, env: dict[str, str], writer: int) -> tuple[float, float, int]:
    """Append ``count`` events (``plain`` rows, or ``chain`` through audit_record) starting at ``start_at``."""
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from apps.audit.context import AuditContext
    from apps.audit.models import AuditEvent
    from apps.audit.services import audit_record

    context = AuditContext(actor_type="service", actor_id=f"bench-{writer}", actor_label=f"bench-{writer}")
    connection.ensure_connection()
    while time.time() < start_at:
        time.sleep(0.005)
    started = time.time()
    if kind == "chain_batched":
        from django.db import transaction

        for first in range(0, count, 10):
            with transaction.atomic():
                for i in range(first, min(first + 10, count)):
                    audit_record(
                        action="update",
                        target_type="bench.item",
                        target_id=f"{writer}-{i}",
                        changes={"n": {"old": i, "new": i + 1}},
                        context=context,
                    )
        count_done = count
        ended = time.time()
        connection.close()
        return started, ended, count_done
    if kind == "raw":
        import json

        raw = connection.connection
        raw.autocommit = True
        with raw.cursor() as cursor:
            for i in range(count):
                cursor.execute(
                    "INSERT INTO audit_auditevent (occurred_at, actor_type, actor_id, actor_label, actor_token, ip, "
                    "user_agent, request_id, action, target_type, target_id, target_label, changes, purpose, outcome, "
                    "risk_score, risk_factors, details) VALUES (now(), 'service', %s, %s, '', '', '', '', 'update', "
                    "'bench.item', %s, '', %s, '', 'success', 0, '{}', '{}') RETURNING id",
                    [
                        context.actor_id,
                        context.actor_label,
                        f"{writer}-{i}",
                        json.dumps({"n": {"old": i, "new": i + 1}}),
                    ],
                )
                cursor.fetchone()
        ended = time.time()
        connection.close()
        return started, ended, count
    for i in range(count):
        if kind == "plain":
            fields: dict[str, Any] = {
                "occurred_at": timezone.now(),
                "actor_type": "service",
                "actor_id": context.actor_id,
                "actor_label": context.actor_label,
                "actor_token": "",
                "ip": "",
                "user_agent": "",
                "request_id": "",
                "action": "update",
                "target_type": "bench.item",
                "target_id": f"{writer}-{i}",
                "target_label": "",
                "changes": {"n": {"old": i, "new": i + 1}},
                "purpose": "",
                "outcome": "success",
                "risk_score": 0,
                "risk_factors": {},
                "details": {},
            }
            AuditEvent.objects.create(**fields)
        else:
            audit_record(
                action="update",
                target_type="bench.item",
                target_id=f"{writer}-{i}",
                changes={"n": {"old": i, "new": i + 1}},
                context=context,
            )
    ended = time.time()
    connection.close()
    return started, ended, count
