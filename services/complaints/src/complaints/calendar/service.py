"""Calendar use cases: the current calendar for the SLA clocks (cached), and the administrator's
changes (day overrides, years declared complete, working hours).

The calendar is the packaged official schedule (`seed`) with the stored rows applied. Each
process caches it and re-reads it when the stored revision moves: right after a change made
through this service, and otherwise at most every `recheck_interval_s`, so that a change made
through another replica arrives within that time. Whoever computes with the calendar (the SLA
clocks) learns of a new calendar through `add_listener` or `changed_since`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from datetime import time as time_of_day

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from complaints.calendar import domain
from complaints.calendar.domain import (
    BusinessCalendar,
    CalendarYear,
    DayKind,
    DayOverride,
    WorkingHours,
    YearDeclaration,
)
from complaints.calendar.repository import CalendarRepository, CalendarRows
from complaints.calendar.seed import Seed, official_schedule
from vas_common.clock import Clock
from vas_common.db import DATABASE_UNAVAILABLE
from vas_common.errors import NotFound, ValidationFailed
from vas_common.types import EARLIEST_YEAR, LATEST_YEAR

logger = logging.getLogger(__name__)

# The packaged schedule is read for these years around the clock's; beyond them no package has
# data anyway, and such a year is reported missing like any other.
SEED_YEARS_AHEAD = 10

# Called with the new calendar and its version after the calendar changed (not at the first load).
CalendarListener = Callable[[BusinessCalendar, int], Awaitable[None]]


class OutOfCalendarRange(ValidationFailed):
    code = "calendar_out_of_range"
    title = "The calendar holds the years 2000 to 2999"


class InvalidWorkingHours(ValidationFailed):
    code = "invalid_working_hours"
    title = "Working hours must be a local start before a local end"


class OverrideNotFound(NotFound):
    code = "calendar_override_not_found"
    title = "The day has no override"


@dataclass(frozen=True)
class _Loaded:
    calendar: BusinessCalendar
    rows: CalendarRows
    seed: Seed

    @property
    def version(self) -> int:
        return self.rows.settings.revision


class CalendarMetrics:
    def __init__(self, registry: CollectorRegistry | None, missing_years: Callable[[], int]) -> None:
        self.missing_years = Gauge(
            "complaints_calendar_missing_years",
            "Years among this one and the next (Asia/Shanghai) without official calendar data:"
            " their working days are assumed Mon-Fri",
            registry=registry,
        )
        self.missing_years.set_function(missing_years)


class CalendarService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        repository: CalendarRepository | None = None,
        *,
        registry: CollectorRegistry | None = None,
        schedule: Callable[[int, int], Seed] = official_schedule,
        recheck_interval_s: float = 2.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._calendars = repository or CalendarRepository()
        self._schedule = schedule
        self._recheck_interval_s = recheck_interval_s
        self._loaded: _Loaded | None = None
        self._checked_at = float("-inf")  # time.monotonic() of the last look at the stored revision
        self._reload_lock = asyncio.Lock()
        self._listeners: list[CalendarListener] = []
        self.metrics = CalendarMetrics(registry, lambda: len(self.missing_years_ahead()))

    # -- the calendar, for the SLA clocks ----------------------------------------------------

    async def calendar(self) -> BusinessCalendar:
        """The current calendar. Cached; re-read when the stored revision moved. With the database
        away, the last calendar read is used (and the failure logged); before any, it raises."""
        return (await self._current()).calendar

    @property
    def version(self) -> int:
        """The version of the calendar last read (the stored revision); 0 before the first read.
        It only grows: compare it with one noted earlier to tell that the calendar changed."""
        return self._loaded.version if self._loaded is not None else 0

    async def changed_since(self, version: int) -> bool:
        """Whether the calendar changed after `version` (as read now, not from the cache)."""
        await self._current(recheck=True)
        return self.version > version

    def add_listener(self, listener: CalendarListener) -> None:
        """`listener(calendar, version)` is awaited after each change of the calendar, in the task
        that noticed it (the request that made the change, or the call that found a change made
        elsewhere); a listener that recomputes many clocks should hand the work to a task of its
        own. A listener's failure is logged and does not undo the change."""
        self._listeners.append(listener)

    def missing_years_ahead(self) -> list[int]:
        """The years among this one and the next without official data, from the cached
        calendar (all of them before the first read)."""
        start, end = domain.years_ahead(self._clock.now())
        if self._loaded is None:
            return list(range(start.year, end.year + 1))
        return sorted(self._loaded.calendar.missing_years(start, end))

    async def readiness_warning(self) -> str | None:
        """For /readyz: the years ahead that run on the Mon–Fri fallback, if any."""
        await self._current()
        missing = self.missing_years_ahead()
        if not missing:
            return None
        years = ", ".join(str(y) for y in missing)
        return (
            f"no official holiday schedule for {years}: Mon-Fri working days are assumed; enter the"
            f" year's holidays and make-up working days and declare it complete (PUT /v1/calendar/years/{{year}})"
        )

    # -- the admin API -------------------------------------------------------------------------

    async def year(self, year: int | None = None) -> CalendarYear:
        """One year (this one by default) as an administrator sees it."""
        if year is None:
            year = self._clock.now().astimezone(domain.SHANGHAI).year
        _check_year(year)
        loaded = await self._current(recheck=True)
        return domain.calendar_year(
            year,
            loaded.seed.days,
            loaded.seed.years,
            loaded.rows.overrides,
            loaded.rows.years,
            loaded.rows.settings.hours,
            loaded.version,
        )

    async def set_day(self, day: date, kind: DayKind, note: str, actor: str) -> DayOverride:
        """Make `day` a working day or a holiday whatever the seed says (replacing an override)."""
        _check_year(day.year)
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock.now()
            await self._calendars.bump_revision(conn, now, actor)
            override = await self._calendars.upsert_override(conn, DayOverride(day, kind, note, now, actor))
        await self._current(recheck=True)
        return override

    async def remove_day(self, day: date, actor: str) -> DayOverride:
        """Drop the override of `day`: the seed (or Mon–Fri) decides again."""
        _check_year(day.year)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._calendars.bump_revision(conn, self._clock.now(), actor)
            removed = await self._calendars.delete_override(conn, day)
            if removed is None:
                raise OverrideNotFound(f"{day.isoformat()} has no override", extra={"day": day.isoformat()})
        await self._current(recheck=True)
        return removed

    async def declare_year(self, year: int, complete: bool, note: str, actor: str) -> CalendarYear:
        """Say that `year`'s official schedule is entered (through overrides) or, with
        `complete=False`, withdraw that word; a seeded year stays known either way."""
        _check_year(year)
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock.now()
            await self._calendars.bump_revision(conn, now, actor)
            await self._calendars.upsert_year(conn, YearDeclaration(year, complete, note, now, actor))
        return await self.year(year)

    async def set_hours(self, start: time_of_day, end: time_of_day, actor: str) -> WorkingHours:
        try:
            hours = WorkingHours(start, end)
        except ValueError as exc:
            raise InvalidWorkingHours(
                str(exc), extra={"start": start.isoformat(), "end": end.isoformat()}
            ) from exc
        async with self._pool.acquire() as conn, conn.transaction():
            await self._calendars.bump_revision(conn, self._clock.now(), actor)
            await self._calendars.set_hours(conn, hours)
        await self._current(recheck=True)
        return hours

    # -- cache ---------------------------------------------------------------------------------

    async def _current(self, *, recheck: bool = False) -> _Loaded:
        loaded = self._loaded
        fresh = time.monotonic() - self._checked_at < self._recheck_interval_s
        if loaded is not None and fresh and not recheck and _years_of(loaded.seed) == self._seed_years():
            return loaded
        async with self._reload_lock:
            previous = self._loaded
            try:
                loaded = await self._reload(previous)
            except DATABASE_UNAVAILABLE:
                if previous is None:
                    raise
                # Not again before the next recheck: each try may wait for the database's timeouts.
                self._checked_at = time.monotonic()
                logger.warning("calendar: cannot read the stored calendar; using the last one read")
                return previous
        # Outside the lock: a listener may read the calendar again.
        if previous is not None and loaded is not previous:
            logger.info("calendar changed: version %d -> %d", previous.version, loaded.version)
            await self._notify(loaded)
        return loaded

    async def _reload(self, previous: _Loaded | None) -> _Loaded:
        """The calendar as stored now: `previous` itself when nothing changed."""
        years = self._seed_years()
        if previous is not None and _years_of(previous.seed) == years:
            seed = previous.seed
        else:  # a second or so of package look-ups at the first read: off the event loop
            seed = await asyncio.to_thread(self._schedule, *years)
        async with self._pool.acquire() as conn:
            revision = await self._calendars.revision(conn)
            if previous is not None and revision == previous.version and previous.seed is seed:
                self._checked_at = time.monotonic()
                return previous
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                rows = await self._calendars.load(conn)
        calendar = domain.build_calendar(
            seed.days, seed.years, rows.overrides, rows.years, rows.settings.hours
        )
        loaded = self._loaded = _Loaded(calendar, rows, seed)
        self._checked_at = time.monotonic()
        return loaded

    async def _notify(self, loaded: _Loaded) -> None:
        for listener in self._listeners:
            try:
                await listener(loaded.calendar, loaded.version)
            except Exception:  # one listener's failure must not hide the change from the others
                logger.exception("calendar listener %r failed", listener)

    def _seed_years(self) -> tuple[int, int]:
        this_year = self._clock.now().astimezone(domain.SHANGHAI).year
        return EARLIEST_YEAR, min(this_year + SEED_YEARS_AHEAD, LATEST_YEAR)


def _years_of(seed: Seed) -> tuple[int, int]:
    return seed.first_year, seed.last_year


def _check_year(year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise OutOfCalendarRange(
            f"{year} is outside {EARLIEST_YEAR}..{LATEST_YEAR}",
            extra={"earliest": EARLIEST_YEAR, "latest": LATEST_YEAR},
        )
