"""Monthly range partitions against real PostgreSQL: created ahead in a service's time zone,
idempotent from two replicas at once, and rows already in the DEFAULT partition are moved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from vas_common.db import create_pool, drop_partition, ensure_monthly_partitions, list_partitions, month_start

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_month_start_counts_months_in_the_zone() -> None:
    # 2026-11-30 17:00 UTC is already December in Shanghai.
    moment = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert month_start(moment, SHANGHAI) == datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert month_start(moment, UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    assert month_start(moment, SHANGHAI, -6) == datetime(2026, 6, 1, tzinfo=SHANGHAI)
    assert month_start(moment, SHANGHAI, -12) == datetime(2025, 12, 1, tzinfo=SHANGHAI)
    assert month_start(moment, SHANGHAI, 1) == datetime(2027, 1, 1, tzinfo=SHANGHAI)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database)
    await pool.execute(
        """
        CREATE TABLE records (id bigserial, at timestamptz NOT NULL, who text NOT NULL, PRIMARY KEY (id, at))
            PARTITION BY RANGE (at);
        CREATE TABLE records_default PARTITION OF records DEFAULT;
        CREATE INDEX records_who ON records (who, at);
        """
    )
    yield pool
    await pool.close()


async def test_created_around_a_moment_once_even_from_two_replicas(pool: asyncpg.Pool) -> None:
    around = datetime(2026, 11, 15, tzinfo=SHANGHAI)

    async def ensure() -> list[str]:
        async with pool.acquire() as conn:
            return await ensure_monthly_partitions(conn, "records", "at", around, tz=SHANGHAI)

    first, second = await asyncio.gather(ensure(), ensure())
    assert sorted(first + second) == ["records_202610", "records_202611", "records_202612", "records_202701"]
    async with pool.acquire() as conn:
        assert await ensure_monthly_partitions(conn, "records", "at", around, tz=SHANGHAI) == []
        partitions, default = await list_partitions(conn, "records")
    assert default == "records_default"
    assert [p.name for p in partitions] == [
        "records_202610",
        "records_202611",
        "records_202612",
        "records_202701",
    ]
    assert partitions[1].lower == datetime(2026, 11, 1, tzinfo=SHANGHAI)
    assert partitions[1].upper == datetime(2026, 12, 1, tzinfo=SHANGHAI)


async def test_rows_in_the_default_partition_move_into_the_new_month(pool: asyncpg.Pool) -> None:
    inside = datetime(2027, 4, 1, 0, 30, tzinfo=SHANGHAI)  # still March in UTC
    outside = datetime(2027, 6, 2, tzinfo=SHANGHAI)
    await pool.executemany("INSERT INTO records (at, who) VALUES ($1, $2)", [(inside, "a"), (outside, "b")])
    async with pool.acquire() as conn:
        created = await ensure_monthly_partitions(
            conn, "records", "at", inside, tz=SHANGHAI, months_back=0, months_ahead=0
        )
        assert created == ["records_202704"]
        assert await conn.fetchval("SELECT count(*) FROM records_202704") == 1
        assert await conn.fetchval("SELECT count(*) FROM records_default") == 1
        assert await conn.fetchval("SELECT count(*) FROM records") == 2
        # the new partition is a real one: indexed and with the parent's defaults
        await conn.execute("INSERT INTO records (at, who) VALUES ($1, 'c')", inside)
        assert await conn.fetchval("SELECT count(*) FROM records_202704 WHERE who = 'c'") == 1
        await drop_partition(conn, "records_202704")
        partitions, _ = await list_partitions(conn, "records")
        assert partitions == []
        assert await conn.fetchval("SELECT count(*) FROM records") == 1


async def test_an_overlapping_partition_is_left_alone(pool: asyncpg.Pool) -> None:
    # A table partitioned by UTC months keeps them; Shanghai months would overlap.
    around = datetime(2026, 11, 15, tzinfo=UTC)
    async with pool.acquire() as conn:
        await ensure_monthly_partitions(conn, "records", "at", around, tz=UTC, months_back=0, months_ahead=0)
        created = await ensure_monthly_partitions(
            conn, "records", "at", around, tz=SHANGHAI, months_back=0, months_ahead=1
        )
    assert created == []  # November and December (Shanghai) both overlap the UTC November


async def test_partitions_can_leave_room_for_updates(pool: asyncpg.Pool) -> None:
    """Both ways of creating a partition (plain, and moving rows out of DEFAULT) keep the fillfactor."""
    await pool.execute("INSERT INTO records (at, who) VALUES ('2026-12-20T00:00:00+08:00', 'stray')")
    around = datetime(2026, 11, 15, tzinfo=SHANGHAI)
    async with pool.acquire() as conn:
        created = await ensure_monthly_partitions(conn, "records", "at", around, tz=SHANGHAI, fillfactor=70)
        options = await conn.fetch(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY($1::text[])", created
        )
    assert len(options) == 4
    assert all(r["reloptions"] == ["fillfactor=70"] for r in options), options
