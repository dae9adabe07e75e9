"""The business calendar: which days are working days in mainland China, and how much working
time lies between two instants. Pure: no I/O, no clock, no third-party data.

Instants are timezone-aware (stored and returned in UTC); days and working hours are Asia/Shanghai
local. A day is a working day when the calendar's `days` says so (a seeded public holiday or
make-up working day 调休, or an administrator's override), else when it is Monday to Friday. The
same rule serves years that have no official data: Mon–Fri is assumed, and `missing_years` names
them so that the service can warn.

Arithmetic walks day by day (one dictionary look-up and at most one interval a day), never minute
by minute: fifteen working days from any instant is a few dozen steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_ONE_DAY = timedelta(days=1)


class DayKind(StrEnum):
    WORKDAY = "workday"
    HOLIDAY = "holiday"


class DaySource(StrEnum):
    """Where a day's kind comes from: the packaged official schedule, or an administrator."""

    SEED = "seed"
    OVERRIDE = "override"


def plain_kind(day: date) -> DayKind:
    """The kind of a day by the week alone: Monday to Friday work, Saturday and Sunday rest."""
    return DayKind.WORKDAY if day.weekday() < 5 else DayKind.HOLIDAY


@dataclass(frozen=True)
class WorkingHours:
    """One working interval a day, Asia/Shanghai local time; `start` before `end`."""

    start: time = time(9, 0)
    end: time = time(18, 0)

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are local times of Asia/Shanghai, without a time zone")
        if self.start >= self.end:
            raise ValueError(f"working hours must start before they end ({self.start} >= {self.end})")

    @property
    def length(self) -> timedelta:
        return _since_midnight(self.end) - _since_midnight(self.start)


def _since_midnight(moment: time) -> timedelta:
    return timedelta(
        hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond
    )


def _require_aware(*instants: datetime) -> None:
    for instant in instants:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"an instant must be timezone-aware: {instant!r}")


