"""Alert intake and the incident pipeline. The public surface of the incidents app for other apps.

- ``alert_raise(...)``: the one way to raise an alert from inside the portal (quality, audit, privacy, Spark);
- ``payload_accept`` / ``payload_process`` / ``payloads_sweep``: store first, process in Celery, sweep what was missed;
- lifecycle actions (``incident_acknowledge``, ``incident_resolve``, …) live in ``lifecycle.py`` and are re-exported.

Processing a payload is exactly-once: the payload row is locked and marked processed in the transaction that applies
it, so a duplicate task, a sweep and a redelivery after a worker died all find it done.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.choices import ActorType
from apps.audit.context import AuditContext, acting_as
from apps.common.errors import Conflict, DomainError
from apps.incidents import signals
from apps.incidents.choices import (
    OPEN_STATUSES,
    AlertStatus,
    GroupBy,
    HeartbeatState,
    IncidentStatus,
    IntegrationKind,
    PayloadStatus,
    Severity,
    TimelineKind,
)
from apps.incidents.classification import classify
from apps.incidents.dispatch import dispatch
from apps.incidents.intake import AlertIn, parse_delivery
from apps.incidents.lifecycle import (  # noqa: F401 - re-exported: the app's public surface
    incident_acknowledge,
    incident_escalate,
    incident_merge,
    incident_reassign,
    incident_resolve,
    incident_silence,
    incident_unacknowledge,
    postmortem_update,
    resolve_incident,
    silences_expire,
)
from apps.incidents.matchers import render_template
from apps.incidents.models import Alert, AlertPayload, Incident, Integration, MaintenanceWindow
from apps.incidents.timeline import timeline_add

logger = structlog.get_logger(__name__)

TOKEN_PREFIX = "ecapi_"  # noqa: S105 - the visible prefix of integration tokens, not a secret
INTERNAL_INTEGRATION = "portal"
MAX_ATTEMPTS = 5
SWEEP_AFTER = timedelta(seconds=30)


# --- integrations -----------------------------------------------------------------------------------------------
def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def integration_create(*, kind: str, name: str, created_by: Any = None, **options: Any) -> tuple[Integration, str]:
    """Create an integration; returns it with its secret token (shown once, only its digest is kept)."""
    if kind not in IntegrationKind.values:
        raise DomainError(f"Unknown integration kind {kind!r}.", code="invalid", fields={"kind": ["unknown kind"]})
    if Integration.objects.filter(name=name).exists():
        raise Conflict(f"An integration named {name!r} exists.", fields={"name": ["already exists"]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    integration = Integration.objects.create(
        kind=kind,
        name=name,
        token_digest=token_digest(token),
        token_prefix=token[:12],
        created_by=created_by,
        **options,
    )
    return integration, token


def integration_rotate_token(*, integration: Integration) -> str:
    """Replace the integration's token; the old one stops working at once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    integration.token_digest, integration.token_prefix = token_digest(token), token[:12]
    integration.save(update_fields=["token_digest", "token_prefix"])
    return token


def integration_by_token(token: str, *, kind: str | None = None) -> Integration | None:
    """The enabled integration the token belongs to (of ``kind`` if given), else None."""
    if not token or len(token) > 200:
        return None
    integration = Integration.objects.filter(token_digest=token_digest(token), enabled=True).first()
    if integration is None or (kind is not None and integration.kind != kind):
        return None
    return integration


def internal_integration() -> Integration:
    """The integration of alerts the portal raises itself (created on first use)."""
    found = Integration.objects.filter(kind=IntegrationKind.INTERNAL, name=INTERNAL_INTEGRATION).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return integration_create(
                kind=IntegrationKind.INTERNAL,
                name=INTERNAL_INTEGRATION,
                description="Alerts raised by the portal itself: quality, audit, privacy deadlines, Spark runs.",
                group_by=GroupBy.GROUP_KEY,
            )[0]
    except (IntegrityError, Conflict):
        return Integration.objects.get(kind=IntegrationKind.INTERNAL, name=INTERNAL_INTEGRATION)


# --- intake: store first ----------------------------------------------------------------------------------------
def payload_accept(*, integration: Integration, body: Any, request_id: str = "") -> AlertPayload:
    """Store a (validated) delivery durably, then ask a worker to process it once the row is committed."""
    payload = AlertPayload.objects.create(
        integration=integration, received_at=timezone.now(), body=body, request_id=request_id[:128]
    )
    transaction.on_commit(lambda: dispatch(payload.pk))
    return payload


