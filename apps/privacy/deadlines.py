"""Legal deadlines of data-subject requests (GDPR and CCPA): pure date arithmetic, no models, no database.

Used at intake (to store the deadlines with the request) and by the reminder sweep. Nothing here imports
Django, so the rules can be tested and reused on their own. Public surface: ``deadlines_for``,
``Deadlines``, ``BusinessCalendar``, ``reminder_dates``, ``is_breached``, ``days_left`` and the helpers
``add_months``, ``local_receipt_date`` and ``end_of_local_day``. Bad input raises ``DeadlineInputError``,
a ``DomainError`` (code ``invalid_deadline_input``) that is also a ``ValueError``.

Receipt date and time zone
    Receipt times are aware datetimes. The receipt date is the *local* date of the receipt in the
    controller's IANA time zone (default ``"UTC"``): a request received at 23:30 UTC on 31 January is
    received on 1 February in Europe/Berlin. Every deadline is a local date; its instant is the end of
    that local day, 23:59:59.999999. On a day whose midnight is moved by a DST change (America/Santiago
    turns its clocks back from 24:00 to 23:00) the instant is the *last* 23:59:59.999999, because it is
    computed as one microsecond before the next local midnight.

The day of receipt is never counted
    Every period starts the day after the receipt date (day 0 is the receipt date). "Within 10 business
    days of receipt" ends on the 10th business day after the receipt date; "45 calendar days" ends on
    receipt date + 45 days; "one month" ends on the same date in the next month.

GDPR (Regulation (EU) 2016/679, Art. 12(3)) — access, rectification, erasure, restriction, portability, objection
    The controller responds "without undue delay and in any event within one month of receipt". Months
    are calendar months, counted as Regulation (EEC, Euratom) No 1182/71 counts them, which is how the
    CJEU and the EDPB (Guidelines 01/2022 on the right of access) read Art. 12(3):

    * Art. 3(1): the day of the event (the receipt) is not counted; a period expressed in months ends
      with the expiry of the day in the last month that bears the same date as the day of the event:
      received 9 March → ends 9 April; received 29 February 2024 → ends 29 March 2024.
    * Art. 3(2)(c): if that date does not exist in the last month, the period ends with the last day of
      that month: 31 January 2024 → 29 February 2024 (leap year), 31 January 2025 → 28 February 2025,
      31 August → 30 September. Leap years are the Gregorian ones: 2000 was one, 2100 will not be
      (31 January 2100 → 28 February 2100).
    * Art. 3(4): if the last day is a public holiday, a Saturday or a Sunday, the period ends with the
      expiry of the next working day. "Working day" is whatever the ``BusinessCalendar`` says (its
      weekend and holidays; the controller configures its own public holidays).
    * Art. 3(5): a period of two days or more includes at least two working days. For a month this only
      matters with a calendar made almost entirely of holidays, but it is applied.

    The period may be extended "by two further months where necessary", if the subject is told of the
    extension and its reasons within the first month. The extended period is three months counted from
    the receipt date with the same rules (31 January → 30 April, then moved to the next working day),
    not two months added to the already-moved one-month deadline. ``extension_notice_by`` is the
    one-month deadline: the last day the notice can be sent.

CCPA (Cal. Civ. Code §1798.130(a)(2), §1798.120, §1798.121, §1798.135; CCPA Regulations, 11 CCR §7021, §7026, §7027)
    * Requests to know, to delete and to correct: confirm receipt within 10 business days (§7021(a));
      respond within 45 calendar days of receipt (§1798.130(a)(2)(A), §7021(b): the period begins on the
      day of receipt whatever time verification takes). The business may take 45 more calendar days,
      90 in total from receipt, once, if it tells the consumer, with the reason, within the first 45
      days; ``extension_notice_by`` is therefore the 45th day.
    * Requests to opt out of sale/sharing (§7026(f)) and to limit the use of sensitive personal
      information (§7027(g)): comply as soon as feasibly possible and no later than 15 business days
      from receipt. No acknowledgement is required and there is no extension.
    * "Business day" is Monday to Friday except the holidays in the calendar (11 CCR §7001 points to
      state holidays; configure California's). Calendar-day deadlines are *not* moved off weekends or
      holidays: the CCPA rules count calendar days, and an earlier deadline is the safe reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.common.errors import DomainError

GDPR = "gdpr"
CCPA = "ccpa"

GDPR_REQUEST_TYPES: tuple[str, ...] = ("access", "rectification", "erasure", "restriction", "portability", "objection")
CCPA_REQUEST_TYPES: tuple[str, ...] = ("know", "delete", "correct", "opt_out_sale", "limit_sensitive")

SATURDAY_SUNDAY: frozenset[int] = frozenset({5, 6})
DEFAULT_REMINDER_DAYS: tuple[int, ...] = (7, 3, 1)

_GDPR_BASIS = "GDPR Art. 12(3); periods counted per Regulation (EEC, Euratom) No 1182/71 Art. 3"
_CCPA_REQUEST_BASIS = "Cal. Civ. Code §1798.130(a)(2); CCPA Regulations 11 CCR §7021"
_CCPA_BASIS = {
    "know": _CCPA_REQUEST_BASIS,
    "delete": _CCPA_REQUEST_BASIS,
    "correct": _CCPA_REQUEST_BASIS,
    "opt_out_sale": "Cal. Civ. Code §1798.120, §1798.135; CCPA Regulations 11 CCR §7026(f)",
    "limit_sensitive": "Cal. Civ. Code §1798.121, §1798.135; CCPA Regulations 11 CCR §7027(g)",
}
_CCPA_ACK_BUSINESS_DAYS = 10
_CCPA_RESPONSE_DAYS = 45
_CCPA_EXTENSION_DAYS = 45
_CCPA_OPT_OUT_BUSINESS_DAYS = 15
_CCPA_NOT_EXTENDABLE = frozenset({"opt_out_sale", "limit_sensitive"})


class DeadlineInputError(DomainError, ValueError):
    """Input the deadline rules cannot work with: unknown regime or type, naive datetime, unknown zone, …"""

    code = "invalid_deadline_input"


def _fail(field_name: str, detail: str) -> DeadlineInputError:
    return DeadlineInputError(detail, fields={field_name: [detail]})


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days are working days: every day except the weekend days (``date.weekday()``) and the holidays."""

    holidays: frozenset[date]
    weekend: frozenset[int] = field(default=SATURDAY_SUNDAY)

    def __post_init__(self) -> None:
        # Accept any iterable (a set, a list from configuration) but keep the instance hashable and immutable.
        holidays = frozenset(self.holidays)
        weekend = frozenset(self.weekend)
        for day in holidays:
            # datetime is a subclass of date; a datetime here would never equal a date and be silently ignored.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise _fail("holidays", f"holiday {day!r} is not a date")
        for weekday in weekend:
            if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise _fail("weekend", f"weekend day {weekday!r} is not a weekday number 0 (Monday) to 6 (Sunday)")
        if len(weekend) == 7:
            raise _fail("weekend", "a weekend of all seven days leaves no business days")
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "weekend", weekend)

    @classmethod
    def from_iso_dates(cls, holidays: Iterable[str], weekend: Iterable[int] = SATURDAY_SUNDAY) -> BusinessCalendar:
        """A calendar from holidays written as ISO dates (``"2025-12-25"``), as configuration stores them."""
        if isinstance(holidays, str):
            raise _fail("holidays", "holidays must be a list of ISO dates, not one string")
        parsed = set()
        for text in holidays:
            try:
                parsed.add(date.fromisoformat(text))
            except (TypeError, ValueError):
                raise _fail("holidays", f"holiday {text!r} is not an ISO date (YYYY-MM-DD)") from None
        return cls(holidays=frozenset(parsed), weekend=frozenset(weekend))

    def is_business_day(self, d: date) -> bool:
        """Whether ``d`` is neither a weekend day nor a holiday."""
        return d.weekday() not in self.weekend and d not in self.holidays

    def next_business_day_on_or_after(self, d: date) -> date:
        """``d`` itself if it is a business day, otherwise the first business day after it."""
        while not self.is_business_day(d):
            d += timedelta(days=1)
        return d

    def previous_business_day_on_or_before(self, d: date) -> date:
        """``d`` itself if it is a business day, otherwise the last business day before it."""
        while not self.is_business_day(d):
            d -= timedelta(days=1)
        return d

    def add_business_days(self, d: date, n: int) -> date:
        """The ``n``-th business day after ``d`` (``d`` itself is not counted; ``n == 0`` returns ``d``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise _fail("n", f"number of business days must be a non-negative integer, got {n!r}")
        while n:
            d += timedelta(days=1)
            if self.is_business_day(d):
                n -= 1
        return d


@dataclass(frozen=True)
class Deadlines:
    """The deadlines of one request, as local dates of the controller's zone (see the module docstring)."""

    regime: str
    request_type: str
    received_on: date
    tz: str
    # The deadline in force: the extended one when ``extended`` is true.
    respond_by: date
    respond_by_at: datetime
    # CCPA requests to know/delete/correct only.
    acknowledge_by: date | None
    # Last day to tell the subject about an extension (the unextended deadline); None when it cannot be extended.
    extension_notice_by: date | None
    # The latest possible deadline; equals the unextended one when the request cannot be extended.
    extended_respond_by: date
    extended: bool
    legal_basis: str


