"""The official schedule as the maintained packages know it: public holidays and make-up working
days (调休), per year, with the year's source.

- `chinesecalendar` (import `chinese_calendar`) first: it follows each year's State Council notice,
  make-up working days included, and raises NotImplementedError for a year it has no data for.
- `holidays` (`holidays.China`) for a year the first lacks, but only when it has the year's make-up
  working days and nothing in the year is an estimate: its rules compute the statutory days of any
  year, and a year without its make-up days would be counted short. When in doubt a year is left
  out; the calendar then runs it on Mon–Fri and reports it missing, and an administrator can enter
  the year's days and declare it complete.

Package data changes only with a new release, so a seed is computed once per process and range.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import chinese_calendar
from holidays import country_holidays

from complaints.calendar.domain import DayKind, SeededDay, YearSource

_ESTIMATED_MARK = "estimated"  # holidays' label of a day its rules guessed (en_US)


@dataclass(frozen=True)
class Seed:
    first_year: int  # the years looked up, both included
    last_year: int
    days: Mapping[date, SeededDay]
    years: Mapping[int, YearSource]  # the years whose official schedule is in `days`


def _make_up_day(holiday_zh: str, holiday_en: str) -> SeededDay:
    return SeededDay(DayKind.WORKDAY, f"{holiday_zh}调休上班", f"make-up working day ({holiday_en})")


def _from_chinesecalendar(year: int) -> dict[date, SeededDay] | None:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return None
    # The package names days in English; its Holiday enum carries the Chinese name.
    chinese = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}
    days = {
        day: SeededDay(DayKind.HOLIDAY, chinese.get(str(name), str(name)), str(name))
        for day, name in chinese_calendar.holidays.items()
        if day.year == year
    }
    days.update(
        (day, _make_up_day(chinese.get(str(name), str(name)), str(name)))
        for day, name in chinese_calendar.workdays.items()
        if day.year == year
    )
    return days


def _from_holidays(year: int) -> dict[date, SeededDay] | None:
    official = country_holidays("CN", years=year, language="en_US")
    in_chinese = country_holidays("CN", years=year, language="zh_CN")
    make_up_days = sorted(day for day in official.weekend_workdays if day.year == year)
    names = {day: str(name) for day, name in official.items() if day.year == year}
    if not make_up_days or any(_ESTIMATED_MARK in name.lower() for name in names.values()):
        return None
    days = {
        day: SeededDay(DayKind.HOLIDAY, str(in_chinese.get(day, name)), name) for day, name in names.items()
    }
    days.update((day, SeededDay(DayKind.WORKDAY, "调休上班", "make-up working day")) for day in make_up_days)
    return days


@functools.lru_cache(maxsize=4)
def official_schedule(first_year: int, last_year: int) -> Seed:
    """The packaged official schedule of the years first_year..last_year (both included)."""
    days: dict[date, SeededDay] = {}
    years: dict[int, YearSource] = {}
    for year in range(first_year, last_year + 1):
        for source, read in (
            (YearSource.CHINESECALENDAR, _from_chinesecalendar),
            (YearSource.HOLIDAYS, _from_holidays),
        ):
            found = read(year)
            if found is not None:
                days.update(found)
                years[year] = source
                break
    return Seed(first_year, last_year, MappingProxyType(days), MappingProxyType(years))
