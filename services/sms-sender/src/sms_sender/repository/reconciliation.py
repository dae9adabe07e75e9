"""Segments whose receipt has not come: found for query_sm, and when they were last asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sms_sender.domain import GIVEN_UP_STAT, MessageKey
from vas_common.db import DbConnection


@dataclass(frozen=True)
class AwaitedSegment:
    smsc_message_id: str
    source_addr: str  # query_sm names a message by its SMSC id and the source it was sent from
    route: str | None  # the SMSC route that took it (a standby's ids may repeat the primary's)


class ReconciliationRepository:
    async def claim_awaiting_receipt(
        self,
        conn: DbConnection,
        submitted_before: datetime,
        queried_before: datetime,
        limit: int,
        now: datetime,
    ) -> list[AwaitedSegment]:
        """The segments to ask about, marked asked (`queried_at`) in the same statement, so the
        sweeps of other dispatchers skip them."""
        rows = await conn.fetch(
            """
            WITH due AS (
                SELECT message_id, seq, accepted_at
                  FROM segments
                 WHERE status = 'submitted' AND smsc_message_id IS NOT NULL
                   AND submitted_at < $1 AND (queried_at IS NULL OR queried_at < $2)
                 ORDER BY submitted_at
                 LIMIT $3
                   FOR UPDATE SKIP LOCKED
            )
            UPDATE segments s
               SET queried_at = $4
              FROM due, messages m
             WHERE (s.message_id, s.seq, s.accepted_at) = (due.message_id, due.seq, due.accepted_at)
               AND m.id = s.message_id AND m.accepted_at = s.accepted_at
            RETURNING s.smsc_message_id, m.source_addr, s.route
            """,
            submitted_before,
            queried_before,
            limit,
            now,
        )
        return [AwaitedSegment(r["smsc_message_id"], r["source_addr"], r["route"]) for r in rows]

    async def release(self, conn: DbConnection, smsc_ids: list[str]) -> None:
        """Segments whose question got no answer: asked again at the next sweep."""
        await conn.execute(
            "UPDATE segments SET queried_at = NULL WHERE smsc_message_id = ANY($1::text[]) AND status = 'submitted'",
            smsc_ids,
        )

    async def give_up(
        self, conn: DbConnection, submitted_before: datetime, limit: int, now: datetime
    ) -> set[MessageKey]:
        """Segments still without a receipt or a final answer past their validity period: failed
        with the stat UNKNOWN, for good. Returns their messages, whose status follows."""
        rows = await conn.fetch(
            """
            WITH due AS (
                SELECT message_id, seq, accepted_at
                  FROM segments
                 WHERE status = 'submitted' AND submitted_at < $1
                 ORDER BY submitted_at
                 LIMIT $2
                   FOR UPDATE SKIP LOCKED
            )
            UPDATE segments s
               SET status = 'failed', receipt_stat = $4, done_at = $3
              FROM due
             WHERE (s.message_id, s.seq, s.accepted_at) = (due.message_id, due.seq, due.accepted_at)
            RETURNING s.message_id, s.accepted_at
            """,
            submitted_before,
            limit,
            now,
            GIVEN_UP_STAT,
        )
        return {(r["message_id"], r["accepted_at"]) for r in rows}
