"""Group commit against real PostgreSQL: concurrent jobs share transactions, each caller learns
its own outcome only after the COMMIT, and a job that cannot be written fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from vas_common.db import DbConnection, create_pool
from vas_common.group_commit import GroupCommit, GroupCommitMetrics


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)")
    yield pool
    await pool.close()


async def insert_items(conn: DbConnection, jobs: Sequence[int]) -> list[str]:
    await conn.executemany("INSERT INTO items (id, note) VALUES ($1, 'x')", [(j,) for j in jobs])
    return [f"stored {j}" for j in jobs]


async def test_concurrent_jobs_share_commits_and_each_gets_its_own_result(pool: asyncpg.Pool) -> None:
    registry = CollectorRegistry()
    commit: GroupCommit[int, str] = GroupCommit(
        pool, insert_items, name="t", metrics=GroupCommitMetrics(registry)
    )
    await commit.start()
    try:

        async def submit_and_check(job: int) -> str:
            result = await commit.submit(job)
            # Answered only once committed: another connection sees the row.
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT note FROM items WHERE id = $1", job) == "x"
            return result

        results = await asyncio.gather(*(submit_and_check(j) for j in range(200)))
    finally:
        await commit.stop()
    assert results == [f"stored {j}" for j in range(200)]
    assert commit.jobs == 200
    assert commit.batches < 200  # written together, not one transaction each
    labels = {"name": "t"}
    assert registry.get_sample_value("group_commit_batch_jobs_sum", labels) == 200
    assert registry.get_sample_value("group_commit_batch_jobs_count", labels) == commit.batches
    print(f"200 jobs in {commit.batches} transactions")


async def test_a_job_that_cannot_be_written_fails_alone(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO items (id, note) VALUES (7, 'taken')")
    commit: GroupCommit[int, str] = GroupCommit(pool, insert_items, name="t")
    await commit.start()
    try:
        outcomes = await asyncio.gather(*(commit.submit(j) for j in range(5, 10)), return_exceptions=True)
    finally:
        await commit.stop()
    assert isinstance(outcomes[2], asyncpg.UniqueViolationError)
    assert [o for i, o in enumerate(outcomes) if i != 2] == ["stored 5", "stored 6", "stored 8", "stored 9"]
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, note FROM items ORDER BY id")
    assert [(r["id"], r["note"]) for r in rows] == [(5, "x"), (6, "x"), (7, "taken"), (8, "x"), (9, "x")]


async def test_submit_before_start_is_refused(pool: asyncpg.Pool) -> None:
    commit: GroupCommit[int, str] = GroupCommit(pool, insert_items, name="t")
    with pytest.raises(RuntimeError, match="not running"):
        await commit.submit(1)


async def test_reads_batch_without_a_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO items (id, note) SELECT n, 'note ' || n FROM generate_series(1, 50) n"
        )

    async def read_notes(conn: DbConnection, ids: Sequence[int]) -> list[str | None]:
        assert not conn.is_in_transaction()
        rows = await conn.fetch(
            "SELECT i.note FROM unnest($1::int[]) WITH ORDINALITY AS u(id, n)"
            " LEFT JOIN items i ON i.id = u.id ORDER BY u.n",
            list(ids),
        )
        return [r["note"] for r in rows]

    reads: GroupCommit[int, str | None] = GroupCommit(pool, read_notes, name="r", transaction=False)
    await reads.start()
    try:
        results = await asyncio.gather(*(reads.submit(j) for j in range(100, 0, -1)))
    finally:
        await reads.stop()
    assert results == [None] * 50 + [f"note {j}" for j in range(50, 0, -1)]
    assert reads.batches < 100
