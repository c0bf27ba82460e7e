"""Incident lifecycle actions: acknowledge, unacknowledge, resolve, silence, reassign, escalate now, merge, postmortem.

Each runs in one transaction, locks the incident, appends to the timeline and sends its signal after commit. The
incident row is audited by the capture triggers (the acting user comes from the request's audit context).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.incidents import signals
from apps.incidents.choices import IncidentStatus, PostmortemStatus, Priority, TimelineKind
from apps.incidents.models import Incident, Postmortem
from apps.incidents.timeline import timeline_add

MAX_SILENCE = timedelta(days=7)
POSTMORTEM_PRIORITIES = (Priority.P1, Priority.P2)


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update(of=("self",)).select_related("integration").get(pk=incident.pk)


def _send_after_commit(signal: Any, incident: Incident, **extra: Any) -> None:
    incident_id = incident.pk
    transaction.on_commit(lambda: signal.send(sender=Incident, incident_id=incident_id, **extra))


def _require_open(incident: Incident) -> None:
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"Incident #{incident.pk} is resolved.", code="incident_resolved")


def incident_acknowledge(*, incident: Incident, actor: User) -> Incident:
    """Someone has it: stops escalation. The first acknowledgement is what MTTA measures."""
    with transaction.atomic():
        incident = _locked(incident)
        _require_open(incident)
        if incident.status == IncidentStatus.ACKNOWLEDGED:
            raise Conflict(f"Incident #{incident.pk} is already acknowledged.", code="already_acknowledged")
        now = timezone.now()
        incident.status, incident.silenced_until = IncidentStatus.ACKNOWLEDGED, None
        incident.acknowledged_at = incident.acknowledged_at or now
        incident.acknowledged_by = actor
        incident.save(update_fields=["status", "silenced_until", "acknowledged_at", "acknowledged_by", "updated_at"])
        timeline_add(incident=incident, kind=TimelineKind.ACKNOWLEDGED, message="Acknowledged.", actor=actor)
        _send_after_commit(signals.incident_acknowledged, incident)
    return incident


def incident_unacknowledge(*, incident: Incident, actor: User) -> Incident:
    """Hand it back: the incident is triggered again and escalation resumes."""
    with transaction.atomic():
        incident = _locked(incident)
        if incident.status != IncidentStatus.ACKNOWLEDGED:
            raise Conflict(f"Incident #{incident.pk} is not acknowledged.", code="not_acknowledged")
        incident.status = IncidentStatus.TRIGGERED
        incident.save(update_fields=["status", "updated_at"])
        timeline_add(incident=incident, kind=TimelineKind.UNACKNOWLEDGED, message="Unacknowledged.", actor=actor)
        _send_after_commit(signals.incident_unacknowledged, incident)
    return incident


def incident_resolve(*, incident: Incident, actor: User, resolution: str = "") -> Incident:
    """Close the incident by hand."""
    with transaction.atomic():
        incident = _locked(incident)
        _require_open(incident)
        resolve_incident(incident=incident, actor=actor, resolution=resolution or "Resolved by hand.")
    return incident


def resolve_incident(*, incident: Incident, actor: User | None, resolution: str, actor_label: str = "") -> None:
    """Resolve an incident the caller has locked; a P1/P2 gets a draft postmortem."""
    now = timezone.now()
    incident.status, incident.resolved_at, incident.silenced_until = IncidentStatus.RESOLVED, now, None
    incident.resolved_by = actor
    incident.resolution = resolution[:300]
    incident.save(update_fields=["status", "resolved_at", "resolved_by", "silenced_until", "resolution", "updated_at"])
    timeline_add(
        incident=incident, kind=TimelineKind.RESOLVED, message=resolution[:500], actor=actor, actor_label=actor_label
    )
    if incident.priority in POSTMORTEM_PRIORITIES and incident.merged_into_id is None:
        _, created = Postmortem.objects.get_or_create(incident=incident, defaults={"owner": actor})
        if created:
            timeline_add(
                incident=incident,
                kind=TimelineKind.POSTMORTEM,
                message=f"Postmortem required for a {incident.priority} incident (draft opened).",
                actor_label="system",
            )
    _send_after_commit(signals.incident_resolved, incident)


def incident_silence(*, incident: Incident, actor: User, until: datetime) -> Incident:
    """No paging until ``until`` (at most seven days ahead); then it is triggered again if still open."""
    now = timezone.now()
    if until <= now:
        raise DomainError("The silence must end in the future.", code="invalid", fields={"until": ["in the past"]})
    if until - now > MAX_SILENCE:
        raise DomainError("A silence lasts at most seven days.", code="invalid", fields={"until": ["too far ahead"]})
    with transaction.atomic():
        incident = _locked(incident)
        _require_open(incident)
        incident.status, incident.silenced_until = IncidentStatus.SILENCED, until
        incident.save(update_fields=["status", "silenced_until", "updated_at"])
        timeline_add(
            incident=incident,
            kind=TimelineKind.SILENCED,
            message=f"Silenced until {until.isoformat()}.",
            actor=actor,
            data={"until": until.isoformat()},
        )
        _send_after_commit(signals.incident_silenced, incident)
    return incident


def silences_expire(*, now: datetime | None = None) -> int:
    """Silences that ended: back to acknowledged (if it was) or triggered, which pages again."""
    moment = now or timezone.now()
    ended = 0
    for incident_id in Incident.objects.filter(status=IncidentStatus.SILENCED, silenced_until__lte=moment).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            incident = Incident.objects.select_for_update().get(pk=incident_id)
            if incident.status != IncidentStatus.SILENCED or (incident.silenced_until or moment) > moment:
                continue
            back = IncidentStatus.ACKNOWLEDGED if incident.acknowledged_at else IncidentStatus.TRIGGERED
            incident.status, incident.silenced_until = back, None
            incident.save(update_fields=["status", "silenced_until", "updated_at"])
            timeline_add(incident=incident, kind=TimelineKind.UNSILENCED, message=f"Silence ended; {back}.")
            if back == IncidentStatus.TRIGGERED:
                _send_after_commit(signals.incident_triggered, incident)
            ended += 1
    return ended


def incident_reassign(*, incident: Incident, actor: User, assignee: User) -> Incident:
    """Give the incident to someone else (who is then paged by the on-call engine)."""
    with transaction.atomic():
        incident = _locked(incident)
        _require_open(incident)
        incident.assignee = assignee
        incident.save(update_fields=["assignee", "updated_at"])
        timeline_add(
            incident=incident,
            kind=TimelineKind.REASSIGNED,
            message=f"Assigned to {assignee.get_username()}.",
            actor=actor,
            data={"assignee": str(getattr(assignee, "public_id", assignee.pk))},
        )
        _send_after_commit(signals.incident_reassigned, incident, assignee_id=assignee.pk)
    return incident


def incident_escalate(*, incident: Incident, actor: User, reason: str = "") -> Incident:
    """Escalate now: the on-call engine moves to the next step at once."""
    with transaction.atomic():
        incident = _locked(incident)
        _require_open(incident)
        if incident.status == IncidentStatus.ACKNOWLEDGED:
            incident.status = IncidentStatus.TRIGGERED
            incident.save(update_fields=["status", "updated_at"])
        timeline_add(
            incident=incident,
            kind=TimelineKind.ESCALATED,
            message=f"Escalated by hand{': ' + reason[:400] if reason else '.'}",
            actor=actor,
        )
        _send_after_commit(signals.incident_escalate_requested, incident, actor_id=actor.pk)
    return incident


def incident_merge(*, source: Incident, target: Incident, actor: User) -> Incident:
    """Fold ``source`` into ``target``: its alerts move over (same fingerprint: deliveries add up), it resolves."""
    if source.pk == target.pk:
        raise DomainError("An incident cannot be merged into itself.", code="invalid", fields={"into": ["same"]})
    with transaction.atomic():
        first, second = sorted((source.pk, target.pk))
        locked = {i.pk: i for i in Incident.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
        source, target = locked[source.pk], locked[target.pk]
        _require_open(source)
        _require_open(target)
        taken = {a.fingerprint: a for a in target.alerts.all()}
        moved = 0
        for alert in source.alerts.all():
            twin = taken.get(alert.fingerprint)
            if twin is None:
                alert.incident = target
                alert.save(update_fields=["incident"])
            else:
                twin.deliveries = F("deliveries") + alert.deliveries
                twin.save(update_fields=["deliveries"])
                alert.delete()
            moved += 1
        target.alert_count = target.alerts.count()
        target.delivery_count = F("delivery_count") + source.delivery_count
        target.save(update_fields=["alert_count", "delivery_count", "updated_at"])
        source.merged_into = target
        source.alert_count = 0
        source.save(update_fields=["merged_into", "alert_count", "updated_at"])
        resolve_incident(incident=source, actor=actor, resolution=f"Merged into #{target.pk}.")
        timeline_add(
            incident=target,
            kind=TimelineKind.MERGED,
            message=f"#{source.pk} merged in ({moved} alerts).",
            actor=actor,
            data={"source": str(source.public_id)},
        )
        target.refresh_from_db()
    return target


POSTMORTEM_FIELDS = ("summary", "root_cause", "impact", "action_items", "status")


def postmortem_update(*, incident: Incident, actor: User, **changes: Any) -> Postmortem:
    """Write the postmortem of an incident (created on first write); publishing goes on the timeline."""
    unknown = set(changes) - set(POSTMORTEM_FIELDS)
    if unknown:
        raise DomainError("Unknown postmortem fields.", code="invalid", fields={k: ["unknown field"] for k in unknown})
    if "status" in changes and changes["status"] not in PostmortemStatus.values:
        raise DomainError("Unknown postmortem status.", code="invalid", fields={"status": ["unknown status"]})
    with transaction.atomic():
        incident = _locked(incident)
        postmortem, _ = Postmortem.objects.select_for_update().get_or_create(
            incident=incident, defaults={"owner": actor}
        )
        before = postmortem.status
        for name, value in changes.items():
            setattr(postmortem, name, value)
        postmortem.save()
        if postmortem.status != before:
            timeline_add(
                incident=incident,
                kind=TimelineKind.POSTMORTEM,
                message=f"Postmortem {postmortem.status.replace('_', ' ')}.",
                actor=actor,
            )
    return postmortem
