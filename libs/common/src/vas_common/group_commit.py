"""Group commit: the writes of concurrent callers share one transaction.

With `fsync` on, every commit waits for the WAL to reach the disk, and every small transaction
costs its BEGIN, statements and COMMIT as separate round trips. Under load many requests want
to write at the same moment; `GroupCommit.submit` queues the caller's job, a worker takes every
job queued by then (up to `max_jobs`) and writes them with one call of `write` in one
transaction, and each caller gets its own result only after the COMMIT. The batches size
themselves: an idle service commits a lone job at once, a busy one commits many per flush.

A batch that fails with anything but a lost connection is retried one job at a time, so a job
that cannot be written fails alone and never takes its neighbours with it.

Reads that every request makes before it writes batch the same way (`transaction=False`): one
statement for all callers instead of a pool connection and a round trip each. Under load the
requests otherwise queue for the pool's connections (seen: 160 ms waits at 470 requests a
second with 10 connections, and no better with 30: the event loop serves every round trip).

A caller may wait at most `timeout_s`; then what became of its job is exact. Not written yet:
it never will be, and the caller gets a TimeoutError. Written in a transaction that has not
committed yet: the worker sees before its COMMIT that a caller of the batch gave up, rolls the
batch back and writes the jobs whose callers still wait again, so the TimeoutError still means
"not stored". Only a caller that gives up after its batch's COMMIT was sent, or whose COMMIT got no
answer, gets `CommitOutcomeUnknown`. Without a transaction (reads) nothing is undone: the caller
gets a TimeoutError and the result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import asyncpg
from prometheus_client import CollectorRegistry, Histogram

from vas_common.db import DATABASE_UNAVAILABLE, CommitOutcomeUnknown, DbConnection

logger = logging.getLogger(__name__)

JobT = TypeVar("JobT")
ResultT = TypeVar("ResultT")

# Called inside the open transaction with the batch; returns one result per job, in order.
BatchWriter = Callable[[DbConnection, Sequence[JobT]], Awaitable[Sequence[ResultT]]]

_DRAIN_TIMEOUT_S = 10.0


class GroupCommitMetrics:
    """How many jobs each batch carried, per group commit (`name`): a service whose batches
    stay at 1 under load is paying a round trip per job."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.batch_jobs = Histogram(
            "group_commit_batch_jobs",
            "Jobs written (or read) together in one batch",
            ["name"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )


@dataclass
class _Pending(Generic[JobT, ResultT]):
    job: JobT
    done: asyncio.Future[ResultT] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # Set just before its batch's COMMIT is sent; until then a caller that gives up is not stored.
    committing: bool = False
    timed_out: bool = False

    def time_out(self) -> None:
        if self.done.cancel():  # not when answered already
            self.timed_out = True


class _CallerGaveUp(Exception):
    """Rolls a batch back: one of its callers stopped waiting before the COMMIT."""


class GroupCommit(Generic[JobT, ResultT]):
    def __init__(
        self,
        pool: asyncpg.Pool,
        write: BatchWriter[JobT, ResultT],
        *,
        name: str,
        max_jobs: int = 256,
        workers: int = 2,
        transaction: bool = True,
        metrics: GroupCommitMetrics | None = None,
    ) -> None:
        self._pool = pool
        self._write = write
        self._name = name
        self._max_jobs = max_jobs
        self._workers = workers
        self._in_transaction = transaction
        self._batch_jobs = (metrics or GroupCommitMetrics(None)).batch_jobs.labels(name)
        self._queue: asyncio.Queue[_Pending[JobT, ResultT]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0  # flushed transactions, for tests and metrics
        self.jobs = 0

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"group-commit:{self._name}:{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        """Write what is queued, then stop the workers."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), _DRAIN_TIMEOUT_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def submit(self, job: JobT, *, timeout_s: float | None = None) -> ResultT:
        """Returns once the job is committed (or raises what writing it raised). After `timeout_s`
        raises TimeoutError (the job is not stored and will not be) or CommitOutcomeUnknown (its
        COMMIT was already sent)."""
        if not self._tasks:
            raise RuntimeError(f"group commit {self._name} is not running")
        pending: _Pending[JobT, ResultT] = _Pending(job)
        self._queue.put_nowait(pending)
        if timeout_s is None:
            return await pending.done
        # A bare timer that cancels the future (the worker sees that) costs a quarter of what
        # asyncio.timeout adds (0.8 against 3.4 µs); the send endpoint waits twice per request.
        deadline = asyncio.get_running_loop().call_later(timeout_s, pending.time_out)
        try:
            return await pending.done
        except asyncio.CancelledError:
            if not pending.timed_out:
                raise
            if pending.committing:
                raise CommitOutcomeUnknown(
                    f"group commit {self._name}: no answer within {timeout_s}s after its COMMIT was sent"
                ) from None
            raise TimeoutError(
                f"group commit {self._name}: no answer within {timeout_s}s; the job was not stored"
            ) from None
        finally:
            deadline.cancel()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_jobs and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [p for p in batch if not p.done.done()]  # a cancelled caller is not written
            try:
                if live:
                    await self._flush(live)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _flush(self, batch: list[_Pending[JobT, ResultT]]) -> None:
        try:
            results = await self._run_batch(batch)
        except _CallerGaveUp:
            waiting = [p for p in batch if not p.done.done()]
            if waiting:
                await self._flush(waiting)
            return
        except DATABASE_UNAVAILABLE as exc:
            _fail(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            logger.warning(
                "group commit %s: batch of %d failed (%r); writing one by one", self._name, len(batch), exc
            )
            for pending in batch:
                if not pending.done.done():
                    await self._flush([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(result)

    async def _run_batch(self, batch: list[_Pending[JobT, ResultT]]) -> Sequence[ResultT]:
        jobs = [p.job for p in batch]
        async with self._pool.acquire() as conn:
            if self._in_transaction:
                results = await self._write_and_commit(conn, batch, jobs)
            else:
                results = await self._write(conn, jobs)
        self.batches += 1
        self.jobs += len(jobs)
        self._batch_jobs.observe(len(jobs))
        return results

    async def _write_and_commit(
        self, conn: DbConnection, batch: list[_Pending[JobT, ResultT]], jobs: list[JobT]
    ) -> Sequence[ResultT]:
        committing = False
        try:
            async with conn.transaction():
                results = await self._write(conn, jobs)
                if any(p.done.cancelled() for p in batch):
                    raise _CallerGaveUp
                # No await between the check and the flags: a caller giving up from here on
                # knows that its job may be stored.
                for pending in batch:
                    pending.committing = True
                committing = True
        except DATABASE_UNAVAILABLE as exc:
            if committing:
                raise CommitOutcomeUnknown(
                    f"group commit {self._name}: COMMIT got no answer ({exc!r})"
                ) from exc
            raise
        except Exception:
            for pending in batch:  # PostgreSQL refused the COMMIT, if it got that far: nothing is stored
                pending.committing = False
            raise
        return results


def _fail(batch: Sequence[_Pending[JobT, ResultT]], exc: BaseException) -> None:
    for pending in batch:
        if not pending.done.done():
            pending.done.set_exception(exc)
