"""Privacy services: data subjects found by their identities, and the consent ledger.

Consent is append-only: ``consent_record`` stores the event, then moves the subject's current state for that purpose
only if the event is the latest by the time the subject decided, so events arriving out of order (an import, a
retried API call) never undo a newer decision. ``consent_check`` answers for a purpose from the most specific
decision on it or on a purpose above it (an opt-out of ``marketing`` covers ``marketing.advertising``), and
"restricted" for a subject under restriction (GDPR Art. 18), whatever was consented.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.catalog.models import DataUse
from apps.common.errors import DomainError, NotFound
from apps.common.models import User
from apps.privacy.choices import ConsentAnswer, ConsentDecision, ConsentSource
from apps.privacy.identities import identity_hash, identity_hash_key, identity_normalise
from apps.privacy.models import ConsentEvent, ConsentState, DataSubject, SubjectIdentity

MAX_BATCH = 1000


class ConsentInvalid(DomainError):
    code = "consent_invalid"


@dataclass(frozen=True)
class ConsentIn:
    """One consent decision as received."""

    kind: str
    value: str
    purpose: str
    decision: str
    source: str = ConsentSource.API
    mechanism: str = ""
    notice_version: str = ""
    occurred_at: datetime | None = None
    ip: str = ""
    user_agent: str = ""


# --- subjects ---------------------------------------------------------------------------------------------------
def subject_find(*, kind: str, value: str) -> DataSubject | None:
    """The subject known by this identity, if any."""
    found = SubjectIdentity.objects.filter(kind=kind, value_hash=identity_hash(kind, value)).select_related("subject")
    identity = found.first()
    return identity.subject if identity is not None else None


def subject_for_identity(*, kind: str, value: str) -> DataSubject:
    """The subject known by this identity, created with it the first time (concurrent callers get the same one)."""
    digest = identity_hash(kind, value)
    existing = SubjectIdentity.objects.filter(kind=kind, value_hash=digest).select_related("subject").first()
    if existing is not None:
        return existing.subject
    try:
        with transaction.atomic():
            subject = DataSubject.objects.create()
            SubjectIdentity.objects.create(
                subject=subject, kind=kind, value=identity_normalise(kind, value), value_hash=digest
            )
            return subject
    except IntegrityError:
        return SubjectIdentity.objects.select_related("subject").get(kind=kind, value_hash=digest).subject


def subject_identity_add(*, subject: DataSubject, kind: str, value: str) -> SubjectIdentity:
    """Give a subject another identity; one already known as someone else's is refused."""
    digest = identity_hash(kind, value)
    other = SubjectIdentity.objects.filter(kind=kind, value_hash=digest).first()
    if other is not None:
        if other.subject_id == subject.pk:
            return other
        raise ConsentInvalid(
            "This identity belongs to another subject.", code="identity_taken", fields={"value": ["taken"]}
        )
    return SubjectIdentity.objects.create(
        subject=subject, kind=kind, value=identity_normalise(kind, value), value_hash=digest
    )


def subject_restrict(*, subject: DataSubject, restricted: bool, reason: str = "") -> DataSubject:
    """Restrict (GDPR Art. 18) or lift the restriction of a subject's processing; audited as a change."""
    with transaction.atomic():
        locked = DataSubject.objects.select_for_update().get(pk=subject.pk)
        locked.restricted = restricted
        locked.restricted_at = timezone.now() if restricted else None
        locked.restriction_reason = reason[:2000] if restricted else ""
        locked.save(update_fields=["restricted", "restricted_at", "restriction_reason"])
    return locked


# --- consent ----------------------------------------------------------------------------------------------------
def _purpose(key: str) -> DataUse:
    purpose = DataUse.objects.filter(key=key, is_active=True).first()
    if purpose is None:
        raise ConsentInvalid(f"Unknown data use {key!r}.", fields={"purpose": ["a data use key of the taxonomy"]})
    return purpose


def _ip_hash(ip: str) -> str:
    if not ip:
        return ""
    return hmac.new(identity_hash_key(), f"ip:{ip.strip()}".encode(), hashlib.sha256).hexdigest()


def _check(item: ConsentIn) -> None:
    if item.decision not in ConsentDecision.values:
        raise ConsentInvalid(
            f"Unknown decision {item.decision!r}.", fields={"decision": [", ".join(ConsentDecision.values)]}
        )
    if item.source not in ConsentSource.values:
        raise ConsentInvalid(f"Unknown source {item.source!r}.", fields={"source": [", ".join(ConsentSource.values)]})
    if item.occurred_at is not None and item.occurred_at > timezone.now() + timedelta(minutes=5):
        raise ConsentInvalid("A decision cannot be in the future.", fields={"occurred_at": ["in the future"]})


