"""Availability of a service over a month: the impact intervals from the sources (incidents, and
the maintenance windows that ran: `maintenance_source`), computed by the stated rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from incident.availability import domain
from incident.availability.domain import (
    Announcement,
    AvailabilityRule,
    Figures,
    ImpactInterval,
    IntervalKind,
)
from incident.incidents.domain import ImpactType, Incident
from incident.incidents.repository import IncidentRepository
from incident.maintenance.domain import NoticeKind
from incident.maintenance.repository import MaintenanceRepository
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.errors import ValidationFailed

# Where impact intervals come from: (connection, service, start, end) -> the intervals touching it.
IntervalSource = Callable[[DbConnection, str, datetime, datetime], Awaitable[list[ImpactInterval]]]


class InvalidMonth(ValidationFailed):
    code = "invalid_month"
    title = "The month is not a month (YYYY-MM)"


_KINDS = {
    ImpactType.FULL: IntervalKind.FULL,
    ImpactType.PARTIAL: IntervalKind.PARTIAL,
    ImpactType.MAINTENANCE: IntervalKind.MAINTENANCE,
}


def incident_interval(i: Incident) -> ImpactInterval:
    return ImpactInterval(
        source="incident",
        source_id=i.id,
        kind=_KINDS[i.impact],
        start=i.impact_started_at,
        end=i.impact_ended_at,
        resolved_at=i.resolved_at,
    )


_ANNOUNCING = frozenset({NoticeKind.SCHEDULED, NoticeKind.RESCHEDULED})


def maintenance_source(windows: MaintenanceRepository, notice_period: timedelta) -> IntervalSource:
    """The maintenance windows of the service that ran, with the notices that announced their
    times, as the rule counts them (`domain.maintenance_intervals`)."""

    async def source(
        conn: DbConnection, service: str, start: datetime, end: datetime
    ) -> list[ImpactInterval]:
        ran = await windows.ran(conn, service, start, end)
        if not ran:
            return []
        told: dict[object, list[Announcement]] = {}
        for n in await windows.notices_of_many(conn, [w.id for w in ran]):
            if n.kind in _ANNOUNCING:
                told.setdefault(n.window_id, []).append(
                    Announcement(n.published_at, n.starts_at, n.ends_at, n.emergency)
                )
        intervals: list[ImpactInterval] = []
        for w in ran:
            assert w.started_at is not None  # ran() returns windows that have started
            intervals += domain.maintenance_intervals(
                w.id, w.started_at, w.completed_at, w.emergency, told.get(w.id, []), notice_period
            )
        return intervals

    return source


class AvailabilityService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        rule: AvailabilityRule,
        incidents: IncidentRepository | None = None,
        sources: Sequence[IntervalSource] = (),
    ) -> None:
        self._pool = pool
        self._clock = clock
        self.rule = rule
        self._incidents = incidents or IncidentRepository()
        self._sources: list[IntervalSource] = [self._from_incidents, *sources]

    def add_source(self, source: IntervalSource) -> None:
        """Another kind of interval (the maintenance windows announced on time)."""
        self._sources.append(source)

    async def _from_incidents(
        self, conn: DbConnection, service: str, start: datetime, end: datetime
    ) -> list[ImpactInterval]:
        return [incident_interval(i) for i in await self._incidents.impacting(conn, service, start, end)]

    async def intervals_in(
        self, conn: DbConnection, service: str, start: datetime, end: datetime
    ) -> list[ImpactInterval]:
        """Every interval of the service touching [start, end), from every source, read on the
        caller's connection (the status page reads them inside its own transaction)."""
        intervals: list[ImpactInterval] = []
        for source in self._sources:
            intervals += await source(conn, service, start, end)
        return intervals

    async def month(self, service: str, month: str) -> Figures:
        try:
            start, end = domain.month_bounds(month)
        except ValueError as exc:
            raise InvalidMonth(f"{month!r} is not a month: give YYYY-MM") from exc
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            intervals = await self.intervals_in(conn, service, start, end)
        return domain.compute(intervals, start, end, self._clock.now(), self.rule)
