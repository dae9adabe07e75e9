"""Scheduled changes SQL: dated notices waiting for their date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vas_common.db import DbConnection


@dataclass(frozen=True)
class ScheduledChange:
    id: UUID
    kind: str  # discontinue_product | suspend_user
    product_id: UUID | None
    msisdn: str | None
    effective_at: datetime
    reason: str
    created_at: datetime


class ScheduledChangeRepository:
    async def add(self, conn: DbConnection, change: ScheduledChange) -> None:
        await conn.execute(
            """
            INSERT INTO scheduled_changes (id, kind, product_id, msisdn, effective_at, reason, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            change.id,
            change.kind,
            change.product_id,
            change.msisdn,
            change.effective_at,
            change.reason,
            change.created_at,
        )

    async def due(self, conn: DbConnection, now: datetime) -> list[ScheduledChange]:
        rows = await conn.fetch(
            """
            SELECT id, kind, product_id, msisdn, effective_at, reason, created_at FROM scheduled_changes
             WHERE applied_at IS NULL AND effective_at <= $1 ORDER BY effective_at FOR UPDATE SKIP LOCKED
            """,
            now,
        )
        return [ScheduledChange(**dict(r)) for r in rows]

    async def mark_applied(self, conn: DbConnection, change_id: UUID, at: datetime) -> None:
        await conn.execute("UPDATE scheduled_changes SET applied_at = $2 WHERE id = $1", change_id, at)
