"""The report-turnaround SLA: working days on the Cambodian and US calendars.

Each test is a scenario from the contract ("a written report within N working
days after all complete medical records have been received by the
specialist"), with dates checked by hand against the 2026-2027 calendars.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import sys
import textwrap
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workalendar.usa import Texas

from calendars import (
    CalendarService,
    CalendarSet,
    Cambodia,
    HolidayOverrides,
    SkippedHoliday,
    compute_due,
    elapsed_working_days,
    get_calendar,
    load_overrides,
    next_close_of_business,
)

ICT = ZoneInfo("Asia/Phnom_Penh")
CHICAGO = ZoneInfo("America/Chicago")
KH_US = CalendarSet(("KH", "US"))


def ict(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=ICT)


def cob(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, 17, 0, tzinfo=ICT)


def skipped(*items: tuple[dt.date, str, str]) -> list[SkippedHoliday]:
    return [SkippedHoliday(date=day, calendar=code, name=name) for day, code, name in items]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---- the customer's holidays ---------------------------------------------------------------


def test_water_festival_and_thanksgiving_are_skipped() -> None:
    due = compute_due(ict(2026, 11, 20), 10, KH_US)

    assert due.day0 == dt.date(2026, 11, 20)
    assert due.due_at == cob(2026, 12, 10)
    assert due.skipped == skipped(
        (dt.date(2026, 11, 23), "KH", "Water Festival"),
        (dt.date(2026, 11, 24), "KH", "Water Festival"),
        (dt.date(2026, 11, 25), "KH", "Water Festival"),
        (dt.date(2026, 11, 26), "US", "Thanksgiving Day"),
    )


@pytest.mark.parametrize(
    ("received", "n", "due_at", "holiday_days", "name"),
    [
        pytest.param(
            ict(2026, 4, 13),
            5,
            cob(2026, 4, 23),
            [dt.date(2026, 4, 14), dt.date(2026, 4, 15), dt.date(2026, 4, 16)],
            "Khmer New Year's Day",
            id="khmer-new-year-2026",
        ),
        pytest.param(
            ict(2027, 4, 13),
            5,
            cob(2027, 4, 23),
            [dt.date(2027, 4, 14), dt.date(2027, 4, 15), dt.date(2027, 4, 16)],
            "Khmer New Year's Day",
            id="khmer-new-year-2027",
        ),
        pytest.param(
            ict(2026, 10, 9),
            5,
            cob(2026, 10, 20),
            [dt.date(2026, 10, 12)],  # the 10th and 11th are a weekend anyway
            "Pchum Ben Day",
            id="pchum-ben-2026",
        ),
        pytest.param(
            ict(2027, 9, 27),
            5,
            cob(2027, 10, 7),
            [dt.date(2027, 9, 29), dt.date(2027, 9, 30), dt.date(2027, 10, 1)],
            "Pchum Ben Day",
            id="pchum-ben-2027",
        ),
        pytest.param(
            ict(2027, 11, 8),
            10,
            cob(2027, 11, 26),
            [dt.date(2027, 11, 12)],  # the 13th and 14th are a weekend anyway
            "Water Festival",
            id="water-festival-2027",
        ),
        pytest.param(
            ict(2027, 11, 8),
            10,
            cob(2027, 11, 26),
            [dt.date(2027, 11, 25)],
            "Thanksgiving Day",
            id="thanksgiving-2027",
        ),
    ],
)
def test_customer_named_holiday_in_the_window_is_skipped(
    received: dt.datetime, n: int, due_at: dt.datetime, holiday_days: list[dt.date], name: str
) -> None:
    due = compute_due(received, n, KH_US)

    assert due.due_at == due_at
    assert [s.date for s in due.skipped if s.name == name] == holiday_days


def test_pchum_ben_and_columbus_day_on_the_same_date_are_both_listed() -> None:
    due = compute_due(ict(2026, 10, 9), 5, KH_US)

    assert due.skipped == skipped(
        (dt.date(2026, 10, 12), "KH", "Pchum Ben Day"),
        (dt.date(2026, 10, 12), "US", "Columbus Day"),
        (dt.date(2026, 10, 15), "KH", "HM King Norodom Sihanouk Mourning Day"),
    )


def test_water_festival_week_2027_skips_independence_veterans_and_thanksgiving_days() -> None:
    due = compute_due(ict(2027, 11, 8), 10, KH_US)

    assert due.skipped == skipped(
        (dt.date(2027, 11, 9), "KH", "National Independence Day"),
        (dt.date(2027, 11, 11), "US", "Veterans Day"),
        (dt.date(2027, 11, 12), "KH", "Water Festival"),
        (dt.date(2027, 11, 25), "US", "Thanksgiving Day"),
    )


# ---- when the clock starts -----------------------------------------------------------------


def test_receipt_at_1659_makes_that_day_day_zero() -> None:
    due = compute_due(ict(2026, 11, 20, 16, 59), 10, KH_US)

    assert due.day0 == dt.date(2026, 11, 20)
    assert due.due_at == cob(2026, 12, 10)


def test_receipt_at_exactly_1700_starts_on_the_next_working_day() -> None:
    due = compute_due(ict(2026, 11, 20, 17, 0), 10, KH_US)

    assert due.day0 == dt.date(2026, 11, 27)  # 23-25 Water Festival, 26 Thanksgiving
    assert due.due_at == cob(2026, 12, 11)


def test_receipt_stamped_in_chicago_is_read_in_phnom_penh() -> None:
    received = dt.datetime(2026, 11, 19, 22, 30, tzinfo=CHICAGO)  # 2026-11-20 11:30 ICT
    assert received == dt.datetime.fromisoformat("2026-11-19T22:30-06:00")

    due = compute_due(received, 10, KH_US)

    assert due.day0 == dt.date(2026, 11, 20)
    assert due.due_at == cob(2026, 12, 10)
    assert due.due_at.tzinfo is not None and due.due_at.utcoffset() == dt.timedelta(hours=7)


def test_chicago_morning_after_phnom_penh_close_of_business_counts_from_the_next_day() -> None:
    received = dt.datetime(2026, 11, 20, 4, 30, tzinfo=CHICAGO)  # 17:30 ICT

    assert compute_due(received, 10, KH_US).day0 == dt.date(2026, 11, 27)


def test_weekend_receipt_starts_on_monday() -> None:
    saturday = compute_due(ict(2026, 11, 28), 5, KH_US)
    sunday = compute_due(ict(2026, 11, 29, 23, 59), 5, KH_US)

    assert saturday.day0 == sunday.day0 == dt.date(2026, 11, 30)
    assert saturday.due_at == sunday.due_at == cob(2026, 12, 7)


def test_receipt_on_a_holiday_starts_on_the_next_working_day() -> None:
    due = compute_due(ict(2026, 4, 14), 1, KH_US)  # Khmer New Year

    assert due.day0 == dt.date(2026, 4, 17)
    assert due.due_at == cob(2026, 4, 20)


def test_naive_receipt_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due(dt.datetime(2026, 11, 20, 10, 0), 10, KH_US)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"working_days": 0},
        {"working_days": 10, "already_elapsed": -1},
        {"working_days": 10, "warn_ratio": 0.0},
        {"working_days": 10, "warn_ratio": 1.0},
        {"working_days": 10, "tz": "Mars/Olympus_Mons"},
    ],
)
def test_invalid_parameters_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        compute_due(ict(2026, 11, 20), calendars=KH_US, **kwargs)  # type: ignore[arg-type]


def test_close_of_business_and_time_zone_are_parameters() -> None:
    due = compute_due(
        dt.datetime(2026, 11, 20, 15, 30, tzinfo=CHICAGO),
        1,
        CalendarSet(["US"]),
        tz="America/Chicago",
        close_of_business=dt.time(16, 0),
    )

    assert due.day0 == dt.date(2026, 11, 20)
    assert due.due_at == dt.datetime(2026, 11, 23, 16, 0, tzinfo=CHICAGO)
    assert due.due_at.tzinfo == CHICAGO


# ---- US federal observed days and Juneteenth -----------------------------------------------


def test_independence_day_observed_on_friday_2026_07_03_is_skipped() -> None:
    due = compute_due(ict(2026, 7, 2), 1, KH_US)

    assert due.due_at == cob(2026, 7, 6)
    assert due.skipped == skipped((dt.date(2026, 7, 3), "US", "Independence Day (Observed)"))


def test_christmas_and_new_year_observed_on_fridays_in_2027_are_skipped() -> None:
    due = compute_due(ict(2027, 12, 23), 5, KH_US)

    assert due.due_at == cob(2028, 1, 4)
    assert due.skipped == skipped(
        (dt.date(2027, 12, 24), "US", "Christmas Day (Observed)"),
        (dt.date(2027, 12, 29), "KH", "Peace Day in Cambodia"),
        (dt.date(2027, 12, 31), "US", "New Years Day (Observed)"),
    )


def test_juneteenth_is_a_federal_holiday_with_its_observed_day() -> None:
    us = get_calendar("US")

    assert (dt.date(2026, 6, 19), "Juneteenth National Independence Day") in us.holidays(2026)
    assert not KH_US.is_working_day(dt.date(2026, 6, 19))
    assert not KH_US.is_working_day(dt.date(2027, 6, 18))  # the 19th is a Saturday


def test_observed_new_year_is_listed_once_in_the_year_it_falls() -> None:
    us_2028 = KH_US.holidays(2028, "US")
    us_2027 = KH_US.holidays(2027, "US")

    assert all(day.year == 2028 for day, _ in us_2028)
    assert [name for day, name in us_2027 if day == dt.date(2027, 12, 31)] == ["New Years Day (Observed)"]


# ---- calendars -----------------------------------------------------------------------------


def test_cambodia_works_as_a_workalendar_calendar() -> None:
    kh = Cambodia()

    assert not kh.is_working_day(dt.date(2026, 11, 23))
    assert kh.is_working_day(dt.date(2026, 11, 26))  # Thanksgiving is not Cambodian
    assert kh.add_working_days(dt.date(2026, 11, 20), 1) == dt.date(2026, 11, 26)
    assert get_calendar("kh").holidays(2026) == kh.holidays(2026)


def test_cambodia_new_year_is_not_double_counted_and_shared_days_keep_both_names() -> None:
    holidays = dict(Cambodia().holidays(2026))

    assert [n for d, n in Cambodia().holidays(2026) if d == dt.date(2026, 1, 1)] == [
        "International New Year Day"
    ]
    assert holidays[dt.date(2026, 5, 1)] == "International Labor Day; Visaka Bochea Day"
    assert holidays[dt.date(2026, 5, 5)] == "Royal Ploughing Ceremony"


def test_texas_is_available_as_a_state_calendar() -> None:
    assert isinstance(get_calendar("US-TX"), Texas)
    received = ict(2026, 2, 27)  # Friday; Monday 2 March is Texas Independence Day

    assert compute_due(received, 1, CalendarSet(["KH", "US"])).due_at == cob(2026, 3, 2)
    texas = compute_due(received, 1, CalendarSet(["KH", "US-TX"]))
    assert texas.due_at == cob(2026, 3, 3)
    assert texas.skipped == skipped((dt.date(2026, 3, 2), "US-TX", "Texas Independence Day"))


def test_unknown_calendar_code_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown calendar code 'US-XX'.*KH, US, .*US-TX"):
        get_calendar("US-XX")
    with pytest.raises(ValueError, match="unknown calendar code 'TH'"):
        CalendarSet(["KH", "TH"])


def test_uncached_calendar_set_gives_the_same_answer() -> None:
    uncached = CalendarSet(("KH", "US"), cache=False)

    assert compute_due(ict(2026, 11, 20), 10, uncached) == compute_due(ict(2026, 11, 20), 10, KH_US)


# ---- escalation warning and breach reminders -----------------------------------------------


def test_warning_for_ten_working_days_is_at_close_of_day_eight() -> None:
    assert compute_due(ict(2026, 11, 20), 10, KH_US).warn_at == cob(2026, 12, 8)


def test_warning_for_five_working_days_is_at_close_of_day_four() -> None:
    due = compute_due(ict(2026, 11, 30), 5, KH_US)

    assert due.warn_at == cob(2026, 12, 4)
    assert due.due_at == cob(2026, 12, 7)


def test_warning_ratio_is_a_parameter_and_can_be_off() -> None:
    assert compute_due(ict(2026, 11, 30), 10, KH_US, warn_ratio=None).warn_at is None
    # 0.7 * 10 is 7.000000000000001 in floating point; still day 7.
    assert compute_due(ict(2026, 11, 30), 10, KH_US, warn_ratio=0.7).warn_at == cob(2026, 12, 9)


def test_next_close_of_business_skips_the_weekend_and_the_water_festival() -> None:
    friday_close = cob(2026, 11, 20)

    assert next_close_of_business(friday_close, KH_US) == cob(2026, 11, 27)
    assert next_close_of_business(ict(2026, 11, 20, 16, 59), KH_US) == friday_close
    assert next_close_of_business(ict(2026, 11, 21), KH_US) == cob(2026, 11, 27)
    # 05:00 in Chicago is 18:00 in Phnom Penh, already past Friday's close.
    assert next_close_of_business(dt.datetime(2026, 11, 20, 5, 0, tzinfo=CHICAGO), KH_US) == cob(2026, 11, 27)


# ---- stop the clock ------------------------------------------------------------------------


def test_pause_then_resume_continues_with_the_remaining_working_days() -> None:
    first = compute_due(ict(2026, 11, 20), 10, KH_US)

    # Information requested Wed 2 Dec at noon: 27 Nov, 30 Nov and 1 Dec are used up.
    used = elapsed_working_days(first.day0, ict(2026, 12, 2, 12, 0), KH_US)
    assert used == 3

    # Supplied Mon 7 Dec 09:00: 7 working days left, counted from that day.
    resumed = compute_due(ict(2026, 12, 7, 9, 0), 10, KH_US, already_elapsed=used)
    assert resumed.day0 == dt.date(2026, 12, 7)
    assert resumed.due_at == cob(2026, 12, 16)
    assert elapsed_working_days(resumed.day0, resumed.due_at, KH_US) == 10 - used
    # The warning stays at day 8 of 10 overall: day 5 after the restart.
    assert resumed.warn_at == cob(2026, 12, 14)
    assert resumed.already_elapsed == used and resumed.working_days == 10


def test_close_of_business_itself_counts_as_an_elapsed_day() -> None:
    assert elapsed_working_days(dt.date(2026, 11, 20), ict(2026, 12, 2, 16, 59), KH_US) == 3
    assert elapsed_working_days(dt.date(2026, 11, 20), cob(2026, 12, 2), KH_US) == 4
    assert elapsed_working_days(dt.date(2026, 11, 20), ict(2026, 11, 19), KH_US) == 0


def test_resume_with_every_day_used_is_due_at_close_of_the_new_day_zero() -> None:
    resumed = compute_due(ict(2026, 12, 7, 9, 0), 10, KH_US, already_elapsed=10)

    assert resumed.due_at == cob(2026, 12, 7)
    assert resumed.warn_at is None


def test_resume_after_the_warning_day_has_no_warning() -> None:
    assert compute_due(ict(2026, 12, 7, 9, 0), 10, KH_US, already_elapsed=8).warn_at is None
    assert compute_due(ict(2026, 12, 7, 9, 0), 10, KH_US, already_elapsed=7).warn_at == cob(2026, 12, 8)


# ---- holiday decrees -----------------------------------------------------------------------


def test_decree_added_at_run_time_moves_the_deadline_by_one_working_day(tmp_path: Path) -> None:
    path = write(tmp_path / "holiday-overrides.yaml", "KH: {add: [], remove: []}\n")
    service = CalendarService(path)
    before = compute_due(ict(2026, 11, 20), 10, service.calendars(["KH", "US"]))
    assert service.calendars(["KH", "US"]) is service.calendars(("kh", "us"))  # cached while unchanged

    write(
        path,
        """\
        KH:
          add:
            - {date: 2026-12-08, name: "Special holiday by sub-decree"}
          remove: []
        """,
    )
    after = compute_due(ict(2026, 11, 20), 10, service.calendars(["KH", "US"]))

    assert before.due_at == cob(2026, 12, 10)
    assert after.due_at == cob(2026, 12, 11)
    assert SkippedHoliday(date=dt.date(2026, 12, 8), calendar="KH", name="Special holiday by sub-decree") in (
        after.skipped
    )


def test_decree_removing_a_holiday_makes_it_a_working_day(tmp_path: Path) -> None:
    path = write(tmp_path / "o.yaml", "KH:\n  remove: [2026-11-23]\n")
    calendars = CalendarService(path).calendars()

    due = compute_due(ict(2026, 11, 20), 10, calendars)

    assert calendars.is_working_day(dt.date(2026, 11, 23))
    assert due.due_at == cob(2026, 12, 9)
    assert dt.date(2026, 11, 23) not in [s.date for s in due.skipped]


def test_decree_file_deleted_means_no_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "o.yaml", "KH:\n  remove: [2026-11-23]\n")
    service = CalendarService(path)
    assert service.calendars().is_working_day(dt.date(2026, 11, 23))

    path.unlink()

    assert not service.calendars().is_working_day(dt.date(2026, 11, 23))


def test_decree_can_move_a_holiday_and_applies_only_to_its_calendar() -> None:
    overrides = HolidayOverrides.model_validate(
        {
            "KH": {
                "add": [{"date": "2026-05-08", "name": "Royal Ploughing Ceremony"}],
                "remove": ["2026-05-05"],
            }
        }
    )
    calendars = CalendarSet(["KH", "US"], overrides)

    assert calendars.is_working_day(dt.date(2026, 5, 5))
    assert calendars.holiday_names(dt.date(2026, 5, 8)) == [("KH", "Royal Ploughing Ceremony")]
    assert calendars.holidays(2026, "US") == KH_US.holidays(2026, "US")


def test_shipped_example_overrides_file_changes_nothing() -> None:
    path = Path(__file__).resolve().parent.parent / "data" / "holiday-overrides.yaml"

    overrides = load_overrides(path)

    assert all(not o.add and not o.remove for o in overrides.root.values())


def test_missing_overrides_file_means_no_overrides(tmp_path: Path) -> None:
    assert load_overrides(tmp_path / "absent.yaml").root == {}
    assert load_overrides(None).root == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("KH: [unclosed\n", "invalid YAML"),
        ("- just a list\n", "expected a mapping"),
        ("KH:\n  add:\n    - {date: 2026-02-30, name: x}\n", "day is out of range for month"),
        ("KH:\n  add:\n    - {date: next friday, name: x}\n", "KH.add.0.date: Input should be a valid date"),
        ("KH:\n  add:\n    - {date: 2026-12-31}\n", "KH.add.0.name: Field required"),
        ("KH:\n  remvoe: [2026-05-05]\n", "KH.remvoe: Extra inputs are not permitted"),
        ("KHM:\n  remove: [2026-05-05]\n", "unknown calendar code 'KHM'"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "KH: {remove: *b}\n",
            "YAML aliases (*name) are not allowed",
        ),
        ("# " + "x" * (300 * 1024) + "\nKH: {}\n", "larger than 256 KiB"),
    ],
    ids=[
        "unclosed",
        "list",
        "impossible-date",
        "bad-date",
        "no-name",
        "typo",
        "unknown-code",
        "aliases",
        "huge",
    ],
)
def test_malformed_overrides_file_is_a_clear_error(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path / "decrees.yaml", text)

    with pytest.raises(ValueError, match=r"decrees\.yaml") as info:
        load_overrides(path)
    assert problem in str(info.value)
    with pytest.raises(ValueError, match=r"decrees\.yaml"):
        CalendarService(path).calendars()


# ---- provisional years ---------------------------------------------------------------------


def test_a_window_inside_the_decreed_2026_is_final() -> None:
    due = compute_due(ict(2026, 11, 20), 10, KH_US)
    assert (due.provisional, due.provisional_years) == (False, [])


def test_a_window_reaching_into_the_projected_2027_is_provisional() -> None:
    due = compute_due(ict(2026, 12, 24), 10, KH_US)
    assert due.due_at.year == 2027
    assert (due.provisional, due.provisional_years) == (True, [2027])


def test_a_year_declared_decreed_in_the_overrides_is_final(tmp_path: Path) -> None:
    path = write(tmp_path / "decrees.yaml", "KH:\n  decree: Sub-decree on 2027\n  decreed: [2027]\n")
    service = CalendarService(path)
    assert not compute_due(ict(2027, 3, 1), 10, service.calendars()).provisional
    assert service.overrides.root["KH"].decree == "Sub-decree on 2027"
    # Another calendar's decreed years change nothing for Cambodia.
    other = HolidayOverrides.model_validate({"US": {"decreed": [2027]}})
    assert compute_due(ict(2027, 3, 1), 10, CalendarSet(("KH", "US"), other)).provisional


def test_only_the_cambodian_calendar_has_projected_years() -> None:
    assert CalendarSet(("KH",)).provisional_years(dt.date(2026, 12, 1), dt.date(2029, 1, 5)) == [
        2027, 2028, 2029,
    ]  # fmt: skip
    assert CalendarSet(("US", "US-TX")).provisional_years(dt.date(2026, 1, 1), dt.date(2030, 1, 1)) == []
    assert not KH_US.is_provisional(2026, "KH") and KH_US.is_provisional(2027, "kh")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("KH:\n  decreed: [twenty-seven]\n", "KH.decreed.0: Input should be a valid integer"),
        ("KH:\n  decreed: [0]\n", "KH.decreed.0: Input should be greater than or equal to 1"),
        ("KH:\n  decree: ''\n", "KH.decree: String should have at least 1 character"),
    ],
)
def test_malformed_decree_fields_are_a_clear_error(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=r"decrees\.yaml") as info:
        load_overrides(write(tmp_path / "decrees.yaml", text))
    assert problem in str(info.value)


# ---- properties ----------------------------------------------------------------------------


RECEIPT_ZONES = st.sampled_from(
    [ICT, CHICAGO, ZoneInfo("UTC"), ZoneInfo("America/New_York"), dt.timezone(dt.timedelta(hours=-6))]
)


@settings(max_examples=150, deadline=None)
@given(
    received=st.datetimes(
        min_value=dt.datetime(2026, 1, 1),
        max_value=dt.datetime(2027, 12, 31, 23, 59),
        timezones=RECEIPT_ZONES,
        allow_imaginary=False,
    ),
    n=st.integers(min_value=1, max_value=20),
)
def test_due_is_a_working_day_close_after_receipt_with_exactly_n_days_elapsed(
    received: dt.datetime, n: int
) -> None:
    due = compute_due(received, n, KH_US)

    local = due.due_at.astimezone(ICT)
    assert KH_US.is_working_day(local.date()) and local.time() == dt.time(17, 0)
    assert due.due_at > received
    assert KH_US.is_working_day(due.day0) and due.day0 >= received.astimezone(ICT).date()
    assert elapsed_working_days(due.day0, due.due_at, KH_US) == n
    assert elapsed_working_days(due.day0, due.due_at - dt.timedelta(seconds=1), KH_US) == n - 1
    assert due.warn_at is not None and received < due.warn_at <= due.due_at
    assert all(KH_US.holiday_names(s.date) and s.date.weekday() < 5 for s in due.skipped)


# ---- inside a Temporal workflow ------------------------------------------------------------


WORKFLOW_MODULE = """
from __future__ import annotations

