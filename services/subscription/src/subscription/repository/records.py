"""Raw order records (原始数据) SQL: every order action and every SMS exchanged, with its time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from vas_common.db import AdvisoryLock, DbConnection
from vas_common.events.subscription import SYSTEM_FAILURES

CONTENT_DELIVERED = "content_delivered"


@dataclass(frozen=True)
class OrderRecord:
    occurred_at: datetime
    msisdn: str
    kind: str
    subscription_id: UUID | None
    product_code: str | None
    channel: str | None
    detail: dict[str, Any]


# Whether the user of order `s` tried to answer while it waited: an answer we could not read or
# a Y<n> we could not match to it (anything but a confirmation or "nothing pending"), unless the
# user went on to confirm another order (then this one was passed over, not failed).
_ATTEMPTED = """
    EXISTS (SELECT FROM order_records r
             WHERE r.msisdn = s.msisdn AND r.kind = 'confirmation_attempt'
               AND r.occurred_at >= s.requested_at
               AND r.occurred_at <= coalesce(s.ended_at, 'infinity')
               AND r.detail->>'outcome' NOT IN ('confirmed', 'no_pending')
               AND NOT EXISTS (SELECT FROM order_records c
                                WHERE c.msisdn = s.msisdn AND c.kind = 'confirmation_attempt'
                                  AND c.detail->>'outcome' = 'confirmed'
                                  AND c.occurred_at >= r.occurred_at
                                  AND c.occurred_at <= coalesce(s.ended_at, 'infinity')))
