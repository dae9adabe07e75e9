"""Complaint SQL: complaints and their event history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from complaints.complaint.domain import Complaint, ComplaintEvent, ComplaintStatus
from complaints.sla.domain import Category, Channel, EventKind
from vas_common.db import DbConnection

_COLUMNS = """
id, tracking_code, channel, category, msisdn, summary, status, created_at, updated_at, partner_id,
product_code, subscription_id, message_id, charge_id, solved_on_call, operator_reference,
operator_deadline, satisfaction
"""


def _complaint(row: asyncpg.Record | dict[str, Any]) -> Complaint:
    values = dict(row)
    values["channel"] = Channel(values["channel"])
    values["category"] = Category(values["category"])
    values["status"] = ComplaintStatus(values["status"])
    return Complaint(**values)


def _event(row: asyncpg.Record) -> ComplaintEvent:
    values = dict(row)
    values["kind"] = EventKind(values["kind"])
    detail = values["detail"]
    values["detail"] = json.loads(detail) if isinstance(detail, str) else detail
    return ComplaintEvent(**values)


class ComplaintRepository:
    async def insert(self, conn: DbConnection, c: Complaint, source_address: str | None) -> bool:
        """False when a complaint with this id exists already (an intake seen twice)."""
        status = await conn.execute(
            f"""
            INSERT INTO complaints ({_COLUMNS}, source_address)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
            ON CONFLICT (id) DO NOTHING
            """,
            c.id,
            c.tracking_code,
            c.channel.value,
            c.category.value,
            c.msisdn,
            c.summary,
            c.status.value,
            c.created_at,
            c.updated_at,
            c.partner_id,
            c.product_code,
            c.subscription_id,
            c.message_id,
            c.charge_id,
            c.solved_on_call,
            c.operator_reference,
            c.operator_deadline,
            c.satisfaction,
            source_address,
        )
        return status.endswith(" 1")

    async def get(
        self, conn: DbConnection, complaint_id: UUID, *, for_update: bool = False
    ) -> Complaint | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM complaints WHERE id = $1{lock}", complaint_id)
        return _complaint(row) if row else None

    async def by_tracking_code(self, conn: DbConnection, code: str) -> Complaint | None:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM complaints WHERE tracking_code = $1", code)
        return _complaint(row) if row else None

    async def update_state(self, conn: DbConnection, c: Complaint) -> None:
        await conn.execute(
            "UPDATE complaints SET status = $2, satisfaction = $3, updated_at = $4 WHERE id = $1",
            c.id,
            c.status.value,
            c.satisfaction,
            c.updated_at,
        )

    async def recent_count(
        self,
        conn: DbConnection,
        since: datetime,
        *,
        msisdn: str | None = None,
        source_address: str | None = None,
    ) -> int:
        """Web complaints since `since` from this number, or from this client address."""
        count: int = await conn.fetchval(
            """
            SELECT count(*) FROM complaints
             WHERE created_at >= $1 AND channel = 'web'
               AND ($2::text IS NULL OR msisdn = $2) AND ($3::inet IS NULL OR source_address = $3::inet)
            """,
            since,
            msisdn,
            source_address,
        )
        return count

    async def open_ids(self, conn: DbConnection, after: UUID | None, limit: int) -> list[UUID]:
        rows = await conn.fetch(
            """
            SELECT id FROM complaints WHERE status IN ('open', 'waiting_on_user', 'resolved')
               AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2
            """,
            after,
            limit,
        )
        return [r["id"] for r in rows]

    async def queue(self, conn: DbConnection, limit: int) -> list[tuple[Complaint, datetime | None]]:
        """Open complaints with the earliest due time of their running clocks, soonest first."""
        rows = await conn.fetch(
            f"""
            SELECT {", ".join("c." + col.strip() for col in _COLUMNS.split(","))},
                   (SELECT min(k.due_at) FROM complaint_clocks k
                     WHERE k.complaint_id = c.id AND k.stopped_at IS NULL) AS next_due
              FROM complaints c
             WHERE c.status IN ('open', 'waiting_on_user')
             ORDER BY next_due NULLS LAST, c.created_at LIMIT $1
            """,
            limit,
        )
        return [(_complaint({k: v for k, v in r.items() if k != "next_due"}), r["next_due"]) for r in rows]

    # -- history ------------------------------------------------------------------------

    async def add_event(self, conn: DbConnection, e: ComplaintEvent) -> None:
        await conn.execute(
            """
            INSERT INTO complaint_events (id, complaint_id, kind, occurred_at, recorded_at, actor, note, detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
            """,
            e.id,
            e.complaint_id,
            e.kind.value,
            e.occurred_at,
            e.recorded_at,
            e.actor,
            e.note,
            json.dumps(e.detail or {}),
        )

    async def event_exists(self, conn: DbConnection, event_id: UUID) -> bool:
        return bool(
            await conn.fetchval("SELECT EXISTS (SELECT FROM complaint_events WHERE id = $1)", event_id)
        )

    async def latest_of_user(
        self, conn: DbConnection, msisdn: str, statuses: Sequence[ComplaintStatus]
    ) -> Complaint | None:
        """The user's most recently changed complaint in one of these statuses."""
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM complaints WHERE msisdn = $1 AND status = ANY($2::text[])"
            " ORDER BY updated_at DESC LIMIT 1",
            msisdn,
            [s.value for s in statuses],
        )
        return _complaint(row) if row else None

    async def unrated(
        self, conn: DbConnection, resolved_before: datetime, limit: int
    ) -> list[tuple[UUID, UUID]]:
        """(complaint id, resolution event id) of resolved complaints whose last resolution is
        older than `resolved_before` with no score, reopening or escalation since."""
        rows = await conn.fetch(
            """
            SELECT c.id, r.id AS resolution
              FROM complaints c
              CROSS JOIN LATERAL (SELECT id, occurred_at FROM complaint_events e
                                   WHERE e.complaint_id = c.id AND e.kind = 'resolved'
                                   ORDER BY occurred_at DESC LIMIT 1) r
             WHERE c.status = 'resolved' AND r.occurred_at < $1
               AND NOT EXISTS (SELECT FROM complaint_events x
                                WHERE x.complaint_id = c.id AND x.occurred_at >= r.occurred_at
                                  AND x.kind IN ('satisfaction_recorded', 'reopened', 'escalated'))
             LIMIT $2
            """,
            resolved_before,
            limit,
        )
        return [(r["id"], r["resolution"]) for r in rows]

    async def history(self, conn: DbConnection, complaint_id: UUID) -> list[ComplaintEvent]:
        rows = await conn.fetch(
            """
            SELECT id, complaint_id, kind, occurred_at, recorded_at, actor, note, detail
              FROM complaint_events WHERE complaint_id = $1 ORDER BY occurred_at, recorded_at
            """,
            complaint_id,
        )
        return [_event(r) for r in rows]

    async def histories(self, conn: DbConnection, ids: Sequence[UUID]) -> dict[UUID, list[ComplaintEvent]]:
        rows = await conn.fetch(
            """
            SELECT id, complaint_id, kind, occurred_at, recorded_at, actor, note, detail
              FROM complaint_events WHERE complaint_id = ANY($1::uuid[]) ORDER BY occurred_at, recorded_at
            """,
            list(ids),
        )
        found: dict[UUID, list[ComplaintEvent]] = {i: [] for i in ids}
        for row in rows:
            found[row["complaint_id"]].append(_event(row))
        return found

    async def many(
        self, conn: DbConnection, ids: Sequence[UUID], *, for_update: bool = False, skip_locked: bool = False
    ) -> list[Complaint]:
        """Locked in id order when `for_update` (two such batches never deadlock); `skip_locked`
        leaves out the ones another transaction holds."""
        lock = (" FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE") if for_update else ""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM complaints WHERE id = ANY($1::uuid[]) ORDER BY id{lock}", list(ids)
        )
        return [_complaint(r) for r in rows]
