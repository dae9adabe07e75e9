"""Against real PostgreSQL: the status lookup is planned for the rows it meets each time.

PostgreSQL switches a prepared statement to a generic plan after five runs; one made while the
month's partition was nearly empty scanned it whole, and kept doing so as it grew (0.23 ms a
row instead of 0.03 at 60,000 messages)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from sms_sender.repository.partitions import PartitionRepository
from sms_sender.repository.statuses import StatusRepository


async def test_the_status_lookup_never_runs_on_a_generic_plan(pool: asyncpg.Pool) -> None:
    repo = StatusRepository()
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await PartitionRepository().ensure_partitions(conn, now)
        ids = [uuid.uuid4() for _ in range(100)]
        await conn.execute(
            """
            INSERT INTO messages (id, accepted_at, partner_id, recipient, source_addr, content,
                                  category, encoding, segments_total, status)
            SELECT id, $2, NULL, '8613900000000', '1069', 'hi', 'notice', 'gsm', 1, 'submitted'
              FROM unnest($1::uuid[]) AS u(id)
            """,
            ids,
            now,
        )
        for n in range(10):
            rows = await repo.load_for_status(conn, [(ids[n], now)])
            assert [r.id for r in rows] == [ids[n]]
        plans = await conn.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%FROM unnest($1::uuid[], $2::timestamptz[]) AS k(id, accepted_at)%'"
            " AND statement NOT LIKE '%pg_prepared_statements%'"
        )
    assert [(p["generic_plans"], p["custom_plans"]) for p in plans] == [(0, 10)]
