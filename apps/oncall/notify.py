"""Deliveries: who is paged by which contact method and when, sending them exactly once, throttles, retries with
backoff, and notices that are not pages (hand-off, schedule gaps).

- ``pages_create``: the delivery rows of one notify step (unique per incident, step, attempt, user and contact method,
  inserted with ON CONFLICT DO NOTHING, so a step run twice pages nobody twice);
- ``delivery_send``: claim a due delivery (lease), re-check the incident for pages, throttle, send, record;
- ``sweep_deliveries``: publish what is due (delayed rules, retries, sends whose worker was lost);
- ``notice_send``: a non-page message to every contact method of a user.

A page is sent while the incident row is held FOR SHARE: an acknowledgement (which updates that row) waits for a page
already being sent and every later send sees the acknowledgement, so no page leaves after an acknowledgement commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.common.models import User
from apps.configuration.services import config_get
from apps.incidents.choices import IncidentStatus, TimelineKind
from apps.incidents.models import Incident
from apps.incidents.timeline import timeline_add
from apps.oncall.channels import SMS_LENGTH, ChannelError, Message, channel_send
from apps.oncall.choices import (
    OPEN_DELIVERY_STATUSES,
    ContactKind,
    DeliveryPurpose,
    DeliveryStatus,
    RuleUrgency,
)
from apps.oncall.links import ACK, RESOLVE, link_path
from apps.oncall.models import ContactMethod, Delivery, Escalation, NotificationRule

logger = structlog.get_logger(__name__)

KEY_NAMESPACE = uuid.UUID("6f1f7d0e-3c55-4d1e-9a57-0c2f6b1f5a11")
RETRY_COUNTDOWN_LIMIT = 60  # seconds; longer waits are left to the sweeper (no long Celery countdowns)
SWEEP_LIMIT = 500


# --- who is paged how ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One contact method of one user, paged ``delay_minutes`` after the step runs."""

    user: User
    contact_method: ContactMethod
    delay_minutes: int


@dataclass
class Plan:
    """The targets of a step, and the users who cannot be reached (no contact method or no matching rule)."""

    targets: list[Target] = field(default_factory=list)
    unreachable: list[User] = field(default_factory=list)


def pages_plan(*, users: Iterable[User], urgency: str) -> Plan:
    """Each user's notification rules for the incident's urgency (the shortest delay per contact method); a user with
    no rules at all is paged at once on every enabled contact method."""
    people = [u for u in users if u.is_active]
    ids = [u.pk for u in people]
    rules = (
        NotificationRule.objects.filter(user_id__in=ids, contact_method__enabled=True)
        .filter(urgency__in=[RuleUrgency.ANY, urgency])
        .select_related("contact_method")
        .order_by("delay_minutes", "id")
    )
    has_rules = set(NotificationRule.objects.filter(user_id__in=ids).values_list("user_id", flat=True))
    chosen: dict[int, dict[int, Target]] = {uid: {} for uid in ids}
    by_id = {u.pk: u for u in people}
    for rule in rules:
        per_user = chosen[rule.user_id]
        if rule.contact_method_id not in per_user:  # ordered by delay: the first is the shortest
            per_user[rule.contact_method_id] = Target(by_id[rule.user_id], rule.contact_method, rule.delay_minutes)
    for method in ContactMethod.objects.filter(user_id__in=[i for i in ids if i not in has_rules], enabled=True):
        chosen[method.user_id][method.pk] = Target(by_id[method.user_id], method, 0)
    plan = Plan()
    for person in people:
        found = list(chosen[person.pk].values())
        if found:
            plan.targets.extend(found)
        else:
            plan.unreachable.append(person)
    return plan