from datetime import datetime

from temporalio import workflow

{import_block}


@workflow.defn(sandboxed=True)
class DueInWorkflow:
    @workflow.run
    async def run(self, received: str) -> str:
        overrides = HolidayOverrides.model_validate(
            {{"KH": {{"add": [{{"date": "2026-12-08", "name": "Decree"}}]}}}}
        )
        due = compute_due(datetime.fromisoformat(received), 10, CalendarSet(["KH", "US"], overrides))
        return due.due_at.isoformat()
"""

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@pytest.mark.skipif(not TEST_SERVER.exists(), reason="temporal-test-server binary not installed")
@pytest.mark.parametrize("passed_through", [True, False], ids=["passed-through", "sandbox-imported"])
async def test_deadline_computes_inside_the_workflow_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passed_through: bool
) -> None:
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    imports = "from calendars import CalendarSet, HolidayOverrides, compute_due"
    if passed_through:
        imports = "with workflow.unsafe.imports_passed_through():\n    " + imports
    name = f"sla_sandbox_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(WORKFLOW_MODULE.format(import_block=imports), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    workflow_cls = importlib.import_module(name).DueInWorkflow

    async with (
        await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER)) as env,
        Worker(env.client, task_queue=name, workflows=[workflow_cls]),
    ):
        result = await asyncio.wait_for(
            env.client.execute_workflow(
                workflow_cls.run, "2026-11-20T10:00:00+07:00", id=name, task_queue=name
            ),
            timeout=60,
        )

    assert result == "2026-12-11T17:00:00+07:00"
