"""The records' use cases: holds placed and released, the retention run, the export."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from incident.records import domain
from incident.records.domain import RecordHold, RetentionResult
from incident.records.repository import RecordsRepository
from vas_common.clock import Clock
from vas_common.errors import NotFound, ValidationFailed

logger = logging.getLogger(__name__)

# An export covers at most this much: a bigger one is asked for in parts.
EXPORT_MAX_PERIOD = timedelta(days=366)


class RecordNotFound(NotFound):
    code = "record_not_found"
    title = "No such incident or maintenance window"


class HoldNotFound(NotFound):
    code = "record_hold_not_found"
    title = "No such hold"


class ExportPeriodInvalid(ValidationFailed):
    code = "export_period_invalid"
    title = "The period must start before it ends and cover at most 366 days"


class RecordsService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        retention: timedelta | None,
        repository: RecordsRepository | None = None,
    ) -> None:
        if retention is not None:
            domain.retention_cutoff(clock.now(), retention)  # refuses a retention under 6 months
        self._pool = pool
        self._clock = clock
        self._retention = retention
        self._records = repository or RecordsRepository()

    async def place_hold(
        self, incident_id: UUID | None, window_id: UUID | None, holder: str, reason: str, actor: str
    ) -> tuple[RecordHold, bool]:
        """(the hold, whether it is new): a holder that already holds the record keeps its hold."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = (
                await self._records.incident_exists(conn, incident_id)
                if incident_id is not None
                else window_id is not None and await self._records.window_exists(conn, window_id)
            )
            if not found:
                raise RecordNotFound("no such incident or maintenance window")
            hold = RecordHold(
                uuid.uuid4(), incident_id, window_id, holder, reason, self._clock.now(), actor, None, None
            )
            placed = await self._records.place_hold(conn, hold)
            if placed is not None:
                return placed, True
            existing = await self._records.hold_in_force(conn, incident_id, window_id, holder)
            assert existing is not None
            return existing, False

    async def release_hold(self, hold_id: UUID, actor: str) -> RecordHold:
        async with self._pool.acquire() as conn:
            released = await self._records.release_hold(conn, hold_id, self._clock.now(), actor)
        if released is None:
            raise HoldNotFound(f"no hold {hold_id}")
        return released

    async def holds(self, *, in_force_only: bool = True) -> list[RecordHold]:
        async with self._pool.acquire() as conn:
            return await self._records.holds(conn, in_force_only=in_force_only)

    async def run_retention(self) -> RetentionResult | None:
        """Delete what ended before the retention period and nothing holds; None when records
        are kept for good (no retention period set)."""
        if self._retention is None:
            return None
        now = self._clock.now()
        cutoff = domain.retention_cutoff(now, self._retention)
        async with self._pool.acquire() as conn, conn.transaction():
            incidents, incidents_held = await self._records.delete_old_incidents(conn, cutoff)
            windows, windows_held = await self._records.delete_old_windows(conn, cutoff)
            await self._records.delete_old_message_impacts(conn, cutoff)
            result = RetentionResult(cutoff, incidents, windows, incidents_held, windows_held)
            await self._records.note_run(
                conn, uuid.uuid4(), now, (cutoff, incidents, windows, incidents_held, windows_held)
            )
        if incidents or windows:
            logger.info(
                "retention: %d incidents and %d maintenance windows ended before %s deleted; %d and %d held",
                incidents,
                windows,
                cutoff.isoformat(),
                incidents_held,
                windows_held,
            )
        return result

    async def export(self, start: datetime, end: datetime) -> dict[str, Any]:
        if not start < end or end - start > EXPORT_MAX_PERIOD:
            raise ExportPeriodInvalid("the period must start before it ends and cover at most 366 days")
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            records = await self._records.export(conn, start, end)
        return {"from": start, "to": end, "exported_at": self._clock.now(), **records}
