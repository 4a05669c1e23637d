"""The consult slot rule (calendars.consult_slots): both sides' hours across the US clock
changes, both countries' holidays, the notice, other consults and plain-word refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from calendars import CalendarSet
from calendars import consult_slots as cs
from models.settings import Settings
from runtime.db import make_engine, seed, upgrade

ICT = cs.zone("Asia/Phnom_Penh")
TEXAS = cs.zone("America/Chicago")
WEEKDAYS = {d: ["06:00-08:00", "19:00-21:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
CALENDARS = CalendarSet(("KH", "US"))

WINTER = ["08:00", "08:30", "09:00", "09:30", "19:00", "19:30", "20:00", "20:30"]  # CST, UTC-6
SUMMER = ["08:00", "08:30", "18:00", "18:30", "19:00", "19:30"]  # CDT, UTC-5


def rule(now: dt.datetime, hours: dict[str, list[str]] | None = None, **kw: object) -> cs.SlotRule:
    side = cs.Side(TEXAS, cs.parse_week(WEEKDAYS if hours is None else hours), kw.pop("time_off", ()))  # type: ignore[arg-type]
    return cs.SlotRule(side, cs.member_side(), CALENDARS, now, **kw)  # type: ignore[arg-type]


def ict_times(r: cs.SlotRule, day: dt.date) -> list[str]:
    """The member's clock times of the proposals on one of the member's dates."""
    starts = [p.start.astimezone(ICT) for p in r.proposals()]
    return [f"{s:%H:%M}" for s in starts if s.date() == day]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("now", "before", "after", "before_times", "after_times"),
    [
        # The US springs forward on 8 March 2026 and 14 March 2027: the evening moves an hour
        # earlier in Phnom Penh, so 19:00 CDT is 07:00 ICT, before the member's day begins.
        ("2026-03-03T12:00+00:00", dt.date(2026, 3, 6), dt.date(2026, 3, 11), WINTER, SUMMER),
        ("2027-03-09T12:00+00:00", dt.date(2027, 3, 12), dt.date(2027, 3, 17), WINTER, SUMMER),
        # ... and falls back on 1 November 2026 and 7 November 2027.
        ("2026-10-27T00:00+00:00", dt.date(2026, 10, 30), dt.date(2026, 11, 4), SUMMER, WINTER),
        ("2027-11-02T00:00+00:00", dt.date(2027, 11, 5), dt.date(2027, 11, 10), SUMMER, WINTER),
    ],
)
def test_the_overlap_moves_with_the_us_clock_changes(
    now: str, before: dt.date, after: dt.date, before_times: list[str], after_times: list[str]
) -> None:
    r = rule(at(now))
    assert ict_times(r, before) == before_times
    assert ict_times(r, after) == after_times
    for p in r.proposals():
        local = p.start.astimezone(TEXAS)
        assert local.weekday() < 5 and (6 <= local.hour < 8 or 19 <= local.hour < 21), local
        assert 8 <= p.start.astimezone(ICT).hour < 21


def test_no_slot_on_thanksgiving_in_texas_even_when_it_is_friday_in_phnom_penh() -> None:
    r = rule(at("2026-11-18T00:00+00:00"))
    assert all(p.start.astimezone(TEXAS).date() != dt.date(2026, 11, 26) for p in r.proposals())
    # Friday 08:00 in Phnom Penh is Thanksgiving evening in Houston.
    assert r.check(at("2026-11-27T08:00+07:00")) == cs.US_HOLIDAY
    assert r.check(at("2026-11-26T19:00+07:00")) == cs.US_HOLIDAY  # Thursday 06:00 CST
    assert r.check(at("2026-11-27T19:00+07:00")) is None  # Friday 06:00 CST


def test_no_slot_over_khmer_new_year_in_phnom_penh() -> None:
    r = rule(at("2026-04-08T00:00+00:00"))
    days = {p.start.astimezone(ICT).date() for p in r.proposals()}
    assert not days & {dt.date(2026, 4, 14), dt.date(2026, 4, 15), dt.date(2026, 4, 16)}
    assert dt.date(2026, 4, 17) in days
    # Tuesday 08:00 ICT is Monday 20:00 CDT, inside the specialist's hours.
    assert r.check(at("2026-04-14T08:00+07:00")) == cs.KH_HOLIDAY


def test_a_monday_morning_in_phnom_penh_is_sunday_evening_in_texas() -> None:
    monday = at("2026-12-07T08:00+07:00")
    assert monday.astimezone(TEXAS).strftime("%a %H:%M") == "Sun 19:00"
    now = at("2026-12-02T00:00+00:00")
    assert rule(now).check(monday) == cs.SPECIALIST_HOURS
    assert rule(now, {**WEEKDAYS, "sun": ["19:00-21:00"]}).check(monday) is None


def test_each_refusal_names_the_first_rule_it_breaks() -> None:
    now = at("2026-12-07T02:00+00:00")  # Monday 09:00 ICT
    r = rule(now, booked=[at("2026-12-15T08:00+07:00")])
    assert r.check(at("2026-12-13T03:00+07:00")) == cs.SPECIALIST_HOURS  # Sunday 03:00 ICT
    assert r.check(at("2026-12-15T07:00+07:00")) == cs.SPECIALIST_HOURS  # Monday 18:00 CST
    early = rule(now, {**WEEKDAYS, "mon": ["18:00-21:00"]})
    assert early.check(at("2026-12-15T07:00+07:00")) == cs.MEMBER_HOURS_REASON
    assert r.check(dt.datetime(2026, 12, 15, 8, 0)) == cs.NO_OFFSET
    assert r.check(at("2026-12-15T08:15+07:00")) == cs.NOT_ON_GRID
    assert r.check(at("2026-12-08T08:00+07:00")) == cs.TOO_SOON  # tomorrow, within 1 working day
    assert r.check(at("2026-12-09T08:00+07:00")) is None
    assert r.check(at("2026-12-15T08:00+07:00")) == cs.TAKEN
    assert r.check(at("2026-12-15T08:30+07:00")) is None
    assert r.check(at("2027-06-01T08:00+07:00")) == cs.TOO_FAR
    assert r.check(at("2026-12-07T08:00+07:00")) == cs.TOO_SOON  # in the past
    assert r.check(at("9999-12-31T23:59:59+14:00")) == cs.NOT_ON_GRID
    assert r.reasons(at("9999-12-31T23:30:00+00:00")) == [cs.TOO_FAR]
    assert r.check(at("0001-01-01T00:00:00+14:00")) == cs.TOO_SOON
    proposed = [p.start for p in r.proposals()]
    assert at("2026-12-15T08:00+07:00") not in proposed and at("2026-12-15T08:30+07:00") in proposed
    assert all(r.check(p) is None for p in proposed)
    # One working day's notice from Monday 09:00 ICT, then ten working days (KH and US).
    assert proposed[0] == at("2026-12-08T09:00+07:00")
    assert r.bounds()[1] == at("2026-12-22T00:00+07:00")


def test_a_longer_consult_must_fit_whole_and_not_overlap() -> None:
    r = rule(
        at("2026-12-07T02:00+00:00"), length=dt.timedelta(minutes=60), booked=[at("2026-12-15T08:00+07:00")]
    )
    assert r.check(at("2026-12-15T09:00+07:00")) is None  # 20:00-21:00 CST
    assert r.check(at("2026-12-15T09:30+07:00")) == cs.SPECIALIST_HOURS  # would end 21:30 CST
    assert r.check(at("2026-12-15T08:30+07:00")) == cs.TAKEN  # overlaps 08:00-09:00


def test_time_off_blocks_the_specialists_local_dates() -> None:
    away = cs.parse_time_off([{"from": "2026-12-14", "to": "2026-12-15"}])
    r = rule(at("2026-12-07T02:00+00:00"), time_off=away)
    assert r.check(at("2026-12-15T08:00+07:00")) == cs.SPECIALIST_HOURS  # Mon 14 Dec 19:00 CST
    assert r.check(at("2026-12-17T08:00+07:00")) is None  # Wed 16 Dec 19:00 CST


def test_when_no_slot_fits_the_nearest_near_misses_name_their_one_rule() -> None:
    office = {d: ["10:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}  # 23:00-06:00 ICT
    r = rule(at("2026-12-07T02:00+00:00"), office)
    assert r.proposals() == []
    misses = r.near_misses()
    assert len(misses) == 5 and misses == sorted(misses, key=lambda m: m.start)
    assert all(r.reasons(m.start) == [m.reason] for m in misses)
    assert {m.reason for m in misses} <= {cs.MEMBER_HOURS_REASON, cs.SPECIALIST_HOURS}


@pytest.mark.parametrize(
    "hours",
    [
        {"mon": ["06:00-05:00"]},
        {"mon": ["6-8"]},
        {"mon": ["06:15-08:00"]},
        {"funday": ["06:00-08:00"]},
        {"mon": "06:00-08:00"},
        {"mon": ["06:00-08:00", "07:00-09:00"]},
        ["06:00-08:00"],
    ],
)
def test_bad_hours_are_refused(hours: object) -> None:
    with pytest.raises(ValueError):
        cs.parse_week(hours)  # type: ignore[arg-type]


def roster(tmp_path: Path, **entry: object) -> Settings:
    row = {
        "specialist_id": "SP-TST-001",
        **{k: "x" for k in ("name", "specialty", "board", "affiliation", "email")},
        "state": "TX",
        **entry,
    }
    path = tmp_path / "specialists.yaml"
    path.write_text(yaml.safe_dump([row]))
    (tmp_path / "policies.yaml").write_text("[]")
    return Settings(specialists_file=path, policies_file=tmp_path / "policies.yaml")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"timezone": "America/Houstonn"}, "unknown time zone"),
        ({"consult_hours": {"mon": ["19:00-18:00"]}}, "end before they start"),
        ({"time_off": [{"from": "2026-12-27", "to": "2026-12-24"}]}, "before it starts"),
    ],
)
def test_a_bad_roster_entry_fails_at_start_up_naming_the_specialist(
    tmp_path: Path, entry: dict[str, object], words: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'case.db'}")
    upgrade(engine)
    with pytest.raises(ValueError, match=f"specialist SP-TST-001: .*{words}"):
        seed(engine, roster(tmp_path, **entry))


def test_the_seed_stores_hours_and_time_off_as_json(tmp_path: Path) -> None:
    from runtime.consult_holds import specialist_side

    engine = make_engine(f"sqlite:///{tmp_path / 'case.db'}")
    upgrade(engine)
    off = [{"from": dt.date(2026, 12, 24), "to": dt.date(2026, 12, 27)}]
    seed(engine, roster(tmp_path, consult_hours={"sat": ["06:00-09:00"]}, time_off=off))
    side = specialist_side(engine, "SP-TST-001")
    assert side is not None and side.week == {5: [(dt.time(6), dt.time(9))]}
    assert side.time_off == [(dt.date(2026, 12, 24), dt.date(2026, 12, 27))]
    assert json.loads(json.dumps(cs.format_span((dt.time(19), dt.time.max)))) == "19:00-24:00"


def test_every_specialist_in_the_roster_has_hours_that_meet_the_members_day() -> None:
    rows = yaml.safe_load(Path("data/specialists.yaml").read_text())
    for row in rows:
        week = cs.parse_week(row["consult_hours"])
        side = cs.Side(cs.zone(row["timezone"]), week, cs.parse_time_off(row.get("time_off")))
        r = cs.SlotRule(side, cs.member_side(), CALENDARS, at("2026-12-07T02:00+00:00"))
        assert r.proposals(), row["specialist_id"]
