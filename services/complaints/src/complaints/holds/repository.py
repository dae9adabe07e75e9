"""Dispute SQL: each complaint's hold (one row, each transition once) and its refund requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from complaints.holds.domain import RefundOutcome, RefundRequest
from vas_common.db import DbConnection

_REFUND_COLUMNS = """
request_id, complaint_id, event_id, msisdn, charge_id, amount_fen, reason, requested_at, outcome,
refund_charge_id, failure_code, settled_at
"""


@dataclass(frozen=True)
class DisputeHold:
    complaint_id: UUID
    msisdn: str
    holder: str
    placed_at: datetime
    released_at: datetime | None
    placements: int

    @property
    def held(self) -> bool:
        return self.released_at is None


def _refund(row: asyncpg.Record) -> RefundRequest:
    values = dict(row)
    values["outcome"] = RefundOutcome(values["outcome"]) if values["outcome"] else None
    return RefundRequest(**values)


class DisputeRepository:
    async def hold_of(self, conn: DbConnection, complaint_id: UUID) -> DisputeHold | None:
        row = await conn.fetchrow(
            """
            SELECT complaint_id, msisdn, holder, placed_at, released_at, placements
              FROM complaint_holds WHERE complaint_id = $1
            """,
            complaint_id,
        )
        return DisputeHold(**dict(row)) if row else None

    async def place(
        self, conn: DbConnection, complaint_id: UUID, msisdn: str, holder: str, at: datetime
    ) -> bool:
        """True when this placed the hold (first time, or again after a release); False when it
        was held already: the placement is announced only when True."""
        placed = await conn.fetchval(
            """
            INSERT INTO complaint_holds AS h (complaint_id, msisdn, holder, placed_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (complaint_id) DO UPDATE
               SET placed_at = EXCLUDED.placed_at, released_at = NULL, placements = h.placements + 1
             WHERE h.released_at IS NOT NULL
            RETURNING true
            """,
            complaint_id,
            msisdn,
            holder,
            at,
        )
        return bool(placed)

    async def release(self, conn: DbConnection, complaint_id: UUID, at: datetime) -> bool:
        """True when this released the hold; False when there was none held."""
        released = await conn.fetchval(
            """
            UPDATE complaint_holds SET released_at = $2
             WHERE complaint_id = $1 AND released_at IS NULL RETURNING true
            """,
            complaint_id,
            at,
        )
        return bool(released)

    # -- refunds ---------------------------------------------------------------------------

    async def add_refund(self, conn: DbConnection, r: RefundRequest) -> None:
        await conn.execute(
            """
            INSERT INTO complaint_refunds (request_id, complaint_id, event_id, msisdn, charge_id, amount_fen,
                                           reason, requested_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            r.request_id,
            r.complaint_id,
            r.event_id,
            r.msisdn,
            r.charge_id,
            r.amount_fen,
            r.reason,
            r.requested_at,
        )

    async def refund(self, conn: DbConnection, request_id: UUID) -> RefundRequest | None:
        row = await conn.fetchrow(
            f"SELECT {_REFUND_COLUMNS} FROM complaint_refunds WHERE request_id = $1", request_id
        )
        return _refund(row) if row else None

    async def refunds_of(self, conn: DbConnection, complaint_id: UUID) -> list[RefundRequest]:
        rows = await conn.fetch(
            f"SELECT {_REFUND_COLUMNS} FROM complaint_refunds WHERE complaint_id = $1 ORDER BY requested_at",
            complaint_id,
        )
        return [_refund(r) for r in rows]

    async def settle_refund(
        self,
        conn: DbConnection,
        request_id: UUID,
        outcome: RefundOutcome,
        refund_charge_id: UUID | None,
        failure_code: str | None,
        at: datetime,
    ) -> bool:
        """True when this settled the request; False when it was settled before (the answer came
        again): the outcome lands on the timeline only when True."""
        settled = await conn.fetchval(
            """
            UPDATE complaint_refunds
               SET outcome = $2, refund_charge_id = $3, failure_code = $4, settled_at = $5
             WHERE request_id = $1 AND outcome IS NULL RETURNING true
            """,
            request_id,
            outcome.value,
            refund_charge_id,
            failure_code,
            at,
        )
        return bool(settled)