@dataclass(frozen=True)
class BusinessCalendar:
    """The working calendar the SLA clocks count on.

    `days`: the seeded holidays and make-up working days with the overrides applied (an override
    wins); a day not in it is a working day when it is Monday to Friday.
    `known_years`: the years whose official schedule is in `days` (from the seed, or declared
    complete by an administrator); any other year runs on the Mon–Fri fallback.
    A calendar is a value: `days` must not change after it is made (each day's interval is
    cached); a changed calendar is a new one (`build_calendar`).
    """

    days: Mapping[date, DayKind] = field(default_factory=lambda: MappingProxyType({}))
    known_years: frozenset[int] = frozenset()
    hours: WorkingHours = WorkingHours()
    # Each day's working interval in UTC (None: not a working day), filled as days are asked
    # about: time zone conversions are most of the cost of a due time, and the same few hundred
    # days come up for every open complaint.
    _openings: dict[date, tuple[datetime, datetime] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def is_working_day(self, day: date) -> bool:
        kind = self.days.get(day)
        if kind is None:
            return day.weekday() < 5
        return kind is DayKind.WORKDAY

    def kind_of(self, day: date) -> DayKind:
        return DayKind.WORKDAY if self.is_working_day(day) else DayKind.HOLIDAY

    def missing_years(self, start: datetime, end: datetime) -> set[int]:
        """The years (Asia/Shanghai) that [start, end] touches and that have no official data."""
        _require_aware(start, end)
        first, last = sorted((start.astimezone(SHANGHAI).year, end.astimezone(SHANGHAI).year))
        return {year for year in range(first, last + 1) if year not in self.known_years}

    @property
    def working_day_length(self) -> timedelta:
        return self.hours.length

    def _opening(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval of the day in UTC, or None when it is not a working day."""
        try:
            return self._openings[day]
        except KeyError:
            pass
        opening = None
        if self.is_working_day(day):
            opening = (
                datetime.combine(day, self.hours.start, SHANGHAI).astimezone(UTC),
                datetime.combine(day, self.hours.end, SHANGHAI).astimezone(UTC),
            )
        self._openings[day] = opening
        return opening

    def working_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals within [start, end), in order, as UTC instants; clipped to it."""
        _require_aware(start, end)
        if end <= start:
            return
        day = start.astimezone(SHANGHAI).date()
        last = end.astimezone(SHANGHAI).date()
        while day <= last:
            opening = self._opening(day)
            if opening is not None:
                lower, upper = max(opening[0], start), min(opening[1], end)
                if lower < upper:
                    yield lower.astimezone(UTC), upper.astimezone(UTC)
            day += _ONE_DAY

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The working time within [start, end); zero when end is not after start."""
        total = timedelta()
        for lower, upper in self.working_intervals(start, end):
            total += upper - lower
        return total

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The first instant (UTC) at which `duration` of working time has passed since `start`.

        Outside working hours the count starts at the next opening. A duration that ends exactly
        at a closing gives that closing (18:00), not the next opening. A zero duration gives
        `start` itself."""
        _require_aware(start)
        if duration < timedelta():
            raise ValueError(f"a working duration cannot be negative: {duration}")
        start = start.astimezone(UTC)
        if not duration:
            return start
        remaining = duration
        day = start.astimezone(SHANGHAI).date()
        opening = self._opening(day)
        if opening is not None and start < opening[1]:  # the start's own day, from the start
            counting_from = max(opening[0], start)
            available = opening[1] - counting_from
            if remaining <= available:
                return counting_from + remaining
            remaining -= available
        while True:  # whole days from here on: no instant to compare, only durations
            day += _ONE_DAY
            opening = self._opening(day)
            if opening is not None:
                available = opening[1] - opening[0]
                if remaining <= available:
                    return opening[0] + remaining
                remaining -= available

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """`days` working days after `start`, as that many full working days of working time:
        2 working days from 16:00 on the last working day before a holiday week is 16:00 on the
        second working day after it (with 09:00–18:00 hours)."""
        if days < 0:
            raise ValueError(f"a number of working days cannot be negative: {days}")
        return self.add_working_time(start, days * self.working_day_length)


@dataclass(frozen=True)
class SeededDay:
    """A day of a packaged official schedule: a public holiday or a make-up working day, named in
    Chinese (`note`, what users and the API see) and in English for the staff console."""

    kind: DayKind
    note: str
    note_en: str


class YearSource(StrEnum):
    """Who vouches that a year's official schedule is in the calendar."""

    CHINESECALENDAR = "chinesecalendar"
    HOLIDAYS = "holidays"
    ADMINISTRATOR = "administrator"


@dataclass(frozen=True)
class DayOverride:
    """An administrator's word on one day; it wins over the seed."""

    day: date
    kind: DayKind
    note: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class YearDeclaration:
    """An administrator's word that a year's official schedule is (or is not) fully entered."""

    year: int
    complete: bool
    note: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class CalendarDay:
    """A day the calendar names (seeded or overridden), as the admin API lists it."""

    day: date
    kind: DayKind
    source: DaySource
    note: str
    seeded: SeededDay | None  # what the official schedule says, also when overridden
    override: DayOverride | None


@dataclass(frozen=True)
class CalendarYear:
    year: int
    known_by: YearSource | None  # None: no official data, the year runs on Mon–Fri
    declaration: YearDeclaration | None
    days: list[CalendarDay]
    hours: WorkingHours
    revision: int

    @property
    def known(self) -> bool:
        return self.known_by is not None


def build_calendar(
    seeded: Mapping[date, SeededDay],
    seeded_years: Mapping[int, YearSource],
    overrides: Iterable[DayOverride],
    declarations: Iterable[YearDeclaration],
    hours: WorkingHours,
) -> BusinessCalendar:
    """The calendar from its parts: an override wins over the seed, and a year is known when the
    seed has it or an administrator declared its schedule complete."""
    days = {day: entry.kind for day, entry in seeded.items()}
    days.update((override.day, override.kind) for override in overrides)
    declared = {d.year for d in declarations if d.complete}
    return BusinessCalendar(
        days=MappingProxyType(days), known_years=frozenset(seeded_years) | declared, hours=hours
    )


def calendar_year(
    year: int,
    seeded: Mapping[date, SeededDay],
    seeded_years: Mapping[int, YearSource],
    overrides: Iterable[DayOverride],
    declarations: Iterable[YearDeclaration],
    hours: WorkingHours,
    revision: int,
) -> CalendarYear:
    """One year as an administrator sees it: every day the seed or an override names, in order,
    and who vouches for the year."""
    overridden = {o.day: o for o in overrides if o.day.year == year}
    named = sorted({day for day in seeded if day.year == year} | set(overridden))
    days = []
    for day in named:
        override, seed = overridden.get(day), seeded.get(day)
        if override is not None:
            days.append(CalendarDay(day, override.kind, DaySource.OVERRIDE, override.note, seed, override))
        elif seed is not None:
            days.append(CalendarDay(day, seed.kind, DaySource.SEED, seed.note, seed, None))
    declaration = next((d for d in declarations if d.year == year), None)
    known_by = seeded_years.get(year)
    if known_by is None and declaration is not None and declaration.complete:
        known_by = YearSource.ADMINISTRATOR
    return CalendarYear(year, known_by, declaration, days, hours, revision)


def years_ahead(now: datetime) -> tuple[datetime, datetime]:
    """This year and the next (Asia/Shanghai), as the instants that bound them: the span whose
    missing official data the service warns about."""
    _require_aware(now)
    this_year = now.astimezone(SHANGHAI).year
    return (
        datetime(this_year, 1, 1, tzinfo=SHANGHAI),
        datetime(this_year + 2, 1, 1, tzinfo=SHANGHAI) - timedelta(microseconds=1),
    )
