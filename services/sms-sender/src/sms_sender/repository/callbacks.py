"""Status callbacks to partners: their signing secrets, and the deliveries the callback worker
claims, makes and records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sms_sender.domain import DeadCallback
from vas_common.db import DbConnection


@dataclass(frozen=True)
class DueCallback:
    """A delivery claimed by this worker, with its partner's current secret (None: there is none)."""

    id: int
    event_id: UUID
    partner_id: UUID
    url: str
    body: dict[str, Any]
    attempts: int
    created_at: datetime
    secret: str | None


class CallbackRepository:
    async def set_secret(self, conn: DbConnection, partner_id: UUID, secret: str) -> None:
        await conn.execute(
            """
            INSERT INTO callback_secrets (partner_id, secret) VALUES ($1, $2)
            ON CONFLICT (partner_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now()
            """,
            partner_id,
            secret,
        )

    async def enqueue(
        self, conn: DbConnection, rows: Sequence[tuple[UUID, UUID, UUID, str, dict[str, Any]]]
    ) -> None:
        """(event id, partner id, message id, url, body)."""
        await conn.executemany(
            """
            INSERT INTO callback_deliveries (event_id, partner_id, message_id, url, body)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING
            """,
            rows,
        )

    async def queue_depth(self, conn: DbConnection, cap: int) -> tuple[int, int, float]:
        """(deliveries pending, of which due now, seconds the longest-due one has waited): the
        counts stop at `cap`; both read the partial index of pending deliveries."""
        row = await conn.fetchrow(
            """
            SELECT count(*) AS pending,
                   count(*) FILTER (WHERE next_attempt_at <= now()) AS due,
                   coalesce(extract(epoch FROM now() - min(next_attempt_at)
                                    FILTER (WHERE next_attempt_at <= now())), 0)::float8 AS waited_s
              FROM (SELECT next_attempt_at FROM callback_deliveries WHERE state = 'pending'
                     ORDER BY next_attempt_at LIMIT $1) AS capped
            """,
            cap,
        )
        assert row is not None
        return int(row["pending"]), int(row["due"]), float(row["waited_s"])

    async def claim_due(
        self,
        conn: DbConnection,
        limit: int,
        lease: timedelta,
        partner_cap: int,
        partners_in_flight: Mapping[UUID, int],
    ) -> list[DueCallback]:
        """Take up to `limit` due deliveries, earliest first, but of each partner only as many as
        it has free slots (`partner_cap` less what this worker has in flight for it), and push
        their next attempt time out by `lease`, so another worker does not take them while this
        one is calling; a worker that dies lets them come back when the lease ends."""
        rows = await conn.fetch(
            """
            WITH RECURSIVE pending_partner AS (
                (SELECT partner_id FROM callback_deliveries WHERE state = 'pending'
                  ORDER BY partner_id LIMIT 1)
                UNION ALL
                SELECT (SELECT c.partner_id FROM callback_deliveries c
                         WHERE c.state = 'pending' AND c.partner_id > p.partner_id
                         ORDER BY c.partner_id LIMIT 1)
                  FROM pending_partner p WHERE p.partner_id IS NOT NULL
            ),
            room AS (
                SELECT p.partner_id, $3 - coalesce(busy.in_flight, 0) AS free
                  FROM pending_partner p
                  LEFT JOIN unnest($4::uuid[], $5::int[]) AS busy(partner_id, in_flight)
                    USING (partner_id)
                 WHERE p.partner_id IS NOT NULL
            ),
            due AS (
                SELECT picked.id FROM room r
                 CROSS JOIN LATERAL (
                    SELECT c.id, c.next_attempt_at FROM callback_deliveries c
                     WHERE c.partner_id = r.partner_id AND c.state = 'pending'
                       AND c.next_attempt_at <= now()
                     ORDER BY c.next_attempt_at LIMIT r.free
                       FOR UPDATE SKIP LOCKED) picked
                 WHERE r.free > 0
                 ORDER BY picked.next_attempt_at LIMIT $1
            )
            UPDATE callback_deliveries d
               SET next_attempt_at = now() + $2::interval, attempts = d.attempts + 1
              FROM due
             WHERE d.id = due.id
            RETURNING d.id, d.event_id, d.partner_id, d.url, d.body, d.attempts, d.created_at,
                      (SELECT secret FROM callback_secrets s WHERE s.partner_id = d.partner_id) AS secret
            """,
            limit,
            lease,
            partner_cap,
            list(partners_in_flight),
            list(partners_in_flight.values()),
        )
        return [DueCallback(**dict(r)) for r in rows]

    async def mark_delivered(self, conn: DbConnection, delivery_id: int) -> None:
        await conn.execute(
            "UPDATE callback_deliveries SET state = 'delivered', delivered_at = now(), last_error = NULL WHERE id = $1",
            delivery_id,
        )

    async def reschedule(self, conn: DbConnection, delivery_id: int, delay: timedelta, error: str) -> None:
        await conn.execute(
            "UPDATE callback_deliveries SET next_attempt_at = now() + $2::interval, last_error = $3 WHERE id = $1",
            delivery_id,
            delay,
            error,
        )

    async def postpone(self, conn: DbConnection, delivery_id: int, delay: timedelta, reason: str) -> None:
        """Due again after `delay`, the claim not counted as an attempt (no call was made)."""
        await conn.execute(
            """
            UPDATE callback_deliveries
               SET next_attempt_at = now() + $2::interval, attempts = attempts - 1, last_error = $3
             WHERE id = $1
            """,
            delivery_id,
            delay,
            reason,
        )

    async def mark_dead(self, conn: DbConnection, delivery_id: int, error: str) -> None:
        await conn.execute(
            "UPDATE callback_deliveries SET state = 'dead', last_error = $2 WHERE id = $1", delivery_id, error
        )

    async def dead(self, conn: DbConnection, partner_id: UUID, limit: int) -> list[DeadCallback]:
        rows = await conn.fetch(
            """
            SELECT event_id, message_id, url, attempts, last_error, created_at, body FROM callback_deliveries
             WHERE partner_id = $1 AND state = 'dead' ORDER BY id LIMIT $2
            """,
            partner_id,
            limit,
        )
        return [DeadCallback(**dict(r)) for r in rows]
