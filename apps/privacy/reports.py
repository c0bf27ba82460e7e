"""Annual request metrics, as CCPA regulations ask businesses to publish them (11 CCR §7102: requests received,
complied with in whole or in part, denied, and the median days to respond, per kind of request) and the same for
GDPR. A request counts in the year it was received; "days to respond" run from receipt to closing, in the
controller's time zone; requests still open count as received only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from statistics import median
from zoneinfo import ZoneInfo

from apps.configuration.services import config_get
from apps.privacy.choices import RequestStatus, RequestType
from apps.privacy.models import DataSubjectRequest


@dataclass(frozen=True)
class TypeMetrics:
    request_type: str
    label: str
    received: int
    complied: int
    denied: int
    cancelled: int
    open: int
    late: int
    median_days: float | None


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def annual_metrics(*, regime: str, year: int) -> list[TypeMetrics]:
    """One row per request type of ``regime`` for requests received in ``year`` (local time)."""
    zone = ZoneInfo(str(config_get("privacy.time_zone")))
    rows = DataSubjectRequest.objects.filter(regime=regime).only(
        "request_type", "status", "received_at", "closed_at", "respond_by_at"
    )
    by_type: dict[str, list[DataSubjectRequest]] = {}
    for request in rows:
        if _local_date(request.received_at, zone).year == year:
            by_type.setdefault(request.request_type, []).append(request)
    out = []
    for value, label in RequestType.choices:
        if not value.startswith(regime + "."):
            continue
        requests = by_type.get(value, [])
        closed = [r for r in requests if r.closed_at is not None and r.status != RequestStatus.CANCELLED]
        days = [(_local_date(r.closed_at, zone) - _local_date(r.received_at, zone)).days for r in closed if r.closed_at]
        out.append(
            TypeMetrics(
                request_type=value,
                label=str(label),
                received=len(requests),
                complied=sum(1 for r in requests if r.status == RequestStatus.COMPLETED),
                denied=sum(1 for r in requests if r.status == RequestStatus.REJECTED),
                cancelled=sum(1 for r in requests if r.status == RequestStatus.CANCELLED),
                open=sum(1 for r in requests if r.closed_at is None),
                late=sum(1 for r in closed if r.closed_at and r.closed_at > r.respond_by_at),
                median_days=float(median(days)) if days else None,
            )
        )
    return out