def pages_create(
    *,
    incident: Incident,
    escalation: Escalation | None,
    step_index: int,
    attempt: int,
    plan: Plan,
    now: datetime,
) -> list[int]:
    """Insert the page deliveries of a plan (nothing twice); returns the ids of those due now, to send after commit."""
    rows = [
        Delivery(
            purpose=DeliveryPurpose.PAGE,
            incident=incident,
            escalation=escalation,
            step_index=step_index,
            attempt=attempt,
            user=t.user,
            contact_method=t.contact_method,
            kind=t.contact_method.kind,
            dedup_key=f"page:{incident.pk}:{step_index}:{attempt}:{t.user.pk}:{t.contact_method.pk}",
            due_at=now + timedelta(minutes=t.delay_minutes),
        )
        for t in plan.targets
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    due = list(
        Delivery.objects.filter(
            incident=incident,
            purpose=DeliveryPurpose.PAGE,
            step_index=step_index,
            attempt=attempt,
            status=DeliveryStatus.PENDING,
            due_at__lte=now,
        ).values_list("pk", flat=True)
    )
    publish_after_commit(due)
    return due


def publish_after_commit(delivery_ids: list[int]) -> None:
    """Ask a worker to send each delivery once the caller's transaction has committed."""
    if delivery_ids:
        ids = list(delivery_ids)

        def publish() -> None:
            for delivery_id in ids:
                publish_send(delivery_id)

        transaction.on_commit(publish)


def publish_send(delivery_id: int, countdown: float | None = None) -> None:
    """Enqueue one send; never raises (the delivery sweeper sends what was not published)."""
    from apps.oncall.tasks import send_delivery

    try:
        send_delivery.apply_async(args=[delivery_id], countdown=countdown, retry=False)
    except Exception as exc:
        logger.warning("oncall_send_enqueue_failed", delivery_id=delivery_id, error=type(exc).__name__)


# --- what a message says ------------------------------------------------------------------------------------------
def _base_url() -> str:
    return str(config_get("incidents.public_base_url")).rstrip("/")


def incident_links(incident: Incident, user: User) -> dict[str, str]:
    """Absolute URLs of the incident's page (``/oncall/incidents/<id>/``, which needs login), its runbook on that page
    (``#runbook``, if it has one) and the user's signed acknowledge and resolve links."""
    base = _base_url()
    page = base + reverse("oncall:incident", kwargs={"public_id": incident.public_id})
    return {
        "incident_url": page,
        "runbook_url": f"{page}#runbook" if incident.runbook_id is not None else "",
        "ack_url": base + link_path(incident_public_id=incident.public_id, action=ACK, user_public_id=user.public_id),
        "resolve_url": base
        + link_path(incident_public_id=incident.public_id, action=RESOLVE, user_public_id=user.public_id),
    }


def idempotency_key(delivery: Delivery) -> str:
    """A stable key per delivery (the same on every retry) for receivers to drop duplicates; not a database id."""
    return str(uuid.uuid5(KEY_NAMESPACE, delivery.dedup_key))


def _short(prefix: str, title: str, link: str) -> str:
    room = SMS_LENGTH - len(prefix) - len(link) - 2
    if room < 4:
        return link[:SMS_LENGTH]
    shown = title if len(title) <= room else title[: room - 1] + "…"
    return f"{prefix}{shown} {link}".strip()[:SMS_LENGTH]


def page_message(delivery: Delivery, incident: Incident) -> Message:
    """The page: summary (title, priority, service, impact), links to the incident's page and its runbook there, and
    one-click acknowledge and resolve links. An SMS has room for the acknowledge link only (its confirmation page
    links to the incident)."""
    links = incident_links(incident, delivery.user)
    impact = incident.get_impact_display() + (f" — {incident.impact_text}" if incident.impact_text else "")
    context = {"incident": incident, "impact": impact, **links}
    key = idempotency_key(delivery)
    summary = f"[{incident.priority}] {incident.title}"
    text = render_to_string("oncall/email/page.txt", context)
    data = {
        "event": "page",
        "delivery_id": key,
        "incident": {
            "id": str(incident.public_id),
            "title": incident.title,
            "priority": incident.priority,
            "severity": incident.severity,
            "status": incident.status,
            "urgency": incident.urgency,
            "service": incident.service,
            "impact": incident.impact,
            "impact_text": incident.impact_text,
            "triggered_at": incident.triggered_at.isoformat(),
            "url": links["incident_url"],
            "runbook_url": links["runbook_url"] or None,
        },
        "ack_url": links["ack_url"],
        "resolve_url": links["resolve_url"],
    }
    fields = [f"*Priority:* {incident.priority}", f"*Service:* {incident.service or '—'}", f"*Impact:* {impact}"]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary}*\n" + "\n".join(fields)}},
    ]
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "url": links["ack_url"]},
        {"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "url": links["resolve_url"]},
    ]
    if links["runbook_url"]:
        buttons.append(
            {"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": links["runbook_url"]}
        )
    buttons.append({"type": "button", "text": {"type": "plain_text", "text": "Incident"}, "url": links["incident_url"]})
    blocks.append({"type": "actions", "elements": buttons})
    return Message(
        subject=summary,
        text=text,
        short=_short(f"{incident.priority} ", incident.title, "ACK " + links["ack_url"]),
        data=data,
        html=render_to_string("oncall/email/page.html", context),
        slack_blocks=blocks,
    )


