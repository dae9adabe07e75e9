"""Signal SQL: the faults the health checks found, at most one open per (check, subject)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from incident.signals.domain import Fault
from vas_common.db import DbConnection

_COLUMNS = """
id, check_name, subject, incident_id, started_at, opened_at, last_failing_at, healthy_since, closed_at,
evidence, reporters
"""


def _fault(row: asyncpg.Record) -> Fault:
    values = dict(row)
    values["check"] = values.pop("check_name")
    evidence = values["evidence"]
    values["evidence"] = json.loads(evidence) if isinstance(evidence, str) else evidence
    values["reporters"] = tuple(values["reporters"])
    return Fault(**values)


class FaultRepository:
    async def open(self, conn: DbConnection, f: Fault) -> bool:
        """False when the (check, subject) has an open fault already (another replica, or the
        same report again, got there first): the unique index decides."""
        opened: bool | None = await conn.fetchval(
            f"""
            INSERT INTO signal_faults ({_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
            ON CONFLICT (check_name, subject) WHERE closed_at IS NULL DO NOTHING
            RETURNING true
            """,
            f.id,
            f.check,
            f.subject,
            f.incident_id,
            f.started_at,
            f.opened_at,
            f.last_failing_at,
            f.healthy_since,
            f.closed_at,
            json.dumps(f.evidence),
            list(f.reporters),
        )
        return bool(opened)

    async def failing(
        self,
        conn: DbConnection,
        check: str,
        subject: str,
        at: datetime,
        evidence: dict[str, Any],
        reporter: str,
    ) -> Fault | None:
        """A failing report on the open fault: its latest evidence, and the hold-down starts
        again (unless the report is older than the healthy ones). None when no fault is open."""
        row = await conn.fetchrow(
            f"""
            UPDATE signal_faults
               SET last_failing_at = greatest(last_failing_at, $3),
                   evidence = CASE WHEN $3 >= last_failing_at THEN $4::jsonb ELSE evidence END,
                   healthy_since = CASE WHEN $3 >= healthy_since THEN NULL ELSE healthy_since END,
                   reporters = CASE WHEN $5 = ANY(reporters) THEN reporters ELSE reporters || $5 END
             WHERE check_name = $1 AND subject = $2 AND closed_at IS NULL
            RETURNING {_COLUMNS}
            """,
            check,
            subject,
            at,
            json.dumps(evidence),
            reporter,
        )
        return _fault(row) if row else None

    async def healthy(self, conn: DbConnection, check: str, subject: str, at: datetime) -> None:
        """A healthy report after the last failing one: the fault has been healthy since then."""
        await conn.execute(
            """
            UPDATE signal_faults SET healthy_since = least(coalesce(healthy_since, $3), $3)
             WHERE check_name = $1 AND subject = $2 AND closed_at IS NULL AND $3 > last_failing_at
            """,
            check,
            subject,
            at,
        )

    async def last_closed_failing(self, conn: DbConnection, check: str, subject: str) -> datetime | None:
        value: datetime | None = await conn.fetchval(
            "SELECT max(last_failing_at) FROM signal_faults WHERE check_name = $1 AND subject = $2"
            " AND closed_at IS NOT NULL",
            check,
            subject,
        )
        return value

    async def healed(self, conn: DbConnection, healthy_before: datetime, limit: int) -> list[Fault]:
        """Open faults healthy since before `healthy_before`, locked (another replica's tick skips them)."""
        rows = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM signal_faults
             WHERE closed_at IS NULL AND healthy_since <= $1
             ORDER BY healthy_since LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            healthy_before,
            limit,
        )
        return [_fault(r) for r in rows]

    async def close(self, conn: DbConnection, fault_id: UUID, at: datetime) -> None:
        await conn.execute("UPDATE signal_faults SET closed_at = $2 WHERE id = $1", fault_id, at)

    async def close_for_incident(self, conn: DbConnection, incident_id: UUID, at: datetime) -> int:
        status = await conn.execute(
            "UPDATE signal_faults SET closed_at = $2 WHERE incident_id = $1 AND closed_at IS NULL",
            incident_id,
            at,
        )
        return int(status.split()[-1])

    async def move(self, conn: DbConnection, from_incident: UUID, to_incident: UUID) -> None:
        await conn.execute(
            "UPDATE signal_faults SET incident_id = $2 WHERE incident_id = $1 AND closed_at IS NULL",
            from_incident,
            to_incident,
        )

    async def open_count(self, conn: DbConnection, incident_id: UUID) -> int:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM signal_faults WHERE incident_id = $1 AND closed_at IS NULL", incident_id
        )
        return count

    async def of_incident(self, conn: DbConnection, incident_id: UUID) -> list[Fault]:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM signal_faults WHERE incident_id = $1 ORDER BY opened_at", incident_id
        )
        return [_fault(r) for r in rows]
