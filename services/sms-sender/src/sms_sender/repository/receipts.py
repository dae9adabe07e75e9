"""Delivery receipts: applied to the segments they name, or kept until that segment is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from sms_sender.domain import MessageKey
from vas_common.db import DbConnection


@dataclass(frozen=True)
class ReceiptRow:
    smsc_message_id: str
    stat: str
    err: str
    status: str  # delivered | failed


def _receipt_row(r: asyncpg.Record) -> ReceiptRow:
    stat = r["stat"]
    return ReceiptRow(
        r["smsc_message_id"], stat, r["err"] or "", "delivered" if stat == "DELIVRD" else "failed"
    )


class ReceiptRepository:
    async def take_early_receipts(self, conn: DbConnection, smsc_ids: list[str]) -> list[ReceiptRow]:
        rows = await conn.fetch(
            "DELETE FROM early_receipts WHERE smsc_message_id = ANY($1::text[]) RETURNING smsc_message_id, stat, err",
            smsc_ids,
        )
        return [_receipt_row(r) for r in rows]

    async def take_resolvable_early_receipts(self, conn: DbConnection) -> list[ReceiptRow]:
        # receipts for ids we never recorded (an unanswered submit that we sent again) expire
        await conn.execute("DELETE FROM early_receipts WHERE received_at < now() - interval '1 day'")
        rows = await conn.fetch(
            """
            DELETE FROM early_receipts e USING segments s
             WHERE s.smsc_message_id = e.smsc_message_id
            RETURNING e.smsc_message_id, e.stat, e.err
            """
        )
        return [_receipt_row(r) for r in rows]

    async def take_recorded_early_receipts(self, conn: DbConnection, smsc_ids: list[str]) -> list[ReceiptRow]:
        """The early receipts of these SMSC ids whose segments are recorded by now."""
        rows = await conn.fetch(
            """
            DELETE FROM early_receipts e USING segments s
             WHERE e.smsc_message_id = ANY($1::text[]) AND s.smsc_message_id = e.smsc_message_id
            RETURNING e.smsc_message_id, e.stat, e.err
            """,
            smsc_ids,
        )
        return [_receipt_row(r) for r in rows]

    async def _mark_segments(
        self, conn: DbConnection, receipts: Sequence[ReceiptRow], at: datetime
    ) -> list[asyncpg.Record]:
        return await conn.fetch(
            """
            UPDATE segments s
               SET status = r.status, receipt_stat = r.stat, done_at = $5
              FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(smsc_id, stat, err, status)
             WHERE s.smsc_message_id = r.smsc_id AND s.status = 'submitted'
            RETURNING s.message_id, s.accepted_at, s.smsc_message_id
            """,
            [r.smsc_message_id for r in receipts],
            [r.stat for r in receipts],
            [r.err for r in receipts],
            [r.status for r in receipts],
            at,
        )

    async def apply_receipts(
        self, conn: DbConnection, receipts: Sequence[ReceiptRow], at: datetime
    ) -> set[MessageKey]:
        """Mark segments by SMSC id; keep receipts that match nothing yet. Returns affected message ids."""
        if not receipts:
            return set()
        rows = await self._mark_segments(conn, receipts, at)
        # Whatever matched no segment is kept: its segment may be committed a moment from now
        # (a receipt can overtake our own record of the submit_sm_resp), and is applied then.
        # A repeat of a receipt applied already (the SMSC sends it again when our deliver_sm_resp
        # was lost) names a segment that is final: it is dropped, not kept (and taken back by the
        # sweeper every second for ever). Each statement sees what is committed when it starts,
        # so a segment recorded since the UPDATE may show up still open here: it is marked now.
        matched = {r["smsc_message_id"] for r in rows}
        early = [r for r in receipts if r.smsc_message_id not in matched]
        if early:
            seen = await conn.fetch(
                "SELECT smsc_message_id, bool_or(status = 'submitted') AS open"
                "  FROM segments WHERE smsc_message_id = ANY($1::text[]) GROUP BY smsc_message_id",
                [r.smsc_message_id for r in early],
            )
            landed = {r["smsc_message_id"] for r in seen if r["open"]}
            if landed:
                rows = [
                    *rows,
                    *await self._mark_segments(conn, [r for r in early if r.smsc_message_id in landed], at),
                ]
            known = {r["smsc_message_id"] for r in seen}
            early = [r for r in early if r.smsc_message_id not in known]
        if early:
            await conn.execute(
                """
                INSERT INTO early_receipts (smsc_message_id, stat, err)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
                """,
                [r.smsc_message_id for r in early],
                [r.stat for r in early],
                [r.err for r in early],
            )
        return {(r["message_id"], r["accepted_at"]) for r in rows}