"""


class RecordRepository:
    async def add(
        self,
        conn: DbConnection,
        occurred_at: datetime,
        msisdn: str,
        kind: str,
        *,
        subscription_id: UUID | None = None,
        product_code: str | None = None,
        channel: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self.add_many(
            conn,
            [OrderRecord(occurred_at, msisdn, kind, subscription_id, product_code, channel, detail or {})],
        )

    async def add_many(self, conn: DbConnection, records: Sequence[OrderRecord]) -> None:
        """Many records in one statement (a batch of MO writes two for each)."""
        if not records:
            return
        await conn.execute(
            """
            INSERT INTO order_records (occurred_at, msisdn, kind, subscription_id, product_code, channel, detail)
            SELECT a, m, k, s, p, c, d
              FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::uuid[], $5::text[],
                          $6::text[], $7::jsonb[]) WITH ORDINALITY AS u(a, m, k, s, p, c, d, n)
             ORDER BY n  -- ids in the given order: a user's records read back as they happened
            """,
            [r.occurred_at for r in records],
            [r.msisdn for r in records],
            [r.kind for r in records],
            [r.subscription_id for r in records],
            [r.product_code for r in records],
            [r.channel for r in records],
            [r.detail for r in records],
        )

    async def add_content_delivered(
        self,
        conn: DbConnection,
        at: datetime,
        msisdn: str,
        product_code: str,
        partner_id: UUID,
        message_id: UUID,
        segments: int,
    ) -> bool:
        """The record of a product's content message delivered to the user, once per message and
        only when the sender owns the product; it names the user's open subscription to it, if any.
        True if written. Inside a transaction."""
        # A repeated status may carry another delivered time, hence another partition: no unique
        # index can span that, so the message's lock makes the existence check and the write one step.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            int(AdvisoryLock.CONTENT_RECORDS),
            str(message_id),
        )
        written = await conn.fetchval(
            """
            INSERT INTO order_records (occurred_at, msisdn, kind, subscription_id, product_code, detail)
            SELECT $1, $2, $3, s.id, p.code,
                   jsonb_build_object('message_id', $6::text, 'partner_id', p.partner_id::text, 'segments_total', $7::int)
              FROM products p
              LEFT JOIN subscriptions s
                ON s.product_id = p.id AND s.msisdn = $2 AND s.status IN ('pending', 'active', 'suspended')
             WHERE p.code = $4 AND p.partner_id = $5
               AND NOT EXISTS (SELECT 1 FROM order_records r
                                WHERE r.msisdn = $2 AND r.kind = $3 AND r.detail->>'message_id' = $6::text)
            RETURNING true
            """,
            at,
            msisdn,
            CONTENT_DELIVERED,
            product_code,
            partner_id,
            str(message_id),
            segments,
        )
        return bool(written)

    async def registration_outcomes(
        self, conn: DbConnection, since: datetime, until: datetime
    ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """What became of the orders placed in [since, until) (see SubscriptionService.
        registration_success), the confirmation attempts made in it by outcome, and the failed
        orders by reason (every failure reason, 0 when none). An order expired before its reason
        was kept is judged as then: failed (answer_unmatched) when its user had tried to answer,
        else never_answered."""
        orders = await conn.fetchrow(
            """
            WITH orders AS (
                SELECT s.confirmed_at IS NOT NULL AS confirmed, s.status, s.end_channel,
                       CASE WHEN s.end_channel IS DISTINCT FROM 'expiry' THEN NULL
                            WHEN s.expiry_reason IS NOT NULL THEN s.expiry_reason
                            WHEN """
            + _ATTEMPTED
            + """ THEN 'answer_unmatched' ELSE 'never_answered' END AS reason
                  FROM subscriptions s
                 WHERE s.requested_at >= $1 AND s.requested_at < $2
            )
            SELECT count(*) AS orders,
                   count(*) FILTER (WHERE confirmed) AS confirmed,
                   count(*) FILTER (WHERE NOT confirmed AND status = 'pending') AS waiting,
                   count(*) FILTER (WHERE NOT confirmed AND reason <> 'never_answered') AS failed,
                   count(*) FILTER (WHERE NOT confirmed AND reason = 'never_answered') AS never_answered,
                   count(*) FILTER (WHERE NOT confirmed AND status <> 'pending'
                                      AND end_channel IS DISTINCT FROM 'expiry') AS withdrawn,
                   """
            + ",\n                   ".join(
                f"count(*) FILTER (WHERE NOT confirmed AND reason = '{r.value}') AS {r.value}"
                for r in SYSTEM_FAILURES
            )
            + """
              FROM orders
            """,
            since,
            until,
        )
        attempts = await conn.fetch(
            """
            SELECT detail->>'outcome' AS outcome, count(*) AS n FROM order_records
             WHERE kind = 'confirmation_attempt' AND occurred_at >= $1 AND occurred_at < $2
             GROUP BY 1
            """,
            since,
            until,
        )
        assert orders is not None
        found = dict(orders)
        by_reason = {r.value: found.pop(r.value) for r in SYSTEM_FAILURES}
        return found, {r["outcome"]: r["n"] for r in attempts}, by_reason

    async def answered(self, conn: DbConnection, subscription_ids: Sequence[UUID]) -> set[UUID]:
        """Of these orders, those whose user tried to answer while they waited (see
        registration_outcomes: an order expiring with such an answer failed, on us)."""
        rows = await conn.fetch(
            "SELECT s.id FROM subscriptions s WHERE s.id = ANY($1::uuid[]) AND " + _ATTEMPTED,
            list(subscription_ids),
        )
        return {r["id"] for r in rows}

    async def of_user(
        self, conn: DbConnection, msisdn: str, since: datetime | None, until: datetime | None
    ) -> list[OrderRecord]:
        """The user's raw records in [since, until), oldest first (either bound may be open)."""
        rows = await conn.fetch(
            """
            SELECT occurred_at, msisdn, kind, subscription_id, product_code, channel, detail
              FROM order_records
             WHERE msisdn = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2)
               AND ($3::timestamptz IS NULL OR occurred_at < $3)
             ORDER BY occurred_at, id
            """,
            msisdn,
            since,
            until,
        )
        return [OrderRecord(**dict(r)) for r in rows]
