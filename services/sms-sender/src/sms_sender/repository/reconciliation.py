"""Segments whose receipt has not come: found for query_sm, and when they were last asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vas_common.db import DbConnection


@dataclass(frozen=True)
class AwaitedSegment:
    smsc_message_id: str
    source_addr: str  # query_sm names a message by its SMSC id and the source it was sent from


class ReconciliationRepository:
    async def awaiting_receipt(
        self, conn: DbConnection, submitted_before: datetime, queried_before: datetime, limit: int
    ) -> list[AwaitedSegment]:
        rows = await conn.fetch(
            """
            SELECT s.smsc_message_id, m.source_addr
              FROM segments s
              JOIN messages m ON m.id = s.message_id AND m.accepted_at = s.accepted_at
             WHERE s.status = 'submitted' AND s.smsc_message_id IS NOT NULL
               AND s.submitted_at < $1 AND (s.queried_at IS NULL OR s.queried_at < $2)
             ORDER BY s.submitted_at
             LIMIT $3
            """,
            submitted_before,
            queried_before,
            limit,
        )
        return [AwaitedSegment(r["smsc_message_id"], r["source_addr"]) for r in rows]

    async def mark_queried(self, conn: DbConnection, smsc_ids: list[str], at: datetime) -> None:
        await conn.execute(
            "UPDATE segments SET queried_at = $2 WHERE smsc_message_id = ANY($1::text[]) AND status = 'submitted'",
            smsc_ids,
            at,
        )
