"""Incident use cases: open (by a person, or by a health signal inside its own transaction),
edit, write on the timeline, merge, resolve; read one with its timeline, list them. Each opens
its transaction, writes the timeline entry of the change and the event (outbox) with it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from incident.incidents import domain
from incident.incidents.domain import (
    Changes,
    EntryKind,
    ImpactType,
    Incident,
    IncidentStatus,
    Origin,
    Severity,
    TimelineEntry,
)
from incident.incidents.errors import (
    IncidentAlreadyResolved,
    IncidentMerged,
    IncidentNotFound,
    IncidentTimesInvalid,
    InvalidPageCursor,
    MergeNotAllowed,
    UnknownService,
)
from incident.incidents.repository import IncidentRepository
from vas_common.clock import Clock
from vas_common.cursors import CursorCipher, InvalidCursor
from vas_common.db import DbConnection
from vas_common.events.topics import INCIDENT_EVENTS
from vas_common.outbox import OutboxRepository


@dataclass(frozen=True)
class NewIncident:
    title: str
    services: tuple[str, ...]
    severity: Severity
    impact: ImpactType
    summary: str = ""
    products: tuple[str, ...] = ()
    impact_started_at: datetime | None = None  # default: detected_at
    detected_at: datetime | None = None  # default: now
    reported_at: datetime | None = None
    commander: str | None = None
    communications: str | None = None


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    timeline: list[TimelineEntry]  # its own and those of the incidents merged into it
    merged: list[UUID]


# Called inside the transaction of each change, with the incident before and after it: another
# sub-domain acts on the change in the same transaction (incident.signals: a fault follows its
# incident when resolved by hand or merged). Raising rolls the change back.
ChangeHook = Callable[[DbConnection, Incident | None, Incident, datetime], Awaitable[None]]

_CURSOR_KEY = "incident_cursor"


class IncidentService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        known_services: Sequence[str],
        cursors: CursorCipher,
        incidents: IncidentRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._known = tuple(known_services)
        self._cursors = cursors
        self._incidents = incidents or IncidentRepository()
        self._outbox = outbox or OutboxRepository()
        self._hooks: list[ChangeHook] = []

    @classmethod
    async def create(cls, pool: asyncpg.Pool, clock: Clock, known_services: Sequence[str]) -> IncidentService:
        async with pool.acquire() as conn:
            key = await IncidentRepository().service_key(conn, _CURSOR_KEY)
        return cls(pool, clock, known_services, CursorCipher(key))

    def add_hook(self, hook: ChangeHook) -> None:
        self._hooks.append(hook)

    @property
    def known_services(self) -> tuple[str, ...]:
        return self._known

    # -- open -----------------------------------------------------------------------------

    async def open(self, new: NewIncident, actor: str) -> IncidentView:
        async with self._pool.acquire() as conn, conn.transaction():
            incident = await self.open_in(conn, new, actor, Origin.MANUAL)
            timeline = await self._incidents.timeline(conn, [incident.id])
        return IncidentView(incident, timeline, [])

    async def open_in(
        self,
        conn: DbConnection,
        new: NewIncident,
        actor: str,
        origin: Origin,
        *,
        incident_id: UUID | None = None,
        entries: Sequence[tuple[EntryKind, str, dict[str, Any]]] = (),
    ) -> Incident:
        """Inside the caller's transaction: the incident, its `opened` entry (and `entries`),
        and incident.opened."""
        now = self._clock.now()
        self._check_services(new.services)
        detected = new.detected_at or now
        incident = Incident(
            id=incident_id or uuid.uuid4(),
            title=new.title,
            summary=new.summary,
            severity=new.severity,
            impact=new.impact,
            status=IncidentStatus.OPEN,
            origin=origin,
            services=tuple(dict.fromkeys(new.services)),
            products=tuple(dict.fromkeys(new.products)),
            impact_started_at=new.impact_started_at or detected,
            detected_at=detected,
            reported_at=new.reported_at,
            mitigated_at=None,
            resolved_at=None,
            commander=new.commander,
            communications=new.communications,
            merged_into=None,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        self._check_times(incident, now)
        incident = await self._incidents.insert(conn, incident)
        await self._incidents.add_entries(
            conn,
            [
                self._entry(incident.id, EntryKind.OPENED, now, actor, new.title),
                *(self._entry(incident.id, kind, now, actor, text, detail) for kind, text, detail in entries),
            ],
        )
        await self._publish(conn, incident, "opened")
        for hook in self._hooks:
            await hook(conn, None, incident, now)
        return incident

    # -- change ---------------------------------------------------------------------------

    async def edit(self, incident_id: UUID, changes: Changes, actor: str) -> IncidentView:
        now = self._clock.now()
        if changes.services is not None:
            self._check_services(changes.services)
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._for_change(conn, incident_id)
            result = domain.edited(before, changes, now)
            if result is not None:
                after, diff = result
                self._check_times(after, now)
                roles = {k: v for k, v in diff.items() if k in ("commander", "communications")}
                entries = []
                if roles:
                    text = ", ".join(f"{role}: {after_value}" for role, (_, after_value) in roles.items())
                    entries.append(self._entry(incident_id, EntryKind.ROLE_ASSIGNED, now, actor, text, roles))
                if set(diff) - set(roles):
                    rest = {k: v for k, v in diff.items() if k not in roles}
                    entries.append(
                        self._entry(incident_id, EntryKind.EDITED, now, actor, ", ".join(rest), rest)
                    )
                change = "edited" if set(diff) - set(roles) else "role_assigned"
                await self._change(conn, before, after, entries, change, now)
            return await self._view(conn, incident_id)

    async def add_entry(
        self, incident_id: UUID, kind: EntryKind, text: str, actor: str, at: datetime | None = None
    ) -> IncidentView:
        """A note, or a public status update (the status page shows it; incident.updated)."""
        now = self._clock.now()
        when = at or now
        if when > now + domain.CLOCK_SKEW:
            raise IncidentTimesInvalid("the entry's time is in the future")
        async with self._pool.acquire() as conn, conn.transaction():
            incident = await self._for_change(conn, incident_id)
            entry = self._entry(incident_id, kind, when, actor, text, public=kind is EntryKind.STATUS_UPDATE)
            if kind is EntryKind.STATUS_UPDATE:
                updated = replace(incident, updated_at=now, reported_at=incident.reported_at or when)
                await self._change(conn, incident, updated, [entry], "status_update", now)
            else:
                await self._incidents.add_entries(conn, [entry])
            return await self._view(conn, incident_id)

    async def resolve(
        self,
        incident_id: UUID,
        actor: str,
        *,
        at: datetime | None = None,
        mitigated_at: datetime | None = None,
        note: str = "",
    ) -> IncidentView:
        async with self._pool.acquire() as conn, conn.transaction():
            await self.resolve_in(conn, incident_id, actor, at=at, mitigated_at=mitigated_at, note=note)
            return await self._view(conn, incident_id)

    async def resolve_in(
        self,
        conn: DbConnection,
        incident_id: UUID,
        actor: str,
        *,
        at: datetime | None = None,
        mitigated_at: datetime | None = None,
        note: str = "",
        detail: dict[str, Any] | None = None,
    ) -> Incident:
        now = self._clock.now()
        before = await self._for_change(conn, incident_id)
        if before.status is IncidentStatus.RESOLVED:
            raise IncidentAlreadyResolved(f"incident {incident_id} was resolved at {before.resolved_at}")
        after = domain.resolved(before, at or now, mitigated_at, now)
        self._check_times(after, now)
        entry = self._entry(incident_id, EntryKind.RESOLVED, at or now, actor, note, detail)
        await self._change(conn, before, after, [entry], "resolved", now)
        return after

    async def merge(self, incident_id: UUID, into: UUID, actor: str) -> IncidentView:
        """`incident_id` is a duplicate of `into`: it points at `into` from now on, and `into`
        covers both. Both timelines are kept; reading `into` shows them together."""
        if incident_id == into:
            raise MergeNotAllowed("an incident cannot be merged into itself")
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            locked = {i.id: i for i in await self._incidents.many_for_update(conn, [incident_id, into])}
            if incident_id not in locked:
                raise IncidentNotFound(f"no incident {incident_id}")
            if into not in locked:
                raise IncidentNotFound(f"no incident {into} to merge into")
            duplicate, survivor = locked[incident_id], locked[into]
            if duplicate.merged_into is not None:
                raise IncidentMerged(f"incident {incident_id} was merged into {duplicate.merged_into}")
            if survivor.merged_into is not None:
                raise MergeNotAllowed(
                    f"incident {into} was merged into {survivor.merged_into}; merge into that"
                )
            gone, carries = domain.merged(duplicate, survivor, now)
            await self._change(
                conn,
                duplicate,
                gone,
                [
                    self._entry(
                        gone.id, EntryKind.MERGED, now, actor, f"merged into {into}", {"into": str(into)}
                    )
                ],
                "merged",
                now,
            )
            await self._change(
                conn,
                survivor,
                carries,
                [
                    self._entry(
                        into,
                        EntryKind.ABSORBED,
                        now,
                        actor,
                        f"{incident_id} merged in",
                        {"merged": str(incident_id)},
                    )
                ],
                "absorbed",
                now,
            )
            return await self._view(conn, into)

    # -- read -----------------------------------------------------------------------------

    async def view(self, incident_id: UUID) -> IncidentView:
        async with self._pool.acquire() as conn:
            return await self._view(conn, incident_id)

    async def page(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        statuses: Sequence[IncidentStatus] | None = None,
        service: str | None = None,
    ) -> tuple[list[Incident], str | None]:
        """Newest first; the cursor for the next page, or None when this is the last."""
        try:
            before = self._cursors.decode(cursor) if cursor else None
        except InvalidCursor as exc:
            raise InvalidPageCursor(f"{cursor!r} is not a cursor of GET /v1/incidents") from exc
        async with self._pool.acquire() as conn:
            found = await self._incidents.page(
                conn, before_seq=before, limit=limit + 1, statuses=statuses, service=service
            )
        more = len(found) > limit
        found = found[:limit]
        return found, self._cursors.encode(found[-1].seq) if more and found else None

    async def get_in(
        self, conn: DbConnection, incident_id: UUID, *, for_update: bool = False
    ) -> Incident | None:
        return await self._incidents.get(conn, incident_id, for_update=for_update)

    async def add_entries_in(self, conn: DbConnection, entries: Sequence[TimelineEntry]) -> None:
        await self._incidents.add_entries(conn, entries)

    # -- helpers --------------------------------------------------------------------------

    async def _view(self, conn: DbConnection, incident_id: UUID) -> IncidentView:
        incident = await self._incidents.get(conn, incident_id)
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        merged = await self._incidents.merged_into(conn, incident_id)
        return IncidentView(incident, await self._incidents.timeline(conn, [incident_id, *merged]), merged)

    async def _for_change(self, conn: DbConnection, incident_id: UUID) -> Incident:
        incident = await self._incidents.get(conn, incident_id, for_update=True)
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        if incident.merged_into is not None:
            raise IncidentMerged(f"incident {incident_id} was merged into {incident.merged_into}")
        return incident

    async def _change(
        self,
        conn: DbConnection,
        before: Incident,
        after: Incident,
        entries: list[TimelineEntry],
        change: str,
        now: datetime,
    ) -> None:
        if before.status is not IncidentStatus.RESOLVED and after.status is IncidentStatus.RESOLVED:
            change = "resolved"
        elif before.status is IncidentStatus.OPEN and after.status is IncidentStatus.MITIGATED:
            change = "mitigated"
            assert after.mitigated_at is not None
            entries = [
                *entries,
                self._entry(after.id, EntryKind.MITIGATED, after.mitigated_at, entries[0].actor),
            ]
        elif before.status is IncidentStatus.RESOLVED and after.status is not IncidentStatus.RESOLVED:
            entries = [*entries, self._entry(after.id, EntryKind.REOPENED, now, entries[0].actor, "")]
        await self._incidents.update(conn, after)
        await self._incidents.add_entries(conn, entries)
        await self._publish(conn, after, change)
        for hook in self._hooks:
            await hook(conn, before, after, now)

    async def _publish(self, conn: DbConnection, i: Incident, change: str) -> None:
        await self._outbox.enqueue(conn, INCIDENT_EVENTS, domain.event_of(i, change))

    def _check_services(self, services: Sequence[str]) -> None:
        unknown = sorted(set(services) - set(self._known))
        if unknown:
            raise UnknownService(
                f"unknown service {', '.join(unknown)}", extra={"known_services": list(self._known)}
            )

    def _check_times(self, incident: Incident, now: datetime) -> None:
        problems = domain.time_problems(incident, now)
        if problems:
            raise IncidentTimesInvalid("; ".join(problems), extra={"problems": problems})

    def _entry(
        self,
        incident_id: UUID,
        kind: EntryKind,
        at: datetime,
        actor: str,
        text: str = "",
        detail: dict[str, Any] | None = None,
        *,
        public: bool = False,
    ) -> TimelineEntry:
        return TimelineEntry(
            id=uuid.uuid4(),
            incident_id=incident_id,
            kind=kind,
            at=at,
            recorded_at=self._clock.now(),
            actor=actor,
            text=text,
            public=public,
            detail=detail,
        )

    entry = _entry  # for other sub-domains writing on an incident's timeline (incident.signals)
