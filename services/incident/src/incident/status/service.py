"""The status page's own use cases: keeping the catalogue as subscription.events announce it,
the published commitments, and what the page, its feed and its JSON show (`board`: everything,
read in one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg

from incident.availability.domain import AvailabilityRule, Figures, compute, day_bounds
from incident.availability.service import AvailabilityService
from incident.incidents.domain import TimelineEntry
from incident.incidents.repository import IncidentRepository
from incident.maintenance.domain import Notice, Window
from incident.maintenance.repository import MaintenanceRepository
from incident.status import domain
from incident.status.domain import (
    Commitment,
    DayBar,
    PublicIncident,
    PublishedProduct,
    ServiceState,
)
from incident.status.repository import StatusRepository
from vas_common.clock import Clock
from vas_common.errors import NotFound
from vas_common.events.subscription import ProductListing

# How long a discontinued product stays on the page (with its end date) after it ended.
ENDED_SHOWN_FOR = timedelta(days=90)
HISTORY_DAYS = 90
# Bounds on what one page reads (far above what 90 days hold; the page stays one read).
MOST_INCIDENTS = 5000
MOST_WINDOWS = 1000


class CommitmentNotFound(NotFound):
    code = "commitment_not_found"
    title = "No such commitment"


@dataclass(frozen=True)
class Published:
    """What the page publishes besides incidents and maintenance."""

    commitments: list[Commitment]
    products: list[PublishedProduct]


@dataclass(frozen=True)
class ServiceBoard:
    service: str
    state: ServiceState
    bars: list[DayBar]
    figures: Figures  # the whole history's availability by the rule


@dataclass(frozen=True)
class Board:
    """Everything the page shows, as of `now`."""

    now: datetime
    days: list[date]  # oldest first, today last (Asia/Shanghai)
    rule: AvailabilityRule
    target: float  # the promised availability: a day below it is drawn as breached
    services: list[ServiceBoard]
    incidents: list[PublicIncident]  # every incident touching the history, latest impact first
    windows: list[Window]  # every window touching the history or still to come
    notices: list[Notice]  # notices users were sent about those windows
    published: Published

    @property
    def current(self) -> list[PublicIncident]:
        return [p for p in self.incidents if p.incident.is_open]

    @property
    def upcoming(self) -> list[Window]:
        return domain.upcoming(self.windows, self.now)

    @property
    def ran(self) -> list[Window]:
        return [w for w in self.windows if w.started_at is not None]


class StatusService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        availability: AvailabilityService,
        services: Sequence[str],
        target: float,
        repository: StatusRepository | None = None,
        incidents: IncidentRepository | None = None,
        windows: MaintenanceRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._availability = availability
        self._services = tuple(services)
        self._target = target
        self._status = repository or StatusRepository()
        self._incidents = incidents or IncidentRepository()
        self._windows = windows or MaintenanceRepository()

    # -- from subscription.events ----------------------------------------------------------

    async def note_listing(self, listing: ProductListing) -> None:
        async with self._pool.acquire() as conn:
            await self._status.upsert_listing(
                conn,
                listing.product_id,
                listing.product_code,
                listing.partner_id,
                listing.model_dump(mode="json"),
                listing.occurred_at,
                self._clock.now(),
            )

    async def note_discontinuation(self, product_id: UUID, effective_at: datetime, reason: str) -> None:
        """A product announced to end (subscribers were told 30 days ahead); one never announced
        as published (before announcements existed) is not on the page and stays off it."""
        async with self._pool.acquire() as conn:
            await self._status.set_discontinuation(conn, product_id, effective_at, reason, self._clock.now())

    async def note_discontinued(self, product_id: UUID, at: datetime) -> None:
        async with self._pool.acquire() as conn:
            await self._status.set_discontinued(conn, product_id, at, self._clock.now())

    # -- what is published -----------------------------------------------------------------

    async def published(self) -> Published:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            commitments = await self._status.commitments(conn)
            products = await self._status.products(conn, ended_since=now - ENDED_SHOWN_FOR)
        return Published(commitments, products)

    async def board(self) -> Board:
        """The page's data in one read-only transaction: the services' days by the availability
        rule (the same intervals as `GET /v1/availability`), the incidents' public side, the
        maintenance windows and their notices, and what is published."""
        now = self._clock.now()
        days = domain.history_days(now, HISTORY_DAYS)
        start, _ = day_bounds(days[0])
        _, end = day_bounds(days[-1])
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            commitments = await self._status.commitments(conn)
            products = await self._status.products(conn, ended_since=now - ENDED_SHOWN_FOR)
            incidents = await self._incidents.touching(conn, start, MOST_INCIDENTS)
            entries: dict[UUID, list[TimelineEntry]] = {}
            for root, entry in await self._incidents.public_entries(conn, [i.id for i in incidents]):
                entries.setdefault(root, []).append(entry)
            windows = await self._windows.touching(conn, start, MOST_WINDOWS)
            notices = await self._windows.notices_of_many(conn, [w.id for w in windows])
            intervals = {
                s: await self._availability.intervals_in(conn, s, start, end) for s in self._services
            }
        rule = self._availability.rule
        services = [
            ServiceBoard(
                service=s,
                state=domain.state_now(s, incidents, windows, now),
                bars=domain.day_bars(intervals[s], days, now, rule, self._target),
                figures=compute(intervals[s], start, end, now, rule),
            )
            for s in self._services
        ]
        return Board(
            now=now,
            days=days,
            rule=rule,
            target=self._target,
            services=services,
            incidents=[PublicIncident(i, domain.public_updates(entries.get(i.id, []))) for i in incidents],
            windows=windows,
            notices=notices,
            published=Published(commitments, products),
        )

    async def commitments(self) -> list[Commitment]:
        async with self._pool.acquire() as conn:
            return await self._status.commitments(conn)

    async def change_commitment(self, key: str, title: str, promise: str, actor: str) -> Commitment:
        async with self._pool.acquire() as conn:
            changed = await self._status.update_commitment(
                conn, key, title, promise, self._clock.now(), actor
            )
        if changed is None:
            raise CommitmentNotFound(f"no commitment {key!r}")
        return changed