def _zone(tz: str) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise _fail("tz", f"time zone must be an IANA name such as 'Europe/Berlin', got {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail("tz", f"unknown time zone {tz!r}") from None


def _require_aware(field_name: str, value: datetime) -> None:
    if not isinstance(value, datetime):
        raise _fail(field_name, f"{field_name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail(field_name, f"{field_name} must be an aware datetime, got a naive one: {value.isoformat()}")


def add_months(d: date, months: int) -> date:
    """The same date ``months`` calendar months later, or that month's last day when it has no such date."""
    if months < 0:
        raise _fail("months", f"months must be non-negative, got {months}")
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    last_day = (first_of_next - timedelta(days=1)).day
    return date(year, month, min(d.day, last_day))


def local_receipt_date(received_at: datetime, tz: str = "UTC") -> date:
    """The date of ``received_at`` on the controller's wall calendar in ``tz``."""
    _require_aware("received_at", received_at)
    return received_at.astimezone(_zone(tz)).date()


def end_of_local_day(d: date, tz: str = "UTC") -> datetime:
    """The last microsecond of local day ``d`` in ``tz``, as an aware datetime in that zone.

    Computed as one microsecond before the next local midnight, so a day whose last hour is repeated by a
    DST change ends after the repeat.
    """
    zone = _zone(tz)
    next_midnight = datetime.combine(d + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return (next_midnight - timedelta(microseconds=1)).astimezone(zone)


def _gdpr_period_end(received_on: date, months: int, calendar: BusinessCalendar) -> date:
    end = calendar.next_business_day_on_or_after(add_months(received_on, months))
    # 1182/71 Art. 3(5): at least two working days, counted from the day after receipt.
    return max(end, calendar.add_business_days(received_on, 2))


def deadlines_for(
    *,
    regime: str,
    request_type: str,
    received_at: datetime,
    calendar: BusinessCalendar,
    tz: str = "UTC",
    extended: bool = False,
) -> Deadlines:
    """The legal deadlines of a data-subject request received at ``received_at`` (rules: module docstring)."""
    if regime == GDPR:
        types = GDPR_REQUEST_TYPES
    elif regime == CCPA:
        types = CCPA_REQUEST_TYPES
    else:
        raise _fail("regime", f"unknown regime {regime!r}; expected one of: {CCPA!r}, {GDPR!r}")
    kind = next((known for known in types if known == request_type), None)
    if kind is None:
        expected = ", ".join(repr(known) for known in types)
        raise _fail("request_type", f"unknown {regime} request type {request_type!r}; expected one of: {expected}")
    received_on = local_receipt_date(received_at, tz)

    acknowledge_by: date | None = None
    extension_notice_by: date | None
    if regime == GDPR:
        unextended = _gdpr_period_end(received_on, 1, calendar)
        extended_respond_by = _gdpr_period_end(received_on, 3, calendar)
        extension_notice_by = unextended
        legal_basis = _GDPR_BASIS
    elif kind in _CCPA_NOT_EXTENDABLE:
        if extended:
            raise _fail("extended", f"a CCPA {kind!r} request cannot be extended")
        unextended = extended_respond_by = calendar.add_business_days(received_on, _CCPA_OPT_OUT_BUSINESS_DAYS)
        extension_notice_by = None
        legal_basis = _CCPA_BASIS[kind]
    else:
        acknowledge_by = calendar.add_business_days(received_on, _CCPA_ACK_BUSINESS_DAYS)
        unextended = received_on + timedelta(days=_CCPA_RESPONSE_DAYS)
        extended_respond_by = unextended + timedelta(days=_CCPA_EXTENSION_DAYS)
        extension_notice_by = unextended
        legal_basis = _CCPA_BASIS[kind]

    respond_by = extended_respond_by if extended else unextended
    return Deadlines(
        regime=regime,
        request_type=kind,
        received_on=received_on,
        tz=tz,
        respond_by=respond_by,
        respond_by_at=end_of_local_day(respond_by, tz),
        acknowledge_by=acknowledge_by,
        extension_notice_by=extension_notice_by,
        extended_respond_by=extended_respond_by,
        extended=extended,
        legal_basis=legal_basis,
    )


def reminder_dates(
    respond_by: date,
    days_before: Iterable[int] = DEFAULT_REMINDER_DAYS,
    *,
    calendar: BusinessCalendar | None = None,
) -> list[date]:
    """The dates ``days_before`` calendar days before ``respond_by``, earliest first, without duplicates.

    With a ``calendar``, a reminder that falls on a non-business day moves to the business day before it
    (earlier, never later), so that someone is at work to act on it.
    """
    dates = set()
    for days in days_before:
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise _fail("days_before", f"reminder offsets must be non-negative integers, got {days!r}")
        reminder = respond_by - timedelta(days=days)
        if calendar is not None:
            reminder = calendar.previous_business_day_on_or_before(reminder)
        dates.add(reminder)
    return sorted(dates)


def is_breached(respond_by_at: datetime, now: datetime) -> bool:
    """Whether the deadline instant has passed (the deadline instant itself is still in time)."""
    _require_aware("respond_by_at", respond_by_at)
    _require_aware("now", now)
    return now > respond_by_at


def days_left(respond_by_at: datetime, now: datetime, tz: str = "UTC") -> int:
    """Local calendar days from today to the deadline day in ``tz``: 0 on the last day, negative once late."""
    _require_aware("respond_by_at", respond_by_at)
    _require_aware("now", now)
    zone = _zone(tz)
    return (respond_by_at.astimezone(zone).date() - now.astimezone(zone).date()).days
