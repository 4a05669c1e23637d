"""Stop-the-clock, exactly: a working day counts when its close of business passes while
the clock runs, so a pause costs the working days it spans and nothing more.

The scenarios are the worked examples of docs/sla.md. March 2026 has no weekday holiday
in Cambodia or the US, so its days are easy to count by hand: records received on
Mon 2 March at 10:00 are due at 17:00 on Mon 16 March (working days 3-6, 9-13, 16), with
the warning at the close of day 8, Thu 12 March. Khmer New Year is Tue 14 - Thu 16 April.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.calendar import CalendarActivities
from calendars import (
    CalendarService,
    CalendarSet,
    ClockStoppedError,
    HolidayOverrides,
    StopInterval,
    compute_due,
)
from models.sla import DeadlineRequest, Pause, SlaRule

ICT = ZoneInfo("Asia/Phnom_Penh")
KH_US = CalendarSet(("KH", "US"))
RECEIVED = dt.datetime(2026, 3, 2, 10, 0, tzinfo=ICT)


def at(month: int, day: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hh, mm, tzinfo=ICT)


def cob(month: int, day: int) -> dt.datetime:
    return at(month, day, 17, 0)


def due_with(*pauses: StopInterval, received: dt.datetime = RECEIVED) -> dt.datetime:
    return compute_due(received, 10, KH_US, pauses=list(pauses)).due_at


def test_without_a_pause_the_report_is_due_on_the_tenth_working_day() -> None:
    due = compute_due(RECEIVED, 10, KH_US)
    assert (due.day0, due.due_at, due.warn_at) == (dt.date(2026, 3, 2), cob(3, 16), cob(3, 12))


def test_a_pause_over_one_close_of_business_costs_that_day_and_keeps_the_rest_of_the_next() -> None:
    # Asked Wed 4 March at noon, supplied Thu 5 March at 09:00: Wednesday's close
    # passed with the clock stopped, Thursday's did not.
    due = compute_due(RECEIVED, 10, KH_US, pauses=[(at(3, 4, 12), at(3, 5, 9))])
    assert due.due_at == cob(3, 17)
    assert due.paused_working_days == 1
    assert due.already_elapsed == 1  # Tue 3 March, before the restart
    assert due.warn_at == cob(3, 13)  # the 8th counted day
    assert due.day0 == dt.date(2026, 3, 2)  # no new day 0 at the restart


def test_the_older_restart_rule_lost_the_partial_day_that_the_record_keeps() -> None:
    # The same pause with the older form: a new day 0 on Thursday, 9 days left.
    old = compute_due(at(3, 5, 9), 10, KH_US, already_elapsed=1)
    assert old.due_at == cob(3, 18)
    assert due_with((at(3, 4, 12), at(3, 5, 9))) == cob(3, 17)


@pytest.mark.parametrize(
    ("pause", "due"),
    [
        pytest.param((at(3, 4, 10), at(3, 4, 15)), cob(3, 16), id="within-one-working-day"),
        pytest.param((at(3, 4, 18), at(3, 5, 12)), cob(3, 16), id="starts-after-close-ends-before-next"),
        pytest.param((at(3, 4, 18), at(3, 5, 18)), cob(3, 17), id="starts-and-ends-after-close"),
        pytest.param((at(3, 4, 10), at(3, 4, 19)), cob(3, 17), id="ends-after-close-the-same-day"),
        pytest.param((at(3, 7, 10), at(3, 9, 10)), cob(3, 16), id="starts-on-saturday-ends-monday-morning"),
        pytest.param((at(3, 6, 15), at(3, 8, 12)), cob(3, 17), id="friday-afternoon-to-sunday"),
        pytest.param((at(3, 6, 18), at(3, 8, 12)), cob(3, 16), id="friday-evening-to-sunday"),
        pytest.param((at(3, 7, 9), at(3, 8, 20)), cob(3, 16), id="the-weekend-only"),
        pytest.param((at(3, 4, 17), at(3, 5, 10)), cob(3, 16), id="starts-at-close-that-day-counts"),
        pytest.param((at(3, 5, 10), at(3, 5, 17)), cob(3, 17), id="ends-at-close-that-day-does-not"),
        pytest.param((at(3, 2, 11), at(3, 3, 9)), cob(3, 16), id="on-day-zero-costs-nothing"),
        pytest.param((at(3, 17, 9), at(3, 20, 9)), cob(3, 16), id="after-the-deadline-moves-nothing"),
        pytest.param((at(3, 9, 9), at(3, 13, 18)), cob(3, 23), id="a-whole-working-week"),
    ],
)
def test_one_pause_costs_exactly_the_closes_of_business_it_spans(
    pause: StopInterval, due: dt.datetime
) -> None:
    assert due_with(pause) == due


def test_pauses_add_up_and_may_touch() -> None:
    pauses = [(at(3, 3, 12), at(3, 4, 9)), (at(3, 4, 9), at(3, 4, 18)), (at(3, 10, 16), at(3, 11, 8))]
    due = compute_due(RECEIVED, 10, KH_US, pauses=pauses)
    assert due.paused_working_days == 3 and due.due_at == cob(3, 19)


# Received Mon 6 April 2026: due Thu 23 April, skipping Khmer New Year (14-16 April).
APRIL = at(4, 6)


@pytest.mark.parametrize(
    ("pause", "due"),
    [
        pytest.param(None, cob(4, 23), id="no-pause"),
        pytest.param((at(4, 15), at(4, 20)), cob(4, 24), id="starts-on-a-holiday"),
        pytest.param((at(4, 13, 12), at(4, 15, 12)), cob(4, 24), id="ends-on-a-holiday"),
        pytest.param((at(4, 14), at(4, 16, 20)), cob(4, 23), id="the-holidays-only"),
        pytest.param((at(4, 10, 18), at(4, 17, 9)), cob(4, 24), id="over-a-weekend-and-the-holidays"),
    ],
)
def test_a_holiday_inside_a_pause_costs_nothing_more(pause: StopInterval | None, due: dt.datetime) -> None:
    assert compute_due(APRIL, 10, KH_US, pauses=[pause] if pause else []).due_at == due


def test_a_decree_during_the_window_is_counted_with_the_pauses() -> None:
    # A holiday decreed on Fri 13 March with the clock stopped over Wed 4 March.
    decreed = CalendarSet(
        ("KH", "US"),
        HolidayOverrides.model_validate({"KH": {"add": [{"date": "2026-03-13", "name": "Decree"}]}}),
    )
    due = compute_due(RECEIVED, 10, decreed, pauses=[(at(3, 4, 12), at(3, 5, 9))])
    assert due.due_at == cob(3, 18)
    assert [s.date for s in due.skipped] == [dt.date(2026, 3, 13)]


@pytest.mark.parametrize(
    ("pauses", "error", "message"),
    [
        ([(at(3, 4, 12), None)], ClockStoppedError, "stopped since 2026-03-04T12:00:00"),
        ([(at(3, 3), at(3, 4)), (at(3, 9), None)], ClockStoppedError, "no deadline until it restarts"),
        ([(at(3, 1), at(3, 3))], ValueError, "before the records were received"),
        ([(at(3, 5), at(3, 4))], ValueError, "before it starts"),
        ([(dt.datetime(2026, 3, 4, 12), at(3, 5))], ValueError, "must be timezone-aware"),
    ],
    ids=["open", "open-after-a-closed-one", "before-receipt", "backwards", "naive"],
)
def test_a_record_the_rule_cannot_answer_is_refused(
    pauses: list[StopInterval], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        compute_due(RECEIVED, 10, KH_US, pauses=pauses)


def test_pauses_and_already_elapsed_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        compute_due(RECEIVED, 10, KH_US, already_elapsed=2, pauses=[(at(3, 4), at(3, 5))])


# ---- the activity --------------------------------------------------------------------------

RULE = SlaRule(working_days=10, calendars=["KH", "US"])


async def deadline(req: DeadlineRequest) -> dt.datetime:
    due = await ActivityEnvironment().run(CalendarActivities(CalendarService(None)).sla_deadline, req)
    return due.due_at


async def test_the_activity_applies_the_clocks_whole_record() -> None:
    req = DeadlineRequest(
        rule=RULE, received_at=RECEIVED, pauses=[Pause(start=at(3, 4, 12), end=at(3, 5, 9))]
    )
    assert await deadline(req) == cob(3, 17)


async def test_the_activity_keeps_the_older_restart_form_when_the_record_is_empty() -> None:
    req = DeadlineRequest(rule=RULE, received_at=at(3, 5, 9), already_elapsed=1)
    assert await deadline(req) == cob(3, 18)


async def test_the_activity_refuses_a_stopped_clock_without_retrying() -> None:
    req = DeadlineRequest(rule=RULE, received_at=RECEIVED, pauses=[Pause(start=at(3, 4, 12))])
    with pytest.raises(ApplicationError) as info:
        await deadline(req)
    assert info.value.type == "ClockStopped" and info.value.non_retryable


async def test_the_activity_refuses_a_pause_before_receipt_without_retrying() -> None:
    req = DeadlineRequest(rule=RULE, received_at=RECEIVED, pauses=[Pause(start=at(3, 1), end=at(3, 3))])
    with pytest.raises(ApplicationError) as info:
        await deadline(req)
    assert info.value.type == "InvalidSlaRequest" and info.value.non_retryable


# ---- properties ----------------------------------------------------------------------------

INSTANTS = st.datetimes(
    min_value=dt.datetime(2026, 3, 2, 10, 0), max_value=dt.datetime(2026, 6, 30), timezones=st.just(ICT)
)


@settings(max_examples=200, deadline=None)
@given(
    pauses=st.lists(
        st.tuples(INSTANTS, st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=9))),
        max_size=4,
    ),
    n=st.integers(min_value=1, max_value=15),
)
def test_counted_plus_paused_days_are_the_working_days_in_the_window(
    pauses: list[tuple[dt.datetime, dt.timedelta]], n: int
) -> None:
    closed = [(start, start + length) for start, length in pauses]
    due = compute_due(RECEIVED, n, KH_US, pauses=list(closed))
    plain = compute_due(RECEIVED, n, KH_US)

    closes: list[dt.datetime] = []
    day = due.day0 + dt.timedelta(days=1)
    while day <= due.due_at.date():
        if KH_US.is_working_day(day):
            closes.append(dt.datetime.combine(day, dt.time(17, 0), tzinfo=ICT))
        day += dt.timedelta(days=1)
    stopped = [c for c in closes if any(s < c <= e for s, e in closed)]
    assert len(closes) == n + due.paused_working_days
    assert len(stopped) == due.paused_working_days
    assert due.due_at not in stopped  # the report is due on a counted day
    assert due.due_at >= plain.due_at
    assert (due.due_at == plain.due_at) == (due.paused_working_days == 0)
