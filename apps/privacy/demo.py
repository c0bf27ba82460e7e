"""Demo data of privacy: consent decisions of a few demo customers (one through a Global Privacy Control signal),
and open data-subject requests at different points of their deadlines."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.privacy.choices import ConsentDecision, ConsentSource, RequestStatus
from apps.privacy.models import ConsentEvent, DataSubjectRequest
from apps.privacy.requests import request_create, request_transition
from apps.privacy.services import ConsentIn, consent_record_many

MARKETING = "marketing.advertising.first_party.targeted"
CONSENTS = (
    ("maria.santos@example.com", MARKETING, ConsentDecision.OPT_IN, ConsentSource.WEB, 40),
    ("maria.santos@example.com", "analytics.reporting", ConsentDecision.OPT_IN, ConsentSource.WEB, 40),
    ("jonas.weber@example.com", MARKETING, ConsentDecision.OPT_IN, ConsentSource.WEB, 30),
    ("jonas.weber@example.com", MARKETING, ConsentDecision.OPT_OUT, ConsentSource.WEB, 3),
    ("emily.chen@example.com", "marketing", ConsentDecision.OPT_OUT, ConsentSource.GPC, 10),
)
REQUESTS = (
    ("jonas.weber@example.com", "gdpr.erasure", "web", "DE", 26, RequestStatus.VERIFIED),
    ("emily.chen@example.com", "ccpa.know", "email", "US-CA", 5, RequestStatus.RECEIVED),
    ("maria.santos@example.com", "gdpr.access", "api", "PT", 2, RequestStatus.IDENTITY_PENDING),
)


def seed() -> list[str]:
    """Idempotent: decisions and requests are added only when there are none yet."""
    now = timezone.now()
    lines = []
    if not ConsentEvent.objects.exists():
        items = [
            ConsentIn(
                kind="email", value=email, purpose=purpose, decision=decision, source=source,
                mechanism="cookie banner" if source == ConsentSource.WEB else "Sec-GPC: 1", notice_version="2026-06",
                occurred_at=now - timedelta(days=days_ago),
            )
            for email, purpose, decision, source, days_ago in CONSENTS
        ]  # fmt: skip
        consent_record_many(items=items)
        lines.append(f"privacy: {len(items)} consent decisions")
    if not DataSubjectRequest.objects.exists():
        for email, request_type, channel, jurisdiction, days_ago, status in REQUESTS:
            request = request_create(
                kind="email",
                value=email,
                request_type=request_type,
                channel=channel,
                jurisdiction=jurisdiction,
                received_at=now - timedelta(days=days_ago),
                details="Please act on my personal data as the law allows.",
            )
            path = [RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED]
            for step in path[: path.index(status) + 1] if status in path else []:
                request = request_transition(request=request, status=step, actor=None)
        lines.append(f"privacy: {len(REQUESTS)} open data-subject requests with their deadlines")
    return lines or ["privacy: demo decisions and requests present"]
