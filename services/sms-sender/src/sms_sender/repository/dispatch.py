"""Dispatch records: which messages were sent already, and the outcome of each segment sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vas_common.db import DbConnection


@dataclass(frozen=True)
class SegmentOutcome:
    message_id: UUID
    accepted_at: datetime
    seq: int
    status: str
    smsc_message_id: str | None
    smpp_status: int | None
    attempts: int
    at: datetime
    route: str | None = None  # the SMSC route that took it, when there are two


class DispatchRepository:
    async def already_submitted(self, conn: DbConnection, message_ids: list[UUID]) -> set[UUID]:
        """Messages whose submit outcome is recorded (a replayed record must not send them again)."""
        rows = await conn.fetch(
            "SELECT DISTINCT message_id FROM segments WHERE message_id = ANY($1::uuid[])", message_ids
        )
        return {r["message_id"] for r in rows}

    async def record_segments(self, conn: DbConnection, outcomes: Sequence[SegmentOutcome]) -> None:
        # One statement over arrays, not executemany: PostgreSQL runs one plan for the batch
        # instead of one per row (the dispatcher's recording is most of the database's work).
        await conn.execute(
            """
            INSERT INTO segments (message_id, accepted_at, seq, status, smsc_message_id, smpp_status, attempts,
                                  submitted_at, done_at, route)
            SELECT message_id, accepted_at, seq, status, smsc_message_id, smpp_status, attempts, at,
                   CASE WHEN status = 'failed' THEN at END, route
              FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::text[], $5::text[], $6::int[],
                          $7::int[], $8::timestamptz[], $9::text[])
                   AS o(message_id, accepted_at, seq, status, smsc_message_id, smpp_status, attempts, at, route)
            ON CONFLICT (message_id, seq, accepted_at) DO NOTHING
            """,
            [o.message_id for o in outcomes],
            [o.accepted_at for o in outcomes],
            [o.seq for o in outcomes],
            [o.status for o in outcomes],
            [o.smsc_message_id for o in outcomes],
            [o.smpp_status for o in outcomes],
            [o.attempts for o in outcomes],
            [o.at for o in outcomes],
            [o.route for o in outcomes],
        )
