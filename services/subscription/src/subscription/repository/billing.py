"""Charges SQL: monthly fees, per-message fees and refunds (negative charges)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from subscription.domain import Charge
from vas_common.db import DbConnection

_COLUMNS = (
    "c.id, c.msisdn, c.subscription_id, c.product_id, p.code AS product_code, c.amount_fen, c.reason, "
    "c.charged_at, c.period, c.message_id, c.refund_of"
)


def _charge(row: asyncpg.Record) -> Charge:
    return Charge(**dict(row))


@dataclass(frozen=True)
class MonthlyCandidate:
    """A subscription to a monthly product that was active at some time in the period."""

    subscription_id: UUID
    msisdn: str
    product_id: UUID
    product_code: str
    price_fen: int
    first_month: str
    last_month: str
    confirmed_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class UserProduct:
    """Where a page of monthly candidates ends: the pages go by user and product."""

    msisdn: str
    product_id: UUID


_IN_PERIOD = """
    p.billing_type = 'monthly' AND s.status <> 'suspended'
    AND s.confirmed_at IS NOT NULL AND s.confirmed_at < $2
    AND (s.ended_at IS NULL OR s.ended_at > $1)
"""


class BillingRepository:
    async def monthly_candidates(
        self, conn: DbConnection, start: datetime, end: datetime, after: UserProduct | None, limit: int
    ) -> list[MonthlyCandidate]:
        """The subscriptions of up to `limit` (user, product) pairs after `after`, all of a pair's
        subscriptions in the period on one page (they owe one fee together). Keyset pages in
        (msisdn, product_id) order: two concurrent runs then insert in the same order and never
        deadlock. A suspended subscription is not charged (暂停期间不收费)."""
        rows = await conn.fetch(
            f"""
            WITH pairs AS (
                SELECT DISTINCT s.msisdn, s.product_id
                  FROM subscriptions s JOIN products p ON p.id = s.product_id
                 WHERE {_IN_PERIOD}
                   AND ($3::text IS NULL OR (s.msisdn, s.product_id) > ($3::text, $4::uuid))
                 ORDER BY s.msisdn, s.product_id LIMIT $5
            )
            SELECT s.id AS subscription_id, s.msisdn, s.product_id, p.code AS product_code, p.price_fen,
                   p.first_month, p.last_month, s.confirmed_at, s.ended_at
              FROM subscriptions s JOIN products p ON p.id = s.product_id
              JOIN pairs USING (msisdn, product_id)
             WHERE {_IN_PERIOD}
             ORDER BY s.msisdn, s.product_id, s.confirmed_at, s.id
            """,
            start,
            end,
            after.msisdn if after else None,
            after.product_id if after else None,
            limit,
        )
        return [MonthlyCandidate(**dict(r)) for r in rows]

    async def insert_once(self, conn: DbConnection, charge: Charge) -> bool:
        """False when the user's monthly fee for the product and period (charges_monthly_user_once)
        or the message's charge (charges_message_once) exists already: it is never charged twice."""
        inserted = await conn.fetchval(
            """
            INSERT INTO charges (id, msisdn, subscription_id, product_id, period, message_id, refund_of,
                                 amount_fen, reason, charged_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            charge.id,
            charge.msisdn,
            charge.subscription_id,
            charge.product_id,
            charge.period,
            charge.message_id,
            charge.refund_of,
            charge.amount_fen,
            charge.reason,
            charge.charged_at,
        )
        return bool(inserted)

    async def get(self, conn: DbConnection, charge_id: UUID, *, for_update: bool = False) -> Charge | None:
        lock = " FOR UPDATE OF c" if for_update else ""
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM charges c JOIN products p ON p.id = c.product_id WHERE c.id = $1{lock}",
            charge_id,
        )
        return _charge(row) if row else None

    async def refunded(self, conn: DbConnection, charge_id: UUID) -> int:
        """Fen returned so far by the refunds of a charge (a positive number)."""
        total = await conn.fetchval(
            "SELECT coalesce(-sum(amount_fen), 0) FROM charges WHERE refund_of = $1", charge_id
        )
        return int(total)

    async def of_user(self, conn: DbConnection, msisdn: str, start: datetime, end: datetime) -> list[Charge]:
        rows = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM charges c JOIN products p ON p.id = c.product_id
             WHERE c.msisdn = $1 AND c.charged_at >= $2 AND c.charged_at < $3
             ORDER BY c.charged_at, c.id
            """,
            msisdn,
            start,
            end,
        )
        return [_charge(r) for r in rows]

    # -- refunds a complaint asked for ---------------------------------------------------------

    async def claim_refund_request(
        self,
        conn: DbConnection,
        request_id: UUID,
        complaint_id: UUID,
        msisdn: str,
        charge_id: UUID,
        amount_fen: int,
        at: datetime,
    ) -> bool:
        """Mark the request handled; False when it was before (a redelivery: nothing to do). A
        second transaction claiming the same request waits here until the first one ends."""
        inserted = await conn.fetchval(
            """
            INSERT INTO refund_requests (id, complaint_id, msisdn, charge_id, amount_fen, handled_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (id) DO NOTHING RETURNING true
            """,
            request_id,
            complaint_id,
            msisdn,
            charge_id,
            amount_fen,
            at,
        )
        return bool(inserted)

    async def settle_refund_request(
        self, conn: DbConnection, request_id: UUID, refund_id: UUID | None, refused_code: str | None
    ) -> None:
        await conn.execute(
            "UPDATE refund_requests SET refund_id = $2, refused_code = $3 WHERE id = $1",
            request_id,
            refund_id,
            refused_code,
        )
