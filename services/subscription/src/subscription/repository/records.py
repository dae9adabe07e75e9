"""Raw order records (原始数据) SQL: every order action and every SMS exchanged, with its time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from vas_common.db import DbConnection


@dataclass(frozen=True)
class OrderRecord:
    occurred_at: datetime
    msisdn: str
    kind: str
    subscription_id: UUID | None
    product_code: str | None
    channel: str | None
    detail: dict[str, Any]


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

    async def confirmation_counts(
        self, conn: DbConnection, since: datetime, until: datetime
    ) -> tuple[int, int]:
        """(Y replies that found a pending order, orders confirmed) in [since, until)."""
        row = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE kind = 'sms_in' AND detail->>'command' = 'confirm') AS replies,
                   count(*) FILTER (WHERE kind = 'sms_out' AND detail->>'purpose' = 'no_pending') AS unmatched,
                   count(*) FILTER (WHERE kind = 'confirmed') AS confirmed
              FROM order_records WHERE occurred_at >= $1 AND occurred_at < $2
            """,
            since,
            until,
        )
        assert row is not None
        return max(0, row["replies"] - row["unmatched"]), row["confirmed"]

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