def notice_message(delivery: Delivery) -> Message:
    """A notice (hand-off, gap, test): the subject and body it was created with."""
    payload = dict(delivery.payload)
    subject, body = str(payload.pop("subject", "")), str(payload.pop("body", ""))
    key = idempotency_key(delivery)
    return Message(
        subject=subject,
        text=f"{subject}\n\n{body}".strip(),
        short=f"{subject}: {body}"[:SMS_LENGTH],
        data={"event": delivery.purpose, "delivery_id": key, "subject": subject, "body": body, "payload": payload},
    )


# --- sending ------------------------------------------------------------------------------------------------------
def _incident_status_shared(incident_id: int) -> str | None:
    """The incident's status, holding its row FOR SHARE until commit (an acknowledgement waits for this send). SQLite
    (the embedded single-machine mode) has no row locks, so there a page can still cross an acknowledgement."""
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM incidents_incident WHERE id = %s{lock}", [incident_id])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def _throttled(delivery: Delivery, moment: datetime) -> str:
    """Why the contact method is over its limit ('' if it is not); locks the contact method while sending."""
    limits = config_get("oncall.throttles") or {}
    limit = limits.get(delivery.kind)
    if not limit:
        return ""
    # Serialise sends to one contact method so two workers cannot both take the last place in the window.
    ContactMethod.objects.select_for_update().filter(pk=delivery.contact_method_id).values_list("pk").first()
    since = moment - timedelta(minutes=int(limit["minutes"]))
    sent = Delivery.objects.filter(
        contact_method_id=delivery.contact_method_id, status=DeliveryStatus.SENT, sent_at__gt=since
    ).count()
    if sent < int(limit["count"]):
        return ""
    kind = ContactKind(delivery.kind).label
    return (
        f"throttled: {sent} messages already sent to this {kind} contact method in the last {limit['minutes']} "
        f"minutes (limit {limit['count']})"
    )


def _user_label(delivery: Delivery) -> str:
    return delivery.user.get_username()


def _note(delivery: Delivery, message: str, status: str) -> None:
    if delivery.purpose == DeliveryPurpose.PAGE and delivery.incident is not None:
        timeline_add(
            incident=delivery.incident,
            kind=TimelineKind.PAGED,
            message=message,
            data={"status": status, "kind": delivery.kind, "step": delivery.step_index, "attempt": delivery.attempt},
        )


