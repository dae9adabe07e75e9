"""Maintenance notice SQL: the active subscribers of some products, a page at a time in number
order, and the notices sent (one row per window, notice and subscriber)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vas_common.db import DbConnection


@dataclass(frozen=True)
class Subscriber:
    msisdn: str
    product_names: tuple[str, ...]  # of the products asked about, those this number subscribes to
    product_codes: tuple[str, ...]


class MaintenanceNoticeRepository:
    async def active_subscribers(
        self, conn: DbConnection, product_codes: Sequence[str], after: str | None, limit: int
    ) -> list[Subscriber]:
        """Numbers with an active subscription to any of the products, after `after` in number
        order; each once, with the names of those of its products."""
        rows = await conn.fetch(
            """
            SELECT s.msisdn, array_agg(p.name ORDER BY p.code) AS names, array_agg(p.code ORDER BY p.code) AS codes
              FROM subscriptions s JOIN products p ON p.id = s.product_id
             WHERE p.code = ANY($1::text[]) AND s.status = 'active' AND ($2::text IS NULL OR s.msisdn > $2)
             GROUP BY s.msisdn ORDER BY s.msisdn LIMIT $3
            """,
            list(product_codes),
            after,
            limit,
        )
        return [Subscriber(r["msisdn"], tuple(r["names"]), tuple(r["codes"])) for r in rows]

    async def mark_sent(
        self,
        conn: DbConnection,
        window_id: UUID,
        notice: int,
        sends: Sequence[tuple[str, UUID]],
        at: datetime,
    ) -> set[str]:
        """Records (number, request id) as sent; returns the numbers not recorded before (only
        those are sent the SMS)."""
        rows = await conn.fetch(
            """
            INSERT INTO maintenance_notices_sent (window_id, notice, msisdn, request_id, sent_at)
            SELECT $1, $2, m, r, $5 FROM unnest($3::text[], $4::uuid[]) AS u(m, r)
            ON CONFLICT DO NOTHING RETURNING msisdn
            """,
            window_id,
            notice,
            [msisdn for msisdn, _ in sends],
            [request for _, request in sends],
            at,
        )
        return {r["msisdn"] for r in rows}

    async def sent_count(self, conn: DbConnection, window_id: UUID, notice: int) -> int:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM maintenance_notices_sent WHERE window_id = $1 AND notice = $2",
            window_id,
            notice,
        )
        return count
