"""Group commit against real PostgreSQL: concurrent jobs share transactions, each caller learns
its own outcome only after the COMMIT, a job that cannot be written fails alone, and a caller
that stops waiting learns exactly what became of its job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from vas_common.db import CommitOutcomeUnknown, DbConnection, create_pool
from vas_common.group_commit import GroupCommit, GroupCommitMetrics
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.pytest_plugin import eventually


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


async def test_a_value_the_driver_cannot_encode_fails_its_job_alone(pool: asyncpg.Pool) -> None:
    """asyncpg refuses such a value before sending it (a DataError, not a lost connection): the
    batch is written again one by one and only that job fails."""

    async def insert_as_array(conn: DbConnection, jobs: Sequence[int]) -> list[str]:
        await conn.execute("INSERT INTO items (id, note) SELECT unnest($1::int[]), 'x'", list(jobs))
        return [f"stored {j}" for j in jobs]

    commit: GroupCommit[int, str] = GroupCommit(pool, insert_as_array, name="t")
    await commit.start()
    try:
        outcomes = await asyncio.gather(*(commit.submit(j) for j in (1, 2**40, 3)), return_exceptions=True)
    finally:
        await commit.stop()
    assert isinstance(outcomes[1], asyncpg.DataError)
    assert [outcomes[0], outcomes[2]] == ["stored 1", "stored 3"]


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


@dataclass
class HeldWrites:
    """A writer that inserts the batch's items, then waits while the batch holds a job whose
    gate is closed: a batch caught between its writes and its COMMIT, for as long as the test likes."""

    gates: dict[int, asyncio.Event] = field(default_factory=dict)
    batches: list[list[int]] = field(default_factory=list)

    def hold(self, job: int) -> asyncio.Event:
        return self.gates.setdefault(job, asyncio.Event())

    async def __call__(self, conn: DbConnection, jobs: Sequence[int]) -> list[str]:
        results = await insert_items(conn, jobs)
        self.batches.append(list(jobs))
        for job in jobs:
            if job in self.gates:
                await self.gates[job].wait()
        return results


async def stored_ids(pool: asyncpg.Pool) -> list[int]:
    return [r["id"] for r in await pool.fetch("SELECT id FROM items ORDER BY id")]


async def test_a_queued_job_whose_caller_gave_up_is_never_written(pool: asyncpg.Pool) -> None:
    writes = HeldWrites()
    commit: GroupCommit[int, str] = GroupCommit(pool, writes, name="t", workers=1)
    await commit.start()
    try:
        busy_until = writes.hold(0)
        busy = asyncio.create_task(commit.submit(0))
        await eventually(lambda: writes.batches == [[0]])  # the only worker is held in job 0's batch
        with pytest.raises(TimeoutError, match="not stored"):
            await commit.submit(1, timeout_s=0.2)
        busy_until.set()
        assert await busy == "stored 0"
    finally:
        await commit.stop()
    assert writes.batches == [[0]]
    assert await stored_ids(pool) == [0]


async def test_a_caller_that_gives_up_before_the_commit_is_not_stored_and_its_batch_mates_are(
    pool: asyncpg.Pool,
) -> None:
    writes = HeldWrites()
    commit: GroupCommit[int, str] = GroupCommit(pool, writes, name="t", workers=1)
    await commit.start()
    try:
        busy_until = writes.hold(0)
        # The batch of jobs 1 and 2 waits here, written and not committed, until the test opens it.
        before_commit = writes.hold(1)
        busy = asyncio.create_task(commit.submit(0))
        await eventually(lambda: writes.batches == [[0]])
        impatient = asyncio.create_task(commit.submit(1, timeout_s=1.0))
        patient = asyncio.create_task(commit.submit(2, timeout_s=30.0))
        await asyncio.sleep(0)  # each submit queues its job in its task's first step
        busy_until.set()
        await eventually(lambda: writes.batches[1:] == [[1, 2]])
        with pytest.raises(TimeoutError, match="not stored"):
            await impatient
        before_commit.set()
        assert await patient == "stored 2"
        assert await busy == "stored 0"
    finally:
        await commit.stop()
    # Rolled back because job 1's caller had gone, then written again without it.
    assert writes.batches == [[0], [1, 2], [2]]
    assert await stored_ids(pool) == [0, 2]


@pytest.mark.parametrize(
    ("caller_timeout_s", "statement_timeout_s"),
    [(3.0, 60.0), (None, 1.0)],
    ids=["the caller gives up during the COMMIT", "the COMMIT times out"],
)
async def test_once_its_commit_was_sent_the_caller_learns_the_outcome_is_unknown(
    own_postgres: EmbeddedPostgres, caller_timeout_s: float | None, statement_timeout_s: float
) -> None:
    pool = await create_pool(own_postgres.dsn(), statement_timeout_s=statement_timeout_s)
    try:
        await pool.execute("CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)")
        writes = HeldWrites()
        commit: GroupCommit[int, str] = GroupCommit(pool, writes, name="t", workers=1)
        await commit.start()
        try:
            released = writes.hold(1)
            caller = asyncio.create_task(commit.submit(1, timeout_s=caller_timeout_s))
            await eventually(lambda: writes.batches == [[1]])
            with own_postgres.hung():
                released.set()  # the COMMIT goes to a server that does not answer
                with pytest.raises(CommitOutcomeUnknown):
                    await caller
            if caller_timeout_s is not None:
                # The server got the COMMIT after all: "unknown" was the honest answer.
                await eventually(lambda: stored_ids(pool), timeout_s=30)
                assert await stored_ids(pool) == [1]
        finally:
            await commit.stop()
    finally:
        await pool.close()
