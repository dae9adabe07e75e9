"""Shared send limits in PostgreSQL: the per-partner token buckets of the API replicas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vas_common.db import DbConnection


@dataclass(frozen=True)
class Take:
    granted: bool
    tokens: float  # what the bucket holds after the take


class SendLimitRepository:
    async def take(self, conn: DbConnection, partner_id: UUID, rate: int, n: int, now: datetime) -> Take:
        """Refill the partner's bucket for the time since its last take (a clock behind the
        stored time refills nothing and does not move it back), then take `n` tokens if it holds
        them. One statement: concurrent takes of any replica queue on the row."""
        row = await conn.fetchrow(
            """
            INSERT INTO partner_send_buckets AS b (partner_id, rate_per_s, tokens, refilled_at, granted)
            VALUES ($1::uuid, $2::integer,
                    CASE WHEN $3::integer <= $2 THEN $2::float8 - $3 ELSE $2::float8 END,
                    $4::timestamptz, $3 <= $2)
            ON CONFLICT (partner_id) DO UPDATE
               SET (tokens, granted) = (
                       SELECT CASE WHEN $3 <= held THEN held - $3 ELSE held END, $3 <= held
                         FROM (SELECT CASE WHEN b.rate_per_s <> $2 THEN $2::float8
                                      ELSE least($2::float8, b.tokens + $2 * greatest(
                                               0, extract(epoch FROM $4 - b.refilled_at)::float8))
                                      END AS held) AS refilled),
                   refilled_at = greatest(b.refilled_at, $4),
                   rate_per_s = $2
            RETURNING granted, tokens
            """,
            partner_id,
            rate,
            n,
            now,
        )
        assert row is not None
        return Take(granted=row["granted"], tokens=row["tokens"])
