"""Maintenance SQL: windows (one row each, locked by the use case that changes it), the notices
users were sent (one row per window and notice), and what the due-time tick looks for."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from incident.maintenance.domain import Notice, NoticeKind, Window, WindowStatus
from vas_common.db import DbConnection

_COLUMNS = """
id, status, product_codes, services, starts_at, ends_at, text_zh, emergency, emergency_reason, notice,
remind_at, created_at, created_by, updated_at, started_at, completed_at, cancelled_at, cancel_reason
"""
_SELECT = f"SELECT {_COLUMNS} FROM maintenance_windows"
_NOTICE_COLUMNS = """
window_id, notice, kind, starts_at, ends_at, emergency, reason, actor, published_at, subscribers_notified,
counted_at
"""


def _window(row: asyncpg.Record) -> Window:
    values = dict(row)
    values["status"] = WindowStatus(values["status"])
    values["product_codes"] = tuple(values["product_codes"])
    values["services"] = tuple(values["services"])
    return Window(**values)


def _notice(row: asyncpg.Record) -> Notice:
    values = dict(row)
    values["kind"] = NoticeKind(values["kind"])
    return Notice(**values)


class MaintenanceRepository:
    async def get(self, conn: DbConnection, window_id: UUID, *, for_update: bool = False) -> Window | None:
        row = await conn.fetchrow(
            _SELECT + " WHERE id = $1" + (" FOR UPDATE" if for_update else ""), window_id
        )
        return _window(row) if row else None

    async def windows(
        self,
        conn: DbConnection,
        statuses: list[WindowStatus] | None,
        ending_after: datetime | None,
        limit: int,
    ) -> list[Window]:
        rows = await conn.fetch(
            _SELECT
            + """
             WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
               AND ($2::timestamptz IS NULL OR ends_at > $2)
             ORDER BY starts_at, id LIMIT $3
            """,
            [s.value for s in statuses] if statuses else None,
            ending_after,
            limit,
        )
        return [_window(r) for r in rows]

    async def ran(self, conn: DbConnection, service: str, start: datetime, end: datetime) -> list[Window]:
        """Windows of `service` that have started and whose run touches [start, end)."""
        rows = await conn.fetch(
            _SELECT
            + """
             WHERE services @> ARRAY[$1::text] AND status IN ('in_progress', 'completed')
               AND started_at < $3 AND (completed_at IS NULL OR completed_at > $2)
             ORDER BY started_at, id
            """,
            service,
            start,
            end,
        )
        return [_window(r) for r in rows]

    async def touching(self, conn: DbConnection, since: datetime, limit: int) -> list[Window]:
        """Windows not over before `since`, or changed since (a cancellation, a completion)."""
        rows = await conn.fetch(
            _SELECT
            + """
             WHERE coalesce(completed_at, ends_at) >= $1 OR updated_at >= $1
             ORDER BY starts_at, id LIMIT $2
            """,
            since,
            limit,
        )
        return [_window(r) for r in rows]

    async def save(self, conn: DbConnection, w: Window) -> None:
        """Insert a window, or write its new state over the old (the caller holds its lock)."""
        await conn.execute(
            f"""
            INSERT INTO maintenance_windows ({_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
            ON CONFLICT (id) DO UPDATE
               SET status = EXCLUDED.status, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                   emergency = EXCLUDED.emergency, emergency_reason = EXCLUDED.emergency_reason,
                   notice = EXCLUDED.notice, remind_at = EXCLUDED.remind_at, updated_at = EXCLUDED.updated_at,
                   started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
                   cancelled_at = EXCLUDED.cancelled_at, cancel_reason = EXCLUDED.cancel_reason
            """,
            w.id,
            w.status.value,
            list(w.product_codes),
            list(w.services),
            w.starts_at,
            w.ends_at,
            w.text_zh,
            w.emergency,
            w.emergency_reason,
            w.notice,
            w.remind_at,
            w.created_at,
            w.created_by,
            w.updated_at,
            w.started_at,
            w.completed_at,
            w.cancelled_at,
            w.cancel_reason,
        )

    async def due(self, conn: DbConnection, now: datetime, limit: int) -> list[Window]:
        """Windows with a reminder, a start or an end that has fallen due, locked for this tick:
        another replica's tick skips them, and finds them done once this one commits."""
        rows = await conn.fetch(
            _SELECT
            + """
             WHERE (status = 'scheduled' AND (remind_at <= $1 OR starts_at <= $1))
                OR (status = 'in_progress' AND ends_at <= $1)
             ORDER BY starts_at LIMIT $2
               FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        return [_window(r) for r in rows]

    # -- notices ---------------------------------------------------------------------------

    async def add_notice(self, conn: DbConnection, n: Notice) -> bool:
        """Records a notice; False when it was recorded before (then it must not be sent again)."""
        added = await conn.fetchval(
            f"""
            INSERT INTO maintenance_notices ({_NOTICE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            n.window_id,
            n.notice,
            n.kind.value,
            n.starts_at,
            n.ends_at,
            n.emergency,
            n.reason,
            n.actor,
            n.published_at,
        )
        return bool(added)

    async def notices_of(self, conn: DbConnection, window_id: UUID) -> list[Notice]:
        rows = await conn.fetch(
            f"SELECT {_NOTICE_COLUMNS} FROM maintenance_notices WHERE window_id = $1 ORDER BY notice",
            window_id,
        )
        return [_notice(r) for r in rows]

    async def notices_of_many(self, conn: DbConnection, window_ids: list[UUID]) -> list[Notice]:
        rows = await conn.fetch(
            f"""
            SELECT {_NOTICE_COLUMNS} FROM maintenance_notices WHERE window_id = ANY($1::uuid[])
             ORDER BY window_id, notice
            """,
            window_ids,
        )
        return [_notice(r) for r in rows]

    async def count_sent(
        self, conn: DbConnection, window_id: UUID, notice: int, sent: int, at: datetime
    ) -> bool:
        """The subscription service's count of a notice; the largest count it has given stays (a
        redelivered answer repeats it). False when the notice is not one of this service's."""
        updated = await conn.fetchval(
            """
            UPDATE maintenance_notices
               SET subscribers_notified = GREATEST(coalesce(subscribers_notified, 0), $3), counted_at = $4
             WHERE window_id = $1 AND notice = $2 RETURNING true
            """,
            window_id,
            notice,
            sent,
            at,
        )
        return bool(updated)
