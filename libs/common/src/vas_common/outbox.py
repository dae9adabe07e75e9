"""Transactional outbox: write the event in the same transaction as the change, publish after.

The relay publishes in id order under an advisory lock, so only one replica relays at a time
and events of one key keep their order. A NOTIFY on insert wakes it at once; it also polls.
A batch is one statement in its transaction: it takes the lock and deletes and returns the
rows; the COMMIT comes after the broker acknowledged them (a failure rolls the rows back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from vas_common.db import AdvisoryLock, DbConnection
from vas_common.events import Event, encode_event
from vas_common.events.topics import Topic
from vas_common.kafka import EventPublisher
from vas_common.telemetry import Metrics, carrier_to_kafka_headers, current_trace_carrier

logger = logging.getLogger(__name__)

_VACUUM_AFTER_ROWS = 20_000
_NOTIFY_CHANNEL = "vas_outbox"
_BATCH = 500
BACKLOG_CAP = 100_000  # the backlog gauge counts no further (a count of millions is a scan)


class OutboxRepository:
    async def enqueue(self, conn: DbConnection, topic: Topic, event: Event) -> None:
        """Call inside the caller's transaction; the trace context of the caller goes along."""
        await self.enqueue_many(conn, [(topic, event)])

    async def enqueue_many(self, conn: DbConnection, items: Sequence[tuple[Topic, Event]]) -> None:
        """Many events of the current trace in one statement (hot paths write hundreds)."""
        headers = current_trace_carrier()
        await self.enqueue_traced(conn, [(topic, event, headers) for topic, event in items])

    async def enqueue_traced(
        self, conn: DbConnection, items: Sequence[tuple[Topic, Event, Mapping[str, str]]]
    ) -> None:
        """Events that each carry their own trace context (writes of many requests together)."""
        if not items:
            return
        await conn.execute(
            """
            WITH added AS (
                INSERT INTO outbox (topic, key, value, headers)
                SELECT t, k, v, h
                  FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::jsonb[])
                       WITH ORDINALITY AS u(t, k, v, h, n)
                 ORDER BY n  -- ids in the given order: events of one key stay in order
                RETURNING 1
            )
            SELECT pg_notify($5, '') FROM (SELECT count(*) FROM added) AS done
            """,
            [topic.name for topic, _, _ in items],
            [event.key().encode() for _, event, _ in items],
            [encode_event(event) for _, event, _ in items],
            [dict(headers) for _, _, headers in items],
            _NOTIFY_CHANNEL,
        )

    async def take_batch(self, conn: DbConnection, limit: int) -> list[asyncpg.Record]:
        """Delete and return the oldest `limit` rows, in id order; call inside a transaction and
        commit only once they are published (a rollback puts them back). Nothing while another
        relay holds the relay lock. (The lock is a one-time filter, tried once; ARRAY(...) keeps
        the DELETE on the primary key, where `IN (subquery)` was planned as a sequential scan.)"""
        rows: list[asyncpg.Record] = await conn.fetch(
            """
            DELETE FROM outbox
             WHERE id = ANY(ARRAY(
                   SELECT id FROM outbox WHERE (SELECT pg_try_advisory_xact_lock($1)) ORDER BY id LIMIT $2))
            RETURNING id, topic, key, value, headers
            """,
            int(AdvisoryLock.OUTBOX_RELAY),
            limit,
        )
        return sorted(rows, key=lambda r: r["id"])  # RETURNING promises no order

    async def vacuum(self, conn: DbConnection) -> None:
        await conn.execute("VACUUM outbox")  # outside a transaction: VACUUM refuses to run in one

    async def pending(self, conn: DbConnection) -> int:
        count: int = await conn.fetchval("SELECT count(*) FROM outbox")
        return count

    async def backlog(self, conn: DbConnection, cap: int = BACKLOG_CAP) -> tuple[int, float]:
        """(rows waiting, counted up to `cap`; seconds since the oldest was written, 0 when
        none): both bounded reads of the primary key, cheap enough to sample every few seconds
        also when the relay has fallen far behind."""
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox LIMIT $1) AS capped) AS pending,
                   (SELECT extract(epoch FROM clock_timestamp() - created_at)::float8
                      FROM outbox ORDER BY id LIMIT 1) AS oldest_s
            """,
            cap,
        )
        assert row is not None
        return int(row["pending"]), max(0.0, float(row["oldest_s"] or 0.0))


async def sample_outbox(pool: asyncpg.Pool, metrics: Metrics, repo: OutboxRepository | None = None) -> None:
    """Refresh `outbox_pending_events` and `outbox_oldest_event_age_seconds`."""
    async with pool.acquire() as conn:
        pending, oldest_s = await (repo or OutboxRepository()).backlog(conn)
    metrics.outbox_pending.set(pending)
    metrics.outbox_oldest_age.set(oldest_s)


class NotifiedRelay:
    """The loop of a relay: a round whenever a NOTIFY on `channel` arrives, and every
    `poll_interval_s` without one; rounds repeat while they publish a full batch. Subclasses
    give `relay_once`. `settle_s`: for a second after a NOTIFY or a round that published
    something, a round every `settle_s`, NOTIFY or not (rows may have to wait for other
    transactions to end, and rows that come meanwhile make one batch)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channel: str,
        name: str,
        batch: int,
        poll_interval_s: float,
        settle_s: float | None = None,
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._name = name
        self._batch = batch
        self._poll_interval_s = poll_interval_s
        self._settle_s = settle_s
        self._busy_until = 0.0
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: PoolConnectionProxy | None = None

    async def relay_once(self) -> int:
        """Publish one batch; return how many events were published."""
        raise NotImplementedError

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, grace_s: float = 5.0) -> None:
        """End the loop once the round in hand is over: a batch cancelled between its publication
        and its COMMIT goes back to the table and would be published a second time by the next
        relay. After `grace_s` (a broker that does not answer) the round is cancelled."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            _, running = await asyncio.wait([self._task], timeout=grace_s)
            if running:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_listener()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(self._channel, self._on_notify)
            with contextlib.suppress(Exception):
                await self._pool.release(self._listener)
            self._listener = None

    def _on_notify(self, *_: Any) -> None:
        self._busy_until = time.monotonic() + 1.0
        self._wake.set()

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def _ensure_listener(self) -> None:
        if self.listening:
            return
        await self._close_listener()
        conn = await self._pool.acquire()
        await conn.add_listener(self._channel, self._on_notify)
        self._listener = conn

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before relaying: a NOTIFY that comes while a batch is written wakes the
            # next round at once instead of being lost. A short batch took all there was.
            self._wake.clear()
            try:
                await self._ensure_listener()
                while (published := await self.relay_once()) == self._batch and not self._stopping:
                    pass
                if published:
                    self._busy_until = time.monotonic() + 1.0
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("%s: database unavailable (%s); retrying", self._name, exc)
                await self._close_listener()
            except Exception:
                logger.exception("%s failed; retrying", self._name)
            if self._settle_s is not None and time.monotonic() < self._busy_until:
                # Rounds at most this often while busy: every NOTIFY a round of its own made
                # batches of a few dozen rows, each with its transaction and fsync.
                await asyncio.sleep(self._settle_s)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)


class OutboxRelay(NotifiedRelay):
    def __init__(self, pool: asyncpg.Pool, publisher: EventPublisher, poll_interval_s: float = 0.5) -> None:
        super().__init__(
            pool, channel=_NOTIFY_CHANNEL, name="outbox-relay", batch=_BATCH, poll_interval_s=poll_interval_s
        )
        self._publisher = publisher
        self._repo = OutboxRepository()
        self._deleted_since_vacuum = 0

    async def relay_once(self) -> int:
        """Publish one batch (at most `_BATCH` rows); return how many rows were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await self._repo.take_batch(conn, _BATCH)
            if not rows:
                return 0
            await self._publisher.publish_many(
                [(r["topic"], r["key"], r["value"], carrier_to_kafka_headers(r["headers"])) for r in rows]
            )
        self._deleted_since_vacuum += len(rows)
        if self._deleted_since_vacuum >= _VACUUM_AFTER_ROWS:
            # A queue table: its rows live for milliseconds, and autovacuum (at most once a
            # minute) leaves the head of its index full of dead entries that every claim walks
            # over. In a 60 s run at 1,000 messages a second PostgreSQL's CPU climbed from 40 %
            # to 65 % of a core.
            self._deleted_since_vacuum = 0
            async with self._pool.acquire() as conn:
                await self._repo.vacuum(conn)
        return len(rows)