def consent_record(*, item: ConsentIn, recorded_by: User | None = None) -> ConsentEvent:
    """Append one consent event and move the subject's current state if the event is the latest decision."""
    _check(item)
    purpose = _purpose(item.purpose)
    identity_normalise(item.kind, item.value)
    with transaction.atomic():
        subject = subject_for_identity(kind=item.kind, value=item.value)
        event = ConsentEvent.objects.create(
            subject=subject,
            purpose=purpose,
            decision=item.decision,
            mechanism=item.mechanism[:100],
            notice_version=item.notice_version[:50],
            source=item.source,
            occurred_at=item.occurred_at or timezone.now(),
            ip_hash=_ip_hash(item.ip),
            user_agent=item.user_agent[:300],
            recorded_by=recorded_by,
        )
        state = ConsentState.objects.select_for_update().filter(subject=subject, purpose=purpose).first()
        if state is None:
            try:
                with transaction.atomic():
                    ConsentState.objects.create(
                        subject=subject,
                        purpose=purpose,
                        decision=event.decision,
                        event=event,
                        decided_at=event.occurred_at,
                    )
            except IntegrityError:  # a concurrent first decision: take its row and compare
                state = ConsentState.objects.select_for_update().get(subject=subject, purpose=purpose)
        if state is not None and (event.occurred_at, event.pk) > (state.decided_at, state.event_id):
            state.decision, state.event, state.decided_at = event.decision, event, event.occurred_at
            state.save(update_fields=["decision", "event", "decided_at"])
    return event


def consent_record_many(*, items: Sequence[ConsentIn], recorded_by: User | None = None) -> list[ConsentEvent]:
    """Record a batch, all or nothing; the first bad item is named by its position."""
    if len(items) > MAX_BATCH:
        raise ConsentInvalid(f"At most {MAX_BATCH} decisions per request.", fields={"items": ["too many"]})
    events = []
    with transaction.atomic():
        for position, item in enumerate(items):
            try:
                events.append(consent_record(item=item, recorded_by=recorded_by))
            except DomainError as exc:
                fields = {f"{position}.{name}": problems for name, problems in exc.fields.items()}
                raise ConsentInvalid(f"Item {position}: {exc.detail}", code=exc.code, fields=fields) from exc
    return events


def _ancestors(key: str) -> list[str]:
    """The key and every key above it, most specific first."""
    parts = key.split(".")
    return [".".join(parts[:end]) for end in range(len(parts), 0, -1)]


@dataclass(frozen=True)
class ConsentCheck:
    answer: str
    decided_by: str | None = None
    decided_at: datetime | None = None


def consent_check(*, kind: str, value: str, purpose: str) -> ConsentCheck:
    """May this subject's data be processed for ``purpose``? From the most specific decision on it or above it."""
    _purpose(purpose)
    subject = subject_find(kind=kind, value=value)
    if subject is None:
        return ConsentCheck(ConsentAnswer.UNKNOWN)
    if subject.restricted:
        return ConsentCheck(ConsentAnswer.RESTRICTED, decided_at=subject.restricted_at)
    keys = _ancestors(purpose)
    states = {
        s.purpose.key: s
        for s in ConsentState.objects.filter(subject=subject, purpose__key__in=keys).select_related("purpose")
    }
    for key in keys:
        state = states.get(key)
        if state is None or state.decision == ConsentDecision.ACKNOWLEDGE:
            continue
        answer = ConsentAnswer.GRANTED if state.decision == ConsentDecision.OPT_IN else ConsentAnswer.DENIED
        return ConsentCheck(answer, decided_by=key, decided_at=state.decided_at)
    return ConsentCheck(ConsentAnswer.UNKNOWN)


def consent_history(*, subject: DataSubject) -> QuerySet[ConsentEvent]:
    """Every consent event of a subject, in the order the subject decided."""
    return ConsentEvent.objects.filter(subject=subject).select_related("purpose").order_by("occurred_at", "pk")


def consent_report(*, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Decisions per purpose, decision and day (by when the subject decided)."""
    if until <= since:
        raise ConsentInvalid("until must be after since.", fields={"until": ["after since"]})
    rows = (
        ConsentEvent.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
        .annotate(day=TruncDate("occurred_at"))
        .values("purpose__key", "decision", "day")
        .annotate(count=Count("pk"))
        .order_by("day", "purpose__key", "decision")
    )
    return [
        {"day": r["day"], "purpose": r["purpose__key"], "decision": r["decision"], "count": r["count"]} for r in rows
    ]


def subject_by_public_id(*, public_id: Any) -> DataSubject:
    subject = DataSubject.objects.filter(public_id=public_id).first()
    if subject is None:
        raise NotFound("No such data subject.")
    return subject
