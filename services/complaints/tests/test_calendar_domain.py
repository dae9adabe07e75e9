"""The business calendar's arithmetic on the real 2026 schedule (chinesecalendar 1.11.0, pinned in
uv.lock), each case asserting the exact instant in Asia/Shanghai.

The 2026 schedule as the package has it: National Day and Mid-Autumn Oct 1-7 off, make-up working
days Sun Sep 20 and Sat Oct 10; Spring Festival Feb 15-23 off, make-up working days Sat Feb 14 and
Sat Feb 28."""

from __future__ import annotations

import time as timer
from datetime import UTC, date, datetime, time, timedelta

import pytest

from complaints.calendar.domain import (
    SHANGHAI,
    BusinessCalendar,
    DayKind,
    DayOverride,
    WorkingHours,
    YearDeclaration,
    YearSource,
    build_calendar,
)
from complaints.calendar.seed import official_schedule

SEED = official_schedule(2000, 2036)
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def calendar(
    overrides: dict[date, DayKind] | None = None,
    hours: WorkingHours | None = None,
    complete: tuple[int, ...] = (),
) -> BusinessCalendar:
    return build_calendar(
        SEED.days,
        SEED.years,
        [DayOverride(day, kind, "", NOW, "test") for day, kind in (overrides or {}).items()],
        [YearDeclaration(year, True, "", NOW, "test") for year in complete],
        hours or WorkingHours(),
    )


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_the_2026_schedule_is_seeded_from_chinesecalendar() -> None:
    cal = calendar()
    assert SEED.years[2026] is YearSource.CHINESECALENDAR
    assert all(not cal.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert cal.is_working_day(date(2026, 9, 30))  # Wednesday, the last working day before
    assert cal.is_working_day(date(2026, 10, 8))  # Thursday, the first after
    assert cal.is_working_day(date(2026, 9, 20))  # Sunday: make-up working day
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday: make-up working day
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday: make-up working day
    assert not cal.is_working_day(date(2026, 2, 7))  # a plain Saturday
    assert not cal.is_working_day(date(2026, 2, 16))  # Monday in the Spring Festival


def test_two_working_days_from_16_00_before_the_national_day_week() -> None:
    cal = calendar()
    start = sh(2026, 9, 30, 16)
    # 2 h on Sep 30, Oct 1-7 off, 9 h on Thu Oct 8, 7 h on Fri Oct 9
    assert cal.add_working_days(start, 2) == sh(2026, 10, 9, 16)
    assert cal.add_working_time(start, timedelta(hours=18)) == sh(2026, 10, 9, 16)
    # the third working day is the make-up Saturday
    assert cal.add_working_days(start, 3) == sh(2026, 10, 10, 16)
    assert cal.add_working_days(start, 2).tzinfo is UTC


def test_a_make_up_saturday_is_worked_and_a_plain_saturday_is_not() -> None:
    cal = calendar()
    assert cal.add_working_time(sh(2026, 2, 14, 10), timedelta(hours=4)) == sh(2026, 2, 14, 14)
    # a plain Saturday: the count starts on Monday at 09:00
    assert cal.add_working_time(sh(2026, 2, 7, 10), timedelta(hours=4)) == sh(2026, 2, 9, 13)
    # 2 h left on the make-up Saturday, then the Spring Festival (Feb 15-23) is skipped
    assert cal.add_working_time(sh(2026, 2, 14, 16), timedelta(hours=4)) == sh(2026, 2, 24, 11)


def test_working_time_between_across_a_weekend_and_a_holiday() -> None:
    cal = calendar()
    # Fri 17:00 -> Mon 10:00
    assert cal.working_time_between(sh(2026, 3, 6, 17), sh(2026, 3, 9, 10)) == timedelta(hours=2)
    # Wed Sep 30 17:00 -> Thu Oct 8 10:00 across the National Day week
    assert cal.working_time_between(sh(2026, 9, 30, 17), sh(2026, 10, 8, 10)) == timedelta(hours=2)
    # Sep 30, Oct 8 and Oct 9 whole: 27 h; the make-up Saturday Oct 10 begins after the end
    assert cal.working_time_between(sh(2026, 9, 30, 9), sh(2026, 10, 10, 9)) == timedelta(hours=27)
    assert cal.working_time_between(sh(2026, 10, 9, 10), sh(2026, 10, 9, 10)) == timedelta()
    assert cal.working_time_between(sh(2026, 10, 9, 10), sh(2026, 10, 8, 10)) == timedelta()


def test_working_intervals_are_utc_ordered_and_clipped() -> None:
    cal = calendar()
    intervals = list(cal.working_intervals(sh(2026, 9, 30, 16), sh(2026, 10, 8, 12)))
    assert intervals == [
        (sh(2026, 9, 30, 16), sh(2026, 9, 30, 18)),
        (sh(2026, 10, 8, 9), sh(2026, 10, 8, 12)),
    ]
    assert all(lower.tzinfo is UTC and upper.tzinfo is UTC for lower, upper in intervals)


def test_the_edges_of_working_time() -> None:
    cal = calendar()
    # ending exactly at closing gives the closing, not the next opening
    assert cal.add_working_time(sh(2026, 3, 9, 16), timedelta(hours=2)) == sh(2026, 3, 9, 18)
    # zero is the start itself, even outside working hours
    assert cal.add_working_time(sh(2026, 3, 7, 23, 30), timedelta()) == sh(2026, 3, 7, 23, 30)
    # before opening and after closing: counted from the next opening
    assert cal.add_working_time(sh(2026, 3, 9, 7), timedelta(minutes=30)) == sh(2026, 3, 9, 9, 30)
    assert cal.add_working_time(sh(2026, 3, 9, 19), timedelta(minutes=30)) == sh(2026, 3, 10, 9, 30)
    # an instant given in another zone means the same moment
    assert cal.add_working_time(datetime(2026, 3, 9, 1, tzinfo=UTC), timedelta(hours=1)) == sh(2026, 3, 9, 10)
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_time(sh(2026, 3, 9, 10), timedelta(seconds=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_time(datetime(2026, 3, 9, 10), timedelta(hours=1))


def test_a_year_without_data_falls_back_to_monday_to_friday_and_is_reported() -> None:
    cal = calendar()
    assert cal.missing_years(sh(2026, 12, 30), sh(2027, 1, 5)) == {2027}
    assert cal.missing_years(sh(2026, 1, 1), sh(2026, 12, 31, 23)) == set()
    assert cal.missing_years(sh(2031, 3, 1), sh(2031, 3, 2)) == {2031}
    # Fri Jan 1, 2027 counts as a working day on the fallback; Sat Jan 2 does not
    assert cal.is_working_day(date(2027, 1, 1))
    assert not cal.is_working_day(date(2027, 1, 2))
    # Thu Dec 31, 2026 16:00 + 1 working day: 2 h on Dec 31, 7 h on Fri Jan 1
    assert cal.add_working_days(sh(2026, 12, 31, 16), 1) == sh(2027, 1, 1, 16)
    # Mon-Fri throughout 2031: Fri Oct 3, 2031 16:00 + 2 working days = Tue Oct 7 16:00
    assert cal.add_working_days(sh(2031, 10, 3, 16), 2) == sh(2031, 10, 7, 16)
    assert cal.working_time_between(sh(2031, 10, 3, 9), sh(2031, 10, 6, 18)) == timedelta(hours=18)
    # a year an administrator declared complete is no longer missing
    assert calendar(complete=(2027,)).missing_years(sh(2026, 12, 30), sh(2027, 1, 5)) == set()


def test_an_override_wins_over_the_seed() -> None:
    start = sh(2026, 9, 30, 16)
    # Thu Oct 8 made a holiday: the due time moves to the make-up Saturday
    assert calendar({date(2026, 10, 8): DayKind.HOLIDAY}).add_working_days(start, 2) == sh(2026, 10, 10, 16)
    # Sat Oct 3 made a working day: the due time comes earlier
    assert calendar({date(2026, 10, 3): DayKind.WORKDAY}).add_working_days(start, 2) == sh(2026, 10, 8, 16)


def test_working_hours_set_the_length_of_a_working_day() -> None:
    cal = calendar(hours=WorkingHours(time(8, 30), time(17, 30)))
    assert cal.working_day_length == timedelta(hours=9)
    assert cal.add_working_days(sh(2026, 9, 30, 16), 2) == sh(2026, 10, 9, 16)
    short = calendar(hours=WorkingHours(time(10), time(16)))
    assert short.working_day_length == timedelta(hours=6)
    # 16:00 is closing: nothing left on Sep 30; 12 h = Oct 8 and Oct 9 whole
    assert short.add_working_days(sh(2026, 9, 30, 16), 2) == sh(2026, 10, 9, 16)
    with pytest.raises(ValueError, match="start before"):
        WorkingHours(time(18), time(9))
    with pytest.raises(ValueError, match="start before"):
        WorkingHours(time(9), time(9))


def test_the_second_source_counts_a_year_only_with_its_make_up_working_days() -> None:
    seed = official_schedule(2000, 2030)
    assert seed.years[2003] is YearSource.HOLIDAYS  # before chinesecalendar's first year
    assert seed.days[date(2003, 9, 27)].kind is DayKind.WORKDAY  # a Saturday
    assert 2000 not in seed.years  # holidays has no make-up working days for it: in doubt, missing
    assert 2027 not in seed.years  # holidays computes 2027's statutory days, not its make-up days
    assert all(day.year != 2027 for day in seed.days)


def test_due_times_are_computed_day_by_day_not_minute_by_minute() -> None:
    cal = calendar()
    start = sh(2026, 1, 5, 9, 17)
    began = timer.perf_counter()
    for offset in range(10_000):
        cal.add_working_days(start + timedelta(minutes=offset * 37), 15)
    elapsed = timer.perf_counter() - began
    assert elapsed < 10, f"10,000 due times of 15 working days took {elapsed:.2f}s"