def payloads_sweep(*, older_than: timedelta = SWEEP_AFTER, limit: int = 500) -> int:
    """Process payloads still pending (broker was down, a worker died): in this process, oldest first."""
    cutoff = timezone.now() - older_than
    ids = list(
        AlertPayload.objects.filter(status=PayloadStatus.PENDING, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for payload_id in ids:
        done += payload_process(payload_id=payload_id)
    return done


# --- processing -------------------------------------------------------------------------------------------------
def payload_process(*, payload_id: int) -> int:
    """Apply one stored payload exactly once; returns 1 if this call processed it, 0 if it was done or taken."""
    try:
        with transaction.atomic():
            payload = (
                AlertPayload.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("integration")
                .filter(pk=payload_id, status=PayloadStatus.PENDING)
                .first()
            )
            if payload is None:
                return 0
            context = AuditContext(
                actor_type=ActorType.SERVICE,
                actor_id=str(payload.integration.public_id),
                actor_label=f"integration:{payload.integration.name}"[:150],
                request_id=payload.request_id,
            )
            with acting_as(context):
                _apply(payload)
            payload.status, payload.processed_at = PayloadStatus.PROCESSED, timezone.now()
            payload.attempts += 1
            payload.save(update_fields=["status", "processed_at", "attempts"])
            return 1
    except Exception as exc:
        _record_failure(payload_id, exc)
        raise


def _record_failure(payload_id: int, exc: Exception) -> None:
    with transaction.atomic():
        payload = AlertPayload.objects.select_for_update().filter(pk=payload_id).first()
        if payload is None or payload.status != PayloadStatus.PENDING:
            return
        payload.attempts += 1
        payload.error = f"{type(exc).__name__}: {str(exc)[:500]}"
        if payload.attempts >= MAX_ATTEMPTS:
            payload.status = PayloadStatus.FAILED
        payload.save(update_fields=["attempts", "error", "status"])
    logger.exception("alert_payload_failed", payload_id=payload_id, attempts=payload.attempts)


def group_key_for(integration: Integration, alert: AlertIn) -> str:
    """The key that groups an alert into an incident, by the integration's setting."""
    if integration.group_by == GroupBy.FINGERPRINT:
        return f"fingerprint:{alert.fingerprint}"
    if integration.group_by == GroupBy.TEMPLATE and integration.group_template:
        return f"template:{render_template(integration.group_template, alert.labels)}"
    return alert.group_key or f"fingerprint:{alert.fingerprint}"


def _apply(payload: AlertPayload) -> None:
    integration = payload.integration
    delivery = parse_delivery(integration.kind, payload.body, now=payload.received_at)
    groups: dict[str, list[AlertIn]] = defaultdict(list)
    for alert in delivery.alerts:
        if integration.kind == IntegrationKind.ALERTMANAGER and alert.name == integration.heartbeat_alertname:
            heartbeat_record(integration=integration, at=payload.received_at)
            continue
        groups[group_key_for(integration, alert)].append(alert)
    for key in sorted(groups):  # a fixed order: two payloads touching the same groups lock them in the same order
        _apply_group(integration, key, groups[key], payload.received_at)


def _group_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _open_incident(integration: Integration, key: str, first: AlertIn, now: datetime) -> tuple[Incident | None, str]:
    """The open incident of the group, locked; reopened or created when an alert fires. ('' | 'created' | 'reopened')"""
    group_hash = _group_hash(key)
    for _ in range(3):
        open_ = Incident.objects.select_for_update().filter(
            integration=integration, group_hash=group_hash, status__in=OPEN_STATUSES
        )
        incident = open_.first()
        if incident is not None:
            return incident, ""
        if first.status != AlertStatus.FIRING:
            return None, ""
        try:
            with transaction.atomic():
                reopened = _reopen(integration, group_hash, now)
                if reopened is not None:
                    return reopened, "reopened"
                return _create(integration, key, group_hash, first, now), "created"
        except IntegrityError:
            continue  # another worker opened it a moment ago: take theirs
    raise Conflict("Could not open an incident for the group; retrying later.")


def _reopen(integration: Integration, group_hash: str, now: datetime) -> Incident | None:
    if not integration.reopen_window_minutes:
        return None
    since = now - timedelta(minutes=integration.reopen_window_minutes)
    incident = (
        Incident.objects.select_for_update()
        .filter(integration=integration, group_hash=group_hash, status=IncidentStatus.RESOLVED, resolved_at__gte=since)
        .filter(merged_into__isnull=True)
        .order_by("-resolved_at")
        .first()
    )
    if incident is None:
        return None
    incident.status, incident.resolved_at, incident.resolved_by, incident.resolution = (
        IncidentStatus.TRIGGERED,
        None,
        None,
        "",
    )
    incident.acknowledged_at = incident.acknowledged_by = None
    incident.save(
        update_fields=["status", "resolved_at", "resolved_by", "resolution", "acknowledged_at", "acknowledged_by"]
    )
    timeline_add(incident=incident, kind=TimelineKind.REOPENED, message="Alert fired again within the reopen window.")
    transaction.on_commit(lambda: signals.incident_triggered.send(sender=Incident, incident_id=incident.pk))
    return incident


def _title(alert: AlertIn) -> str:
    summary = alert.annotations.get("summary", "")
    if summary and summary != alert.name:
        return f"{alert.name}: {summary}"[:300]
    return alert.name[:300]


def _create(integration: Integration, key: str, group_hash: str, first: AlertIn, now: datetime) -> Incident:
    labels = first.labels
    found = classify(integration=integration, labels=labels)
    service = str(labels.get("service", "") or integration.default_service)[:100]
    maintenance = in_maintenance(integration=integration, service=service, at=now)
    incident = Incident.objects.create(
        integration=integration,
        group_key=key,
        group_hash=group_hash,
        title=_title(first),
        service=service,
        labels=labels,
        severity=found.severity,
        priority=found.priority,
        impact=found.impact,
        impact_text=found.impact_text,
        urgency=found.urgency,
        escalation_policy=found.escalation_policy,
        classification_rule=found.rule,
        runbook=found.runbook,
        in_maintenance=maintenance is not None,
        triggered_at=now,
        last_alert_at=now,
    )
    actor = f"integration:{integration.name}"
    timeline_add(incident=incident, kind=TimelineKind.TRIGGERED, message=incident.title, actor_label=actor)
    rule_name = found.rule.name if found.rule else "default (severity label)"
    timeline_add(
        incident=incident,
        kind=TimelineKind.CLASSIFIED,
        message=f"{found.priority} {found.severity}, impact {found.impact}, urgency {found.urgency} by {rule_name}",
        data={
            "rule": found.rule.name if found.rule else None,
            "runbook": found.runbook.slug if found.runbook else None,
            "escalation_policy": found.escalation_policy,
        },
    )
    if maintenance is not None:
        timeline_add(
            incident=incident,
            kind=TimelineKind.MAINTENANCE,
            message=f"During maintenance ({maintenance.reason}): recorded, nobody paged.",
            data={"window": maintenance.pk},
        )
    from apps.incidents.remediation.services import remediation_propose

    remediation_propose(incident=incident)
    if maintenance is None:
        transaction.on_commit(lambda: signals.incident_triggered.send(sender=Incident, incident_id=incident.pk))
    return incident


def in_maintenance(*, integration: Integration, service: str, at: datetime) -> MaintenanceWindow | None:
    """The maintenance window covering this integration and service at ``at``, if any."""
    return (
        MaintenanceWindow.objects.filter(starts_at__lte=at, ends_at__gt=at)
        .filter(Q(integration__isnull=True) | Q(integration=integration))
        .filter(Q(service="") | Q(service=service))
        .order_by("ends_at")
        .first()
    )


def _apply_group(integration: Integration, key: str, alerts: list[AlertIn], now: datetime) -> None:
    firing_first = sorted(alerts, key=lambda a: a.status != AlertStatus.FIRING)
    incident, _how = _open_incident(integration, key, firing_first[0], now)
    if incident is None:
        logger.info("alert_resolved_without_open_incident", integration=integration.name, alerts=len(alerts))
        return
    existing = {a.fingerprint: a for a in incident.alerts.filter(fingerprint__in=[a.fingerprint for a in alerts])}
    for alert in alerts:
        _upsert_alert(incident, existing.get(alert.fingerprint), alert, now)
    incident.alert_count = incident.alerts.count()
    incident.delivery_count = F("delivery_count") + len(alerts)
    incident.last_alert_at = now
    incident.save(update_fields=["alert_count", "delivery_count", "last_alert_at", "updated_at"])
    incident.refresh_from_db(fields=["delivery_count"])
    if (
        integration.resolve_with_alerts
        and incident.is_open
        and not incident.alerts.filter(status=AlertStatus.FIRING).exists()
    ):
        resolve_incident(incident=incident, actor=None, actor_label="system", resolution="All alerts resolved.")


def _upsert_alert(incident: Incident, alert: Alert | None, incoming: AlertIn, now: datetime) -> None:
    if alert is None:
        Alert.objects.create(
            incident=incident,
            fingerprint=incoming.fingerprint,
            name=incoming.name,
            status=incoming.status,
            labels=incoming.labels,
            annotations=incoming.annotations,
            starts_at=incoming.starts_at,
            ends_at=incoming.ends_at,
            generator_url=incoming.generator_url,
            first_received_at=now,
            last_received_at=now,
        )
        kind = TimelineKind.ALERT_RECEIVED if incoming.status == AlertStatus.FIRING else TimelineKind.ALERT_RESOLVED
        timeline_add(
            incident=incident,
            kind=kind,
            message=f"{incoming.name} {incoming.status}",
            actor_label=f"integration:{incident.integration.name}",
            data={"fingerprint": incoming.fingerprint},
        )
        return
    changed = alert.status != incoming.status
    alert.status = incoming.status
    alert.labels, alert.annotations = incoming.labels, incoming.annotations
    alert.ends_at = incoming.ends_at
    if incoming.status == AlertStatus.FIRING and incoming.starts_at > alert.starts_at and changed:
        alert.starts_at = incoming.starts_at
    alert.last_received_at = now
    alert.deliveries += 1
    alert.save()
    if changed:
        kind = TimelineKind.ALERT_RESOLVED if incoming.status == AlertStatus.RESOLVED else TimelineKind.ALERT_RECEIVED
        timeline_add(
            incident=incident,
            kind=kind,
            message=f"{incoming.name} {incoming.status}",
            actor_label=f"integration:{incident.integration.name}",
            data={"fingerprint": incoming.fingerprint},
        )


# --- alerts raised by the portal itself -------------------------------------------------------------------------
def alert_raise(
    *,
    source: str,
    name: str,
    summary: str,
    severity: str = Severity.WARNING,
    dedup_key: str | None = None,
    details: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    service: str = "",
    status: str = AlertStatus.FIRING,
) -> AlertPayload:
    """Raise (or with ``status="resolved"`` resolve) an alert from inside the portal, through the same pipeline.

    The alert is stored in the caller's transaction and processed after it commits; ``dedup_key`` groups repeats.
    """
    description = json.dumps(details, default=str, sort_keys=True)[:5000] if details else ""
    body: dict[str, Any] = {
        "title": summary[:300] or name,
        "severity": severity if severity in Severity.values else Severity.WARNING,
        "status": status,
        "labels": {"alertname": name[:200], "source": source[:100], **(labels or {})},
        "dedup_key": (dedup_key or f"{source}:{name}")[:255],
    }
    if description:
        body["description"] = description
    if service:
        body["service"] = service[:100]
    integration = internal_integration()
    parse_delivery(IntegrationKind.INTERNAL, body, now=timezone.now())  # refuse a bad alert here, not in a worker
    return payload_accept(integration=integration, body=body)


# --- heartbeats -------------------------------------------------------------------------------------------------
def heartbeat_record(*, integration: Integration, at: datetime | None = None) -> None:
    """A heartbeat arrived (Watchdog alert or ping): note it; resolve the missed-heartbeat alert if there was one."""
    moment = at or timezone.now()
    missed = integration.heartbeat_state == HeartbeatState.MISSED
    Integration.objects.filter(pk=integration.pk).update(
        last_heartbeat_at=moment, heartbeat_state=HeartbeatState.HEALTHY
    )
    integration.last_heartbeat_at, integration.heartbeat_state = moment, HeartbeatState.HEALTHY
    if missed:
        alert_raise(
            source="heartbeat",
            name="HeartbeatMissed",
            summary=f"Heartbeat of {integration.name} is back",
            severity=Severity.CRITICAL,
            dedup_key=f"heartbeat:{integration.public_id}",
            status=AlertStatus.RESOLVED,
        )


def heartbeats_check(*, now: datetime | None = None) -> int:
    """Open an incident for every integration whose heartbeat is overdue (once per outage); returns how many."""
    moment = now or timezone.now()
    opened = 0
    candidates = Integration.objects.filter(enabled=True, heartbeat_interval_seconds__isnull=False).exclude(
        heartbeat_state=HeartbeatState.MISSED
    )
    for integration in candidates:
        interval = timedelta(seconds=integration.heartbeat_interval_seconds or 0)
        last = integration.last_heartbeat_at or integration.created_at
        if last + interval > moment:
            continue
        with transaction.atomic():
            updated = Integration.objects.filter(pk=integration.pk).exclude(heartbeat_state=HeartbeatState.MISSED)
            if not updated.update(heartbeat_state=HeartbeatState.MISSED):
                continue
            alert_raise(
                source="heartbeat",
                name="HeartbeatMissed",
                summary=f"No heartbeat from {integration.name} since {last:%Y-%m-%d %H:%M:%S} UTC",
                severity=Severity.CRITICAL,
                dedup_key=f"heartbeat:{integration.public_id}",
                labels={"integration": integration.name, "tier": "platform"},
                details={"interval_seconds": integration.heartbeat_interval_seconds},
            )
        opened += 1
    return opened
