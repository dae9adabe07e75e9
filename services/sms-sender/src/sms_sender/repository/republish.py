"""Republishing: the messages still waiting for their first submit, claimed for a new submit
record, and the age of the oldest of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sms_sender.domain import NewMessage
from sms_sender.repository.messages import MESSAGE_COLUMNS
from vas_common.db import DbConnection
from vas_common.events.sms_sender import Category

# Both read the partial index messages_awaiting_dispatch (accepted messages only, oldest first),
# never the months of messages sent.
OLDEST_ACCEPTED = "SELECT min(accepted_at) FROM messages WHERE status = 'accepted'"
CLAIM_DUE = f"""
    WITH due AS (
        SELECT id, accepted_at FROM messages m
         WHERE status = 'accepted' AND accepted_at <= $1::timestamptz - $2::interval
           AND (republished_at IS NULL
                OR republished_at <= $1::timestamptz
                   - $2::interval * power(2, least(republish_count - 1, $3::int)))
           AND NOT EXISTS (SELECT FROM segments s
                            WHERE s.message_id = m.id AND s.accepted_at = m.accepted_at)
         ORDER BY accepted_at
         LIMIT $4
           FOR UPDATE SKIP LOCKED
    )
    UPDATE messages m
       SET republished_at = $1, republish_count = m.republish_count + 1
      FROM due
     WHERE m.id = due.id AND m.accepted_at = due.accepted_at
    RETURNING {", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)}, m.republish_count
"""


@dataclass(frozen=True)
class Republished:
    """A message claimed for a new submit record, and how many times it has been republished
    (this one included)."""

    message: NewMessage
    category: Category
    count: int


class RepublishRepository:
    async def claim_due(
        self,
        conn: DbConnection,
        *,
        now: datetime,
        after: timedelta,
        max_doublings: int,
        limit: int,
    ) -> list[Republished]:
        """Inside a transaction: at most `limit` messages, oldest first, still `accepted` with
        no segment recorded, accepted `after` ago or more and not republished within
        `after` × 2^(times republished before − 1) (doubling at most `max_doublings` times),
        marked republished at `now`. Rows another transaction holds are skipped (SKIP LOCKED):
        concurrent sweeps claim disjoint sets, and once one commits its rows are no longer due."""
        rows = await conn.fetch(
            CLAIM_DUE,
            now,
            after,
            max_doublings,
            limit,
        )
        return [
            Republished(
                message=NewMessage(**{c: row[c] for c in MESSAGE_COLUMNS}),
                category=Category(row["category"]),
                count=row["republish_count"],
            )
            for row in sorted(rows, key=lambda r: r["accepted_at"])  # RETURNING promises no order
        ]

    async def oldest_accepted(self, conn: DbConnection) -> datetime | None:
        """When the oldest message still waiting for its first submit was accepted."""
        oldest: datetime | None = await conn.fetchval(OLDEST_ACCEPTED)
        return oldest
