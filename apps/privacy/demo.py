"""Demo data of privacy: consent decisions of a few demo customers (one through a Global Privacy Control signal),
open data-subject requests at different points of their deadlines (the verified erasure with its plan built and
approved, ready to run), and the retention rules of the analytics platform."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.catalog.models import DataCategory, Dataset
from apps.common.models import User
from apps.privacy.choices import ConsentDecision, ConsentSource, RequestStatus
from apps.privacy.models import ConsentEvent, DataSubjectRequest, RetentionRule
from apps.privacy.planning import plan_approve, plan_build, plan_item_exclude
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


# (name, dataset or category key, time column, days, action, description): the platform's retention periods.
RETENTION = (
    ("user-events-13-months", "raw/user_events", "event_ts", 395, "delete", "Clickstream is kept 13 months."),
    ("inactive-customers-7-years", "raw/customers", "updated_at", 2555, "anonymise",
     "Customers inactive for 7 years lose their personal fields; the row stays for order history."),
    ("analytics-3-years", "analytics/rfm_segments", "as_of", 1095, "delete", "Analytics outputs are kept 3 years."),
    ("ip-addresses-2-years", "user.device.ip_address", "order_ts", 730, "anonymise",
     "IP addresses of orders are masked after 2 years, wherever the category is found."),
)  # fmt: skip


def seed_retention() -> int:
    """The retention rules, once; returns how many were added."""
    added = 0
    for name, target, column, days, action, description in RETENTION:
        if RetentionRule.objects.filter(name=name).exists():
            continue
        dataset = Dataset.objects.filter(name=target).order_by("pk").first()
        category = None if dataset else DataCategory.objects.filter(key=target).first()
        if dataset is None and category is None:
            continue
        RetentionRule.objects.create(
            name=name, dataset=dataset, category=category, time_field=column, days=days, action=action,
            description=description,
        )  # fmt: skip
        added += 1
    return added


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
        officer = User.objects.filter(username="compliance").first() or User.objects.filter(is_superuser=True).first()
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
            officer = (
                User.objects.filter(username="compliance").first() or User.objects.filter(is_superuser=True).first()
            )
            if request_type == "gdpr.erasure" and officer is not None:
                plan = plan_build(request=request, actor=officer)
                reason = "erased by its owner's own deletion process (ticket CRM-1042)"
                for item in plan.items:  # e.g. the CRM export outside the lake
                    if item["action"] == "review":
                        plan_item_exclude(request=request, dataset=item["dataset"], reason=reason, actor=officer)
                plan_approve(request=request, actor=officer)
        lines.append(
            f"privacy: {len(REQUESTS)} open data-subject requests with their deadlines (the erasure ready to run)"
        )
    added = seed_retention()
    if added:
        lines.append(f"privacy: {added} retention rules (the daily cycle dry-runs, then applies them)")
    return lines or ["privacy: demo decisions, requests and retention rules present"]
