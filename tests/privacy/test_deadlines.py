"""Legal deadlines of data-subject requests: GDPR months (1182/71), CCPA days, business calendars, zones, reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

import pytest

from apps.common.errors import DomainError
from apps.privacy.deadlines import (
    CCPA_REQUEST_TYPES,
    GDPR_REQUEST_TYPES,
    BusinessCalendar,
    DeadlineInputError,
    Deadlines,
    add_months,
    days_left,
    deadlines_for,
    end_of_local_day,
    is_breached,
    local_receipt_date,
    reminder_dates,
)

# Every day a working day: isolates the month arithmetic from the weekend/holiday shift.
EVERY_DAY = BusinessCalendar(holidays=frozenset(), weekend=frozenset())
WEEKENDS_ONLY = BusinessCalendar(holidays=frozenset())
GERMANY = BusinessCalendar.from_iso_dates(
    ["2024-12-25", "2024-12-26", "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-01", "2025-12-25", "2025-12-26"]
)
CALIFORNIA = BusinessCalendar.from_iso_dates(
    ["2024-11-11", "2024-11-28", "2024-11-29", "2024-12-25", "2025-01-01", "2025-01-20", "2025-02-17"]
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def noon_utc(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


def gdpr(received: str, calendar: BusinessCalendar, *, extended: bool = False) -> Deadlines:
    return deadlines_for(
        regime="gdpr", request_type="access", received_at=noon_utc(received), calendar=calendar, extended=extended
    )


# --- calendar months -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2024-01-15", 1, "2024-02-15"),
        ("2024-01-29", 1, "2024-02-29"),
        ("2024-01-30", 1, "2024-02-29"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2025-01-31", 1, "2025-02-28"),
        ("2024-02-29", 1, "2024-03-29"),
        ("2024-03-31", 1, "2024-04-30"),
        ("2024-08-30", 1, "2024-09-30"),
        ("2024-08-31", 1, "2024-09-30"),
        ("2024-12-31", 1, "2025-01-31"),
        ("2024-12-15", 1, "2025-01-15"),
        ("2000-01-31", 1, "2000-02-29"),
        ("2100-01-31", 1, "2100-02-28"),
        ("1900-01-31", 1, "1900-02-28"),
        ("2024-01-31", 3, "2024-04-30"),
        ("2023-11-29", 3, "2024-02-29"),
        ("2024-11-30", 3, "2025-02-28"),
        ("2024-12-31", 3, "2025-03-31"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2024-05-17", 0, "2024-05-17"),
    ],
)
def test_add_months_keeps_the_date_or_falls_back_to_the_last_day_of_the_month(
    start: str, months: int, expected: str
) -> None:
    assert add_months(d(start), months) == d(expected)


def test_add_months_rejects_negative_months() -> None:
    with pytest.raises(DeadlineInputError, match="non-negative"):
        add_months(d("2024-01-31"), -1)


# --- GDPR ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "respond_by"),
    [
        ("2024-03-09", "2024-04-09"),
        ("2024-01-31", "2024-02-29"),
        ("2025-01-31", "2025-02-28"),
        ("2024-02-29", "2024-03-29"),
        ("2024-08-30", "2024-09-30"),
        ("2024-08-31", "2024-09-30"),
        ("2024-12-31", "2025-01-31"),
        ("2000-01-31", "2000-02-29"),
        ("2100-01-31", "2100-02-28"),
    ],
)
def test_gdpr_one_month_ends_on_the_same_date_or_the_last_day_of_the_next_month(received: str, respond_by: str) -> None:
    deadlines = gdpr(received, EVERY_DAY)
    assert deadlines.received_on == d(received)
    assert deadlines.respond_by == d(respond_by)
    assert deadlines.extension_notice_by == d(respond_by)


@pytest.mark.parametrize(
    ("received", "respond_by"),
    [
        # 30 November 2024 is a Saturday.
        ("2024-10-31", "2024-12-02"),
        # 31 January 2026 is a Saturday: a year boundary, a month end and a weekend.
        ("2025-12-31", "2026-02-02"),
        # 1 March 2025 is a Saturday.
        ("2025-02-01", "2025-03-03"),
        # 28 February 2100 is a Sunday, and 2100 has no 29 February.
        ("2100-01-31", "2100-03-01"),
        # A working day stays put.
        ("2025-01-31", "2025-02-28"),
        ("2024-01-31", "2024-02-29"),
    ],
)
def test_gdpr_deadline_on_a_weekend_moves_to_the_next_working_day(received: str, respond_by: str) -> None:
    assert gdpr(received, WEEKENDS_ONLY).respond_by == d(respond_by)


@pytest.mark.parametrize(
    ("received", "respond_by"),
    [
        # Christmas Day and St Stephen's Day (Wed, Thu) → Friday.
        ("2024-11-25", "2024-12-27"),
        # St Stephen's Day 2025 is a Friday, then a weekend → Monday.
        ("2025-11-26", "2025-12-29"),
        # Easter Monday → Tuesday.
        ("2025-03-21", "2025-04-22"),
        # Labour Day (Thursday) → Friday.
        ("2025-04-01", "2025-05-02"),
        # Good Friday, then the weekend, then Easter Monday → Tuesday.
        ("2025-03-18", "2025-04-22"),
    ],
)
def test_gdpr_deadline_on_a_public_holiday_moves_to_the_next_working_day(received: str, respond_by: str) -> None:
    assert gdpr(received, GERMANY).respond_by == d(respond_by)


@pytest.mark.parametrize("request_type", GDPR_REQUEST_TYPES)
def test_every_gdpr_request_type_has_one_month_and_an_optional_two_more(request_type: str) -> None:
    deadlines = deadlines_for(
        regime="gdpr", request_type=request_type, received_at=noon_utc("2024-01-31"), calendar=GERMANY
    )
    assert deadlines.request_type == request_type
    assert deadlines.respond_by == d("2024-02-29")
    assert deadlines.extension_notice_by == d("2024-02-29")
    assert deadlines.extended_respond_by == d("2024-04-30")
    assert deadlines.acknowledge_by is None
    assert deadlines.extended is False
    assert "GDPR Art. 12(3)" in deadlines.legal_basis
    assert "1182/71" in deadlines.legal_basis


@pytest.mark.parametrize(
    ("received", "notice_by", "extended_by"),
    [
        # Three months from receipt (31 Jan → 30 Apr), not two months after the moved one-month deadline.
        ("2024-01-31", "2024-02-29", "2024-04-30"),
        # One month: 30 Nov 2024 (Sat) → 2 Dec; three months: 31 Jan 2025 (Fri), not 2 Feb.
        ("2024-10-31", "2024-12-02", "2025-01-31"),
        # One month: 30 Nov 2025 (Sun) → 1 Dec; three months: 31 Jan 2026 (Sat) → 2 Feb.
        ("2025-10-31", "2025-12-01", "2026-02-02"),
        ("2023-11-29", "2023-12-29", "2024-02-29"),
    ],
)
def test_gdpr_extension_is_three_months_from_receipt_with_notice_within_the_first_month(
    received: str, notice_by: str, extended_by: str
) -> None:
    plain = gdpr(received, WEEKENDS_ONLY)
    extended = gdpr(received, WEEKENDS_ONLY, extended=True)

    assert plain.respond_by == d(notice_by)
    assert plain.extension_notice_by == d(notice_by)
    assert plain.extended_respond_by == d(extended_by)
    assert extended.extended is True
    assert extended.respond_by == d(extended_by)
    assert extended.respond_by_at == datetime.fromisoformat(f"{extended_by}T23:59:59.999999+00:00")
    assert extended.extension_notice_by == d(notice_by)
    assert extended.extended_respond_by == d(extended_by)


def test_gdpr_period_includes_at_least_two_working_days() -> None:
    # Every weekday from the day after receipt until the day before the one-month date is a holiday, so the
    # month would contain a single working day (15 Feb); Art. 3(5) of 1182/71 requires two.
    start, end = d("2024-01-16"), d("2024-02-14")
    holidays = frozenset(start + timedelta(days=i) for i in range((end - start).days + 1))
    calendar = BusinessCalendar(holidays=holidays)

    assert gdpr("2024-01-15", calendar).respond_by == d("2024-02-16")
    assert gdpr("2024-01-15", WEEKENDS_ONLY).respond_by == d("2024-02-15")


# --- time zones --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "tz", "received_on", "respond_by", "respond_by_at"),
    [
        ("2025-01-31T23:30:00+00:00", "UTC", "2025-01-31", "2025-02-28", "2025-02-28T23:59:59.999999+00:00"),
        # 00:30 on 1 February in Berlin; 1 March 2025 is a Saturday.
        (
            "2025-01-31T23:30:00+00:00",
            "Europe/Berlin",
            "2025-02-01",
            "2025-03-03",
            "2025-03-03T23:59:59.999999+01:00",
        ),
        # 21:00 on 31 January in Los Angeles.
        (
            "2025-02-01T05:00:00+00:00",
            "America/Los_Angeles",
            "2025-01-31",
            "2025-02-28",
            "2025-02-28T23:59:59.999999-08:00",
        ),
        # The receipt's own offset does not matter, only the controller's zone.
        ("2025-02-01T08:00:00+09:00", "UTC", "2025-01-31", "2025-02-28", "2025-02-28T23:59:59.999999+00:00"),
        # Summer time at the deadline: 30 April 2024 ends at 21:59:59.999999 UTC in Berlin.
        (
            "2024-03-31T10:00:00+00:00",
            "Europe/Berlin",
            "2024-03-31",
            "2024-04-30",
            "2024-04-30T23:59:59.999999+02:00",
        ),
    ],
)
def test_receipt_date_and_deadline_instant_are_local_to_the_controller_zone(
    received_at: str, tz: str, received_on: str, respond_by: str, respond_by_at: str
) -> None:
    deadlines = deadlines_for(
        regime="gdpr",
        request_type="erasure",
        received_at=datetime.fromisoformat(received_at),
        calendar=WEEKENDS_ONLY,
        tz=tz,
    )
    assert deadlines.tz == tz
    assert deadlines.received_on == d(received_on)
    assert deadlines.respond_by == d(respond_by)
    assert deadlines.respond_by_at == datetime.fromisoformat(respond_by_at)
    assert deadlines.respond_by_at.tzinfo == ZoneInfo(tz)
    assert deadlines.respond_by_at.date() == d(respond_by)


@pytest.mark.parametrize(
    ("received_at", "tz", "received_on"),
    [
        ("2024-12-31T23:30:00+00:00", "UTC", "2024-12-31"),
        ("2024-12-31T23:30:00+00:00", "Europe/Berlin", "2025-01-01"),
        ("2025-01-01T07:59:00+00:00", "America/Los_Angeles", "2024-12-31"),
        ("2025-01-01T08:00:00+00:00", "America/Los_Angeles", "2025-01-01"),
        ("2024-06-30T14:00:00+00:00", "Pacific/Auckland", "2024-07-01"),
    ],
)
def test_local_receipt_date_is_the_wall_calendar_date_in_the_zone(received_at: str, tz: str, received_on: str) -> None:
    assert local_receipt_date(datetime.fromisoformat(received_at), tz) == d(received_on)


@pytest.mark.parametrize(
    ("day", "tz", "utc_instant"),
    [
        ("2025-03-03", "UTC", "2025-03-03T23:59:59.999999+00:00"),
        # Spring forward in Berlin: the day is 23 hours long and ends at +02:00.
        ("2024-03-31", "Europe/Berlin", "2024-03-31T21:59:59.999999+00:00"),
        # Fall back in Berlin: the day is 25 hours long and ends at +01:00.
        ("2024-10-27", "Europe/Berlin", "2024-10-27T22:59:59.999999+00:00"),
        # Chile turns its clocks back at 24:00 → 23:00: the last hour of 6 April is repeated, the day ends after it.
        ("2024-04-06", "America/Santiago", "2024-04-07T03:59:59.999999+00:00"),
        # Havana springs forward at midnight: 10 March starts at 01:00, so 9 March ends at 05:00 UTC.
        ("2024-03-09", "America/Havana", "2024-03-10T04:59:59.999999+00:00"),
    ],
)
def test_end_of_local_day_is_the_last_microsecond_before_the_next_local_midnight(
    day: str, tz: str, utc_instant: str
) -> None:
    end = end_of_local_day(d(day), tz)
    assert end.astimezone(UTC) == datetime.fromisoformat(utc_instant)
    assert end.tzinfo == ZoneInfo(tz)
    assert end.date() == d(day)
    assert (end + timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date() == d(day) + timedelta(days=1)


# --- CCPA ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "acknowledge_by"),
    [
        # Thanksgiving and the day after (Thu, Fri), two weekends.
        ("2024-11-22", "2024-12-10"),
        # Received on a Saturday: counting starts on Monday.
        ("2024-11-23", "2024-12-10"),
        # Christmas Day, New Year's Day and two weekends.
        ("2024-12-20", "2025-01-07"),
        # Veterans Day (Mon 11 Nov) right after receipt on a Friday.
        ("2024-11-08", "2024-11-25"),
        # A plain fortnight.
        ("2024-10-07", "2024-10-21"),
    ],
)
def test_ccpa_acknowledgement_is_due_on_the_tenth_business_day_after_receipt(
    received: str, acknowledge_by: str
) -> None:
    deadlines = deadlines_for(regime="ccpa", request_type="know", received_at=noon_utc(received), calendar=CALIFORNIA)
    assert deadlines.acknowledge_by == d(acknowledge_by)


@pytest.mark.parametrize(
    ("received", "respond_by", "extended_by"),
    [
        ("2024-11-22", "2025-01-06", "2025-02-20"),
        # Leap year: 45 days after 15 January 2024 is 29 February.
        ("2024-01-15", "2024-02-29", "2024-04-14"),
        ("2025-01-15", "2025-03-01", "2025-04-15"),
        # Calendar days are not moved off weekends (16 Nov 2024 is a Saturday) nor holidays (Christmas).
        ("2024-10-02", "2024-11-16", "2024-12-31"),
        ("2024-11-10", "2024-12-25", "2025-02-08"),
    ],
)
@pytest.mark.parametrize("request_type", ["know", "delete", "correct"])
def test_ccpa_requests_are_answered_within_45_calendar_days_extendable_to_90(
    request_type: str, received: str, respond_by: str, extended_by: str
) -> None:
    plain, extended = (
        deadlines_for(
            regime="ccpa",
            request_type=request_type,
            received_at=noon_utc(received),
            calendar=CALIFORNIA,
            extended=is_extended,
        )
        for is_extended in (False, True)
    )

    assert plain.respond_by == d(respond_by)
    assert plain.respond_by_at == datetime.fromisoformat(f"{respond_by}T23:59:59.999999+00:00")
    assert plain.extension_notice_by == d(respond_by)
    assert plain.extended_respond_by == d(extended_by)
    assert extended.respond_by == d(extended_by)
    assert extended.extension_notice_by == d(respond_by)
    assert extended.acknowledge_by == plain.acknowledge_by
    assert (d(extended_by) - d(received)).days == 90
    assert plain.legal_basis == "Cal. Civ. Code §1798.130(a)(2); CCPA Regulations 11 CCR §7021"


@pytest.mark.parametrize(
    ("received", "respond_by"),
    [
        # Thanksgiving (Thu, Fri) and three weekends.
        ("2024-11-22", "2024-12-17"),
        # Christmas Day, New Year's Day, three weekends.
        ("2024-12-20", "2025-01-14"),
        # Martin Luther King Jr. Day (20 Jan) inside the period.
        ("2025-01-10", "2025-02-03"),
        ("2024-10-07", "2024-10-28"),
    ],
)
@pytest.mark.parametrize(("request_type", "section"), [("opt_out_sale", "§7026(f)"), ("limit_sensitive", "§7027(g)")])
def test_ccpa_opt_out_and_limit_are_complied_with_within_15_business_days(
    request_type: str, section: str, received: str, respond_by: str
) -> None:
    deadlines = deadlines_for(
        regime="ccpa", request_type=request_type, received_at=noon_utc(received), calendar=CALIFORNIA
    )
    assert deadlines.respond_by == d(respond_by)
    assert deadlines.extended_respond_by == d(respond_by)
    assert deadlines.acknowledge_by is None
    assert deadlines.extension_notice_by is None
    assert section in deadlines.legal_basis


@pytest.mark.parametrize("request_type", ["opt_out_sale", "limit_sensitive"])
def test_ccpa_opt_out_and_limit_cannot_be_extended(request_type: str) -> None:
    with pytest.raises(DeadlineInputError, match=f"'{request_type}' request cannot be extended") as caught:
        deadlines_for(
            regime="ccpa",
            request_type=request_type,
            received_at=noon_utc("2024-11-22"),
            calendar=CALIFORNIA,
            extended=True,
        )
    assert caught.value.fields == {"extended": [caught.value.detail]}


def test_ccpa_receipt_date_is_local_to_the_business() -> None:
    # 21:30 on Friday 22 November in California, already Saturday 23 November in UTC.
    received_at = datetime.fromisoformat("2024-11-23T05:30:00+00:00")
    local = deadlines_for(
        regime="ccpa", request_type="delete", received_at=received_at, calendar=CALIFORNIA, tz="America/Los_Angeles"
    )
    utc = deadlines_for(regime="ccpa", request_type="delete", received_at=received_at, calendar=CALIFORNIA)

    assert local.received_on == d("2024-11-22")
    assert local.respond_by == d("2025-01-06")
    assert local.respond_by_at == datetime.fromisoformat("2025-01-06T23:59:59.999999-08:00")
    assert utc.received_on == d("2024-11-23")
    assert utc.respond_by == d("2025-01-07")


def test_request_type_may_be_a_string_enum_member() -> None:
    class RequestType(StrEnum):
        KNOW = "know"

    deadlines = deadlines_for(
        regime="ccpa", request_type=RequestType.KNOW, received_at=noon_utc("2024-11-22"), calendar=CALIFORNIA
    )
    assert deadlines.request_type == "know"
    assert type(deadlines.request_type) is str
    assert deadlines.respond_by == d("2025-01-06")


# --- business calendar -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2024-11-27", True),
        ("2024-11-28", False),
        ("2024-11-29", False),
        ("2024-11-30", False),
        ("2024-12-01", False),
        ("2024-12-02", True),
    ],
)
def test_is_business_day_excludes_weekends_and_holidays(day: str, expected: bool) -> None:
    assert CALIFORNIA.is_business_day(d(day)) is expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2024-11-27", 0, "2024-11-27"),
        # n = 0 is the day itself, even when it is not a business day.
        ("2024-11-30", 0, "2024-11-30"),
        ("2024-11-27", 1, "2024-12-02"),
        ("2024-11-28", 1, "2024-12-02"),
        ("2024-11-29", 5, "2024-12-06"),
        ("2024-11-22", 10, "2024-12-10"),
        ("2024-11-22", 15, "2024-12-17"),
    ],
)
def test_add_business_days_does_not_count_the_start_day(start: str, n: int, expected: str) -> None:
    assert CALIFORNIA.add_business_days(d(start), n) == d(expected)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2024-11-27", "2024-11-27"),
        ("2024-11-28", "2024-12-02"),
        ("2024-11-30", "2024-12-02"),
        ("2024-12-25", "2024-12-26"),
    ],
)
def test_next_business_day_on_or_after(start: str, expected: str) -> None:
    assert CALIFORNIA.next_business_day_on_or_after(d(start)) == d(expected)


def test_weekend_is_configurable() -> None:
    friday_saturday = BusinessCalendar(holidays=frozenset(), weekend=frozenset({4, 5}))
    thursday = d("2025-01-02")

    assert friday_saturday.is_business_day(d("2025-01-05")) is True  # Sunday
    assert friday_saturday.add_business_days(thursday, 1) == d("2025-01-05")
    assert friday_saturday.next_business_day_on_or_after(d("2025-01-03")) == d("2025-01-05")


def test_calendar_from_iso_dates_and_from_a_list_are_equal() -> None:
    from_strings = BusinessCalendar.from_iso_dates(["2025-12-25", "2025-12-26", "2025-12-25"])
    from_list = BusinessCalendar(holidays=[d("2025-12-26"), d("2025-12-25")])  # type: ignore[arg-type]

    assert from_strings == from_list
    assert from_strings.holidays == frozenset({d("2025-12-25"), d("2025-12-26")})
    assert from_strings.weekend == frozenset({5, 6})
    assert hash(from_strings) == hash(from_list)


@pytest.mark.parametrize(
    ("holidays", "message"),
    [
        (["2025-12-25", "25/12/2025"], "'25/12/2025' is not an ISO date"),
        (["2025-02-30"], "'2025-02-30' is not an ISO date"),
        ([None], "None is not an ISO date"),
        ("2025-12-25", "not one string"),
    ],
)
def test_calendar_from_iso_dates_rejects_bad_dates(holidays: object, message: str) -> None:
    with pytest.raises(DeadlineInputError, match=message):
        BusinessCalendar.from_iso_dates(holidays)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"holidays": frozenset(), "weekend": frozenset(range(7))}, "no business days"),
        ({"holidays": frozenset(), "weekend": frozenset({7})}, "weekend day 7"),
        ({"holidays": frozenset({datetime(2025, 12, 25, tzinfo=UTC)})}, "is not a date"),
        ({"holidays": frozenset({"2025-12-25"})}, "'2025-12-25' is not a date"),
    ],
)
def test_calendar_rejects_bad_configuration(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DeadlineInputError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [-1, 1.5, True])
def test_add_business_days_rejects_anything_but_a_non_negative_integer(n: object) -> None:
    with pytest.raises(DeadlineInputError, match="non-negative integer"):
        CALIFORNIA.add_business_days(d("2024-11-22"), n)  # type: ignore[arg-type]


# --- reminders, breach, days left --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respond_by", "days_before", "expected"),
    [
        ("2025-02-28", (7, 3, 1), ["2025-02-21", "2025-02-25", "2025-02-27"]),
        ("2025-03-03", (7, 3, 1), ["2025-02-24", "2025-02-28", "2025-03-02"]),
        ("2024-03-03", (7, 3, 1), ["2024-02-25", "2024-02-29", "2024-03-02"]),
        ("2025-01-02", (7, 3, 1), ["2024-12-26", "2024-12-30", "2025-01-01"]),
        ("2025-03-03", (1, 14, 1, 0), ["2025-02-17", "2025-03-02", "2025-03-03"]),
        ("2025-03-03", (), []),
    ],
)
def test_reminder_dates_are_calendar_days_before_the_deadline_earliest_first(
    respond_by: str, days_before: tuple[int, ...], expected: list[str]
) -> None:
    assert reminder_dates(d(respond_by), days_before) == [d(day) for day in expected]


def test_reminder_dates_default_to_seven_three_and_one_day_before() -> None:
    assert reminder_dates(d("2025-02-28")) == [d("2025-02-21"), d("2025-02-25"), d("2025-02-27")]


def test_reminder_dates_with_a_calendar_move_to_the_business_day_before() -> None:
    # 7 before: Mon 24 Feb; 3 before: Fri 28 Feb; 1 before: Sun 2 Mar → Fri 28 Feb (merged).
    assert reminder_dates(d("2025-03-03"), calendar=WEEKENDS_ONLY) == [d("2025-02-24"), d("2025-02-28")]
    # 1 before the GDPR deadline of 27 Dec 2024 is St Stephen's Day, then Christmas Day → Tuesday 24 Dec.
    assert reminder_dates(d("2024-12-27"), (1,), calendar=GERMANY) == [d("2024-12-24")]


@pytest.mark.parametrize("days_before", [(7, -1), (1.5,)])
def test_reminder_dates_reject_negative_or_fractional_offsets(days_before: tuple[object, ...]) -> None:
    with pytest.raises(DeadlineInputError, match="non-negative integers"):
        reminder_dates(d("2025-03-03"), days_before)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "breached"),
    [
        ("2025-03-03T22:59:59.999999+00:00", False),
        ("2025-03-03T23:00:00+00:00", True),
        ("2025-03-03T23:59:59.999999+01:00", False),
        ("2025-03-04T00:00:00+01:00", True),
        ("2025-02-01T09:00:00+00:00", False),
        ("2025-03-04T12:00:00-08:00", True),
    ],
)
def test_breach_starts_right_after_the_end_of_the_local_deadline_day(now: str, breached: bool) -> None:
    deadline = deadlines_for(
        regime="gdpr",
        request_type="access",
        received_at=datetime.fromisoformat("2025-01-31T23:30:00+00:00"),
        calendar=WEEKENDS_ONLY,
        tz="Europe/Berlin",
    ).respond_by_at
    assert deadline == datetime(2025, 3, 3, 22, 59, 59, 999999, tzinfo=UTC)
    assert is_breached(deadline, datetime.fromisoformat(now)) is breached


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        ("2025-02-28T12:00:00+00:00", "Europe/Berlin", 3),
        # 00:30 on 3 March in Berlin: the last day.
        ("2025-03-02T23:30:00+00:00", "Europe/Berlin", 0),
        # Same instant in UTC is still 2 March.
        ("2025-03-02T23:30:00+00:00", "UTC", 1),
        ("2025-03-03T22:59:59+00:00", "Europe/Berlin", 0),
        ("2025-03-03T23:00:00+00:00", "Europe/Berlin", -1),
        ("2025-03-10T12:00:00+00:00", "Europe/Berlin", -7),
    ],
)
def test_days_left_counts_local_calendar_days_to_the_deadline(now: str, tz: str, expected: int) -> None:
    deadline = end_of_local_day(d("2025-03-03"), "Europe/Berlin")
    assert days_left(deadline, datetime.fromisoformat(now), tz) == expected


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"regime": "hipaa"}, "regime", "unknown regime 'hipaa'; expected one of: 'ccpa', 'gdpr'"),
        ({"regime": "GDPR"}, "regime", "unknown regime 'GDPR'"),
        ({"request_type": "know"}, "request_type", "unknown gdpr request type 'know'; expected one of: 'access', "),
        ({"regime": "ccpa", "request_type": "access"}, "request_type", "unknown ccpa request type 'access'"),
        ({"request_type": ""}, "request_type", "unknown gdpr request type ''"),
        ({"received_at": datetime(2025, 1, 31, 12)}, "received_at", "must be an aware datetime"),  # noqa: DTZ001
        ({"received_at": date(2025, 1, 31)}, "received_at", "must be a datetime, got date"),
        ({"tz": "Mars/Olympus_Mons"}, "tz", "unknown time zone 'Mars/Olympus_Mons'"),
        ({"tz": "../etc/passwd"}, "tz", "unknown time zone"),
        ({"tz": ""}, "tz", "must be an IANA name"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_problem(kwargs: dict[str, object], field: str, message: str) -> None:
    arguments: dict[str, object] = {
        "regime": "gdpr",
        "request_type": "access",
        "received_at": noon_utc("2025-01-31"),
        "calendar": WEEKENDS_ONLY,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message) as caught:
        deadlines_for(**arguments)  # type: ignore[arg-type]

    error = caught.value
    assert isinstance(error, DomainError)
    assert error.code == "invalid_deadline_input"
    assert list(error.fields) == [field]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: is_breached(datetime(2025, 3, 3), datetime.now(UTC)), "respond_by_at must be an aware"),  # noqa: DTZ001
        (lambda: is_breached(datetime.now(UTC), datetime(2025, 3, 3)), "now must be an aware"),  # noqa: DTZ001
        (lambda: days_left(datetime.now(UTC), datetime(2025, 3, 3)), "now must be an aware"),  # noqa: DTZ001
        (lambda: days_left(datetime.now(UTC), datetime.now(UTC), "Nowhere"), "unknown time zone"),
        (lambda: end_of_local_day(date(2025, 3, 3), "Nowhere/Else"), "unknown time zone"),
        (lambda: local_receipt_date(datetime(2025, 3, 3)), "received_at must be an aware"),  # noqa: DTZ001
    ],
)
def test_helpers_reject_naive_datetimes_and_unknown_zones(call: object, message: str) -> None:
    with pytest.raises(DeadlineInputError, match=message):
        call()  # type: ignore[operator]


def test_fixed_offset_datetimes_are_aware_enough() -> None:
    received_at = datetime(2025, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    deadlines = deadlines_for(regime="gdpr", request_type="portability", received_at=received_at, calendar=EVERY_DAY)
    assert deadlines.received_on == d("2025-02-01")
    assert deadlines.respond_by == d("2025-03-01")


def test_all_request_types_are_listed() -> None:
    assert GDPR_REQUEST_TYPES == ("access", "rectification", "erasure", "restriction", "portability", "objection")
    assert CCPA_REQUEST_TYPES == ("know", "delete", "correct", "opt_out_sale", "limit_sensitive")