def _finish(delivery: Delivery, status: str, error: str = "", http_status: int | None = None) -> None:
    delivery.status, delivery.lease_until = status, None
    delivery.last_error = error[:500]
    delivery.response_status = http_status
    delivery.save(update_fields=["status", "lease_until", "last_error", "response_status", "sent_at", "due_at"])


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Send one due delivery exactly once (unless the endpoint fails and it is retried); returns it as recorded, or
    None when there was nothing to do (not due, already sent, or being sent by another worker)."""
    moment = now or timezone.now()
    lease = timedelta(seconds=int(config_get("oncall.step_lease_seconds")))
    max_tries = int(config_get("oncall.delivery_max_tries"))
    with transaction.atomic():
        claimed = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status__in=OPEN_DELIVERY_STATUSES, due_at__lte=moment)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=moment))
            .first()
        )
        if claimed is None:
            return None
        if claimed.tries >= max_tries:  # a send whose worker was lost, for the last time
            claimed.status, claimed.lease_until = DeliveryStatus.FAILED, None
            claimed.last_error = f"gave up after {claimed.tries} tries (the sending worker was lost)"
            claimed.save(update_fields=["status", "lease_until", "last_error"])
            return claimed
        claimed.status, claimed.lease_until, claimed.tries = DeliveryStatus.SENDING, moment + lease, claimed.tries + 1
        claimed.save(update_fields=["status", "lease_until", "tries"])
        tries = claimed.tries
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("contact_method", "user", "incident", "incident__runbook")
            .filter(pk=delivery_id, status=DeliveryStatus.SENDING, tries=tries)
            .first()
        )
        if delivery is None:
            return None  # the lease ran out and another worker took it over
        return _send_locked(delivery, moment, max_tries)


def _send_locked(delivery: Delivery, moment: datetime, max_tries: int) -> Delivery:
    who = f"{_user_label(delivery)} by {ContactKind(delivery.kind).label}"
    if delivery.purpose == DeliveryPurpose.PAGE:
        status = _incident_status_shared(delivery.incident_id) if delivery.incident_id else None
        if status != IncidentStatus.TRIGGERED:
            _finish(delivery, DeliveryStatus.CANCELLED, f"not sent: the incident is {status or 'gone'}")
            return delivery
    if not delivery.contact_method.enabled:
        _finish(delivery, DeliveryStatus.CANCELLED, "not sent: the contact method was disabled")
        return delivery
    reason = _throttled(delivery, moment)
    if reason:
        _finish(delivery, DeliveryStatus.THROTTLED, reason)
        _note(delivery, f"Page to {who} throttled: {reason.removeprefix('throttled: ')}.", DeliveryStatus.THROTTLED)
        logger.warning("oncall_delivery_throttled", delivery_id=delivery.pk, kind=delivery.kind)
        return delivery
    if delivery.purpose == DeliveryPurpose.PAGE and delivery.incident is not None:
        message = page_message(delivery, delivery.incident)
    else:
        message = notice_message(delivery)
    try:
        sent = channel_send(
            kind=delivery.kind,
            address=delivery.contact_method.address,
            secret=delivery.contact_method.secret,
            message=message,
            idempotency_key=idempotency_key(delivery),
        )
    except ChannelError as exc:
        return _failed(delivery, exc, moment, max_tries, who)
    delivery.sent_at = moment
    _finish(delivery, DeliveryStatus.SENT, http_status=sent.status)
    logger.info("oncall_delivery_sent", delivery_id=delivery.pk, kind=delivery.kind, purpose=delivery.purpose)
    return delivery


def _failed(delivery: Delivery, exc: ChannelError, moment: datetime, max_tries: int, who: str) -> Delivery:
    if exc.retryable and delivery.tries < max_tries:
        wait = int(config_get("oncall.delivery_backoff_seconds")) * 2 ** (delivery.tries - 1)
        delivery.due_at = moment + timedelta(seconds=wait)
        _finish(delivery, DeliveryStatus.RETRYING, f"try {delivery.tries}: {exc.reason}", exc.status)
        if wait <= RETRY_COUNTDOWN_LIMIT:
            delivery_id = delivery.pk
            transaction.on_commit(lambda: publish_send(delivery_id, countdown=wait))
        logger.warning("oncall_delivery_retrying", delivery_id=delivery.pk, kind=delivery.kind, tries=delivery.tries)
        return delivery
    _finish(delivery, DeliveryStatus.FAILED, f"try {delivery.tries}: {exc.reason}", exc.status)
    _note(delivery, f"Page to {who} failed after {delivery.tries} tries: {exc.reason}.", DeliveryStatus.FAILED)
    logger.warning("oncall_delivery_failed", delivery_id=delivery.pk, kind=delivery.kind, tries=delivery.tries)
    return delivery


def sweep_deliveries(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Publish every delivery that is due and not being sent (delayed rules, retries, lost sends); returns how many."""
    moment = now or timezone.now()
    due = list(
        Delivery.objects.filter(status__in=OPEN_DELIVERY_STATUSES, due_at__lte=moment)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=moment))
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        publish_send(delivery_id)
    return len(due)


def deliveries_cancel(*, incident: Incident, reason: str) -> int:
    """Cancel every page of the incident not yet sent (inside the caller's transaction); returns how many."""
    return Delivery.objects.filter(
        incident=incident, purpose=DeliveryPurpose.PAGE, status__in=OPEN_DELIVERY_STATUSES
    ).update(status=DeliveryStatus.CANCELLED, lease_until=None, last_error=f"cancelled: {reason}"[:500])


# --- notices ------------------------------------------------------------------------------------------------------
def notice_send(
    *, user: User, purpose: str, subject: str, body: str, dedup_key: str, payload: dict[str, Any] | None = None
) -> list[Delivery]:
    """Send a notice that is not a page (hand-off, gap) to the user's enabled contact methods, once per
    ``dedup_key``: e-mail, Slack and webhooks; SMS only when the user has nothing else. Returns the deliveries."""
    if purpose == DeliveryPurpose.PAGE or purpose not in DeliveryPurpose.values:
        raise ValueError(f"purpose must be a notice purpose, not {purpose!r}")
    methods = list(ContactMethod.objects.filter(user=user, enabled=True).order_by("kind", "id"))
    chosen = [m for m in methods if m.kind != ContactKind.SMS] or methods
    now = timezone.now()
    content = {**(payload or {}), "subject": subject[:300], "body": body[:2000]}
    keys = {m.pk: f"{purpose}:{dedup_key}:{m.pk}"[:200] for m in chosen}
    Delivery.objects.bulk_create(
        [
            Delivery(
                purpose=purpose,
                user=user,
                contact_method=m,
                kind=m.kind,
                dedup_key=keys[m.pk],
                due_at=now,
                payload=content,
            )
            for m in chosen
        ],
        ignore_conflicts=True,
    )
    deliveries = list(Delivery.objects.filter(dedup_key__in=keys.values()).order_by("id"))
    publish_after_commit([d.pk for d in deliveries if d.status == DeliveryStatus.PENDING])
    return deliveries
