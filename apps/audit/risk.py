"""Risk scoring with transparent factors: each factor adds points, the score is their sum capped at 100.

Factors: the action's own weight, the outcome, the sensitivity of the data touched, the volume read or exported,
off-hours in the actor's time zone, an address never seen for that actor, a burst of recent failures, a role that
does not match the resource, and a purpose that does not match the data.
"""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache

from apps.audit.choices import ActorType, AuditAction, Outcome
from apps.audit.context import AuditContext
from apps.configuration.services import config_get

ACTION_WEIGHT = {
    AuditAction.LOGIN_FAILED: 20,
    AuditAction.EXPORT: 25,
    AuditAction.PERMISSION_CHANGE: 25,
    AuditAction.TOKEN_CREATE: 10,
    AuditAction.READ: 5,
    AuditAction.PURGE: 20,
}
OUTCOME_WEIGHT = {Outcome.DENIED: 20, Outcome.FAILED: 15}
SEEN_IPS_KEEP = 50


@dataclass(frozen=True)
class Sensitivity:
    """How sensitive a kind of object is and for which purposes reading it is expected."""

    points: int
    purposes: frozenset[str] = frozenset()


# Kinds of objects by sensitivity; other apps extend this with register_sensitivity().
SENSITIVITY: dict[str, Sensitivity] = {}


def register_sensitivity(target_type: str, points: int, purposes: set[str] | None = None) -> None:
    """Declare how sensitive reading or changing ``target_type`` is, and the purposes that justify reading it."""
    SENSITIVITY[target_type] = Sensitivity(points, frozenset(purposes or ()))


def _volume_points(rows: int) -> int:
    if rows > 10_000:
        return 30
    if rows > 1_000:
        return 20
    if rows > 100:
        return 10
    return 0


def _off_hours(moment: datetime, time_zone: str) -> bool:
    try:
        local = moment.astimezone(zoneinfo.ZoneInfo(time_zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = moment
    start, end = config_get("audit.offhours_start"), config_get("audit.offhours_end")
    hour = local.hour
    return hour >= start or hour < end if start > end else start <= hour < end


def _new_ip(context: AuditContext) -> bool:
    """Whether this actor was never seen from this address (remembered in the cache, checked in the log on a miss)."""
    if not context.ip or context.actor_type not in (ActorType.USER, ActorType.SERVICE, ActorType.TOKEN):
        return False
    key = f"audit:ips:{context.actor_id}"
    seen: list[str] | None = cache.get(key)
    if seen is None:
        from apps.audit.models import AuditEvent

        seen = list(
            AuditEvent.objects.filter(actor_id=context.actor_id)
            .exclude(ip="")
            .values_list("ip", flat=True)
            .distinct()[:SEEN_IPS_KEEP]
        )
    is_new = context.ip not in seen
    if is_new:
        seen = [context.ip, *seen][:SEEN_IPS_KEEP]
    cache.set(key, seen, 30 * 24 * 3600)
    return is_new


def _failure_subjects(context: AuditContext) -> list[str]:
    return [s for s in (f"actor:{context.actor_id or context.actor_label}", f"ip:{context.ip}") if not s.endswith(":")]


def note_failure(context: AuditContext, moment: datetime) -> None:
    """Count a failed or denied action towards the hourly burst of its actor and address."""
    bucket = moment.strftime("%Y%m%d%H")
    for subject in _failure_subjects(context):
        key = f"audit:fail:{subject}:{bucket}"
        if not cache.add(key, 1, 2 * 3600):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, 2 * 3600)


def _recent_failures(context: AuditContext, moment: datetime) -> int:
    bucket = moment.strftime("%Y%m%d%H")
    counts = [cache.get(f"audit:fail:{s}:{bucket}", 0) for s in _failure_subjects(context)]
    return max(counts, default=0)


def _role_mismatch(context: AuditContext, target_type: str) -> bool:
    if context.actor_type != ActorType.USER or not context.actor_id or "." not in target_type:
        return False
    from apps.common.models import User
    from apps.common.roles import ROLE_RULES

    app_label = target_type.split(".", 1)[0]
    try:
        public_id = uuid.UUID(context.actor_id)
    except ValueError:
        return False  # not one of our users (a service name, an external identity)
    user = User.objects.filter(public_id=public_id).prefetch_related("groups").first()
    if user is None or user.is_superuser:
        return False
    for group in user.groups.all():
        rules = ROLE_RULES.get(group.name, {})
        if "*" in rules or app_label in rules or any(t.startswith(f"{app_label}.") for t in rules):
            return False
    return True


def score(
    *,
    context: AuditContext,
    action: str,
    outcome: str,
    target_type: str,
    moment: datetime,
    rows: int = 0,
    extra: dict[str, int] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The risk score of an event and the factors that made it."""
    factors: dict[str, Any] = dict(extra or {})
    if action in ACTION_WEIGHT:
        factors[f"action:{action}"] = ACTION_WEIGHT[AuditAction(action)]
    if outcome in OUTCOME_WEIGHT:
        factors[f"outcome:{outcome}"] = OUTCOME_WEIGHT[Outcome(outcome)]
    sensitivity = SENSITIVITY.get(target_type)
    if sensitivity is not None and sensitivity.points:
        factors["sensitivity"] = sensitivity.points
    if _volume_points(rows):
        factors["volume"] = _volume_points(rows)
    human = context.actor_type in (ActorType.USER, ActorType.TOKEN, ActorType.ANONYMOUS)
    if human and _off_hours(moment, context.time_zone):
        factors["off_hours"] = 15
    if _new_ip(context):
        factors["new_ip"] = 15
    if outcome != Outcome.SUCCESS or action == AuditAction.LOGIN_FAILED:
        note_failure(context, moment)
    if human and _recent_failures(context, moment) >= 3:
        factors["failure_burst"] = 20
    if action in (AuditAction.READ, AuditAction.EXPORT, AuditAction.PERMISSION_CHANGE) and _role_mismatch(
        context, target_type
    ):
        factors["role_mismatch"] = 20
    if action in (AuditAction.READ, AuditAction.EXPORT) and sensitivity is not None and sensitivity.purposes:
        purpose = context.purpose
        if not purpose:
            factors["purpose_missing"] = 10
        elif purpose not in sensitivity.purposes:
            factors["purpose_mismatch"] = 15
    total = sum(v for v in factors.values() if isinstance(v, int) and not isinstance(v, bool))
    return min(100, total), factors
