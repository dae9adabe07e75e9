"""Status callbacks to partners: signed the Standard Webhooks way (`domain.callback_headers`), retried with exponential back-off for at
least a day, then dead-lettered and listed by the API. Runs beside dispatch, never in its way:
deliveries are rows in PostgreSQL, taken by a worker with its own concurrency, shared fairly
among partners."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from sms_sender.domain import callback_headers
from sms_sender.repository.callbacks import CallbackRepository, DueCallback
from vas_common.breaker import CircuitBreaker
from vas_common.clock import Clock, SystemClock
from vas_common.db import DbConnection
from vas_common.outbound import ForbiddenDestination, OutboundGuard, guarded_transport

logger = logging.getLogger(__name__)


def backoff(attempts: int, initial_s: float, max_s: float) -> float:
    return float(min(max_s, initial_s * 2 ** max(0, attempts - 1)))


class CallbackWorker:
    """Delivers due callbacks, each as its own task: a new one starts as soon as a slot frees.
    Slots are capped in all and per partner (the cap is applied when rows are claimed, so a
    partner at its cap leaves its rows for later); a host that keeps failing is left alone for
    a cool-down (its deliveries are postponed, not attempted); connections go only to addresses
    the outbound guard has just checked."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: CollectorRegistry,
        *,
        destinations: OutboundGuard,
        retry_initial_s: float = 10.0,
        retry_max_s: float = 3600.0,
        give_up_after: timedelta = timedelta(hours=24),
        concurrency: int = 50,
        partner_concurrency: int = 4,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 5.0,
        breaker: CircuitBreaker | None = None,
        poll_interval_s: float = 0.2,
        repository: CallbackRepository | None = None,
        clock: Clock | None = None,
        legacy_headers_until: datetime | None = None,
    ) -> None:
        self._pool = pool
        self._legacy_headers_until = legacy_headers_until
        self._clock = clock or SystemClock()
        self._repo = repository or CallbackRepository()
        self._destinations = destinations
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._give_up_after = give_up_after
        self._concurrency = concurrency
        self._partner_concurrency = partner_concurrency
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        # A response that trickles in under the read timeout still ends here; the lease outlasts it.
        self._deadline_s = connect_timeout_s + 2 * read_timeout_s
        self._lease = timedelta(seconds=3 * self._deadline_s)
        self._breaker = breaker or CircuitBreaker(failures=5, cooldown_s=30.0)
        self._poll_interval_s = poll_interval_s
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._in_flight: dict[asyncio.Task[None], UUID] = {}
        self._partner_load: collections.Counter[UUID] = collections.Counter()
        self._slot_freed = asyncio.Event()
        self.outcomes = Counter("sms_callbacks_total", "Callback attempts", ["outcome"], registry=registry)
        self.in_flight = Gauge("sms_callbacks_in_flight", "Callback deliveries being made", registry=registry)
        self.breaker_opens = Counter(
            "sms_callback_breaker_opens_total",
            "Times a callback host was left alone after failing",
            registry=registry,
        )

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            transport=guarded_transport(
                self._destinations, limits=httpx.Limits(max_connections=self._concurrency)
            ),
            timeout=self._timeout,
            follow_redirects=False,
            trust_env=False,
        )
        self._task = asyncio.create_task(self._run(), name="callbacks")

    async def stop(self) -> None:
        """Cancels what is in flight too: those rows come back when their lease ends."""
        for task in [self._task, *self._in_flight]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            self._slot_freed.clear()
            free = self._concurrency - len(self._in_flight)
            if free > 0:
                try:
                    async with self._pool.acquire() as conn:
                        due = await self._repo.claim_due(
                            conn, free, self._lease, self._partner_concurrency, dict(self._partner_load)
                        )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    logger.warning("callback worker: database unavailable (%s)", exc)
                    due = []
                for row in due:
                    self._start_delivery(row)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval_s):
                    await self._slot_freed.wait()

    def _start_delivery(self, row: DueCallback) -> None:
        partner_id: UUID = row.partner_id
        task = asyncio.create_task(self._deliver(row), name=f"callback {row.event_id}")
        self._in_flight[task] = partner_id
        self._partner_load[partner_id] += 1
        self.in_flight.set(len(self._in_flight))
        task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        partner_id = self._in_flight.pop(task)
        self._partner_load[partner_id] -= 1
        if self._partner_load[partner_id] <= 0:
            del self._partner_load[partner_id]
        self.in_flight.set(len(self._in_flight))
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("callback delivery failed unexpectedly", exc_info=task.exception())

    async def _deliver(self, row: DueCallback) -> None:
        if not row.secret:
            await self._record(row, "no callback secret")
            return
        host = httpx.URL(row.url).host
        wait_s = self._breaker.wait_before_call(host)
        if wait_s is not None:
            await self._postpone(
                row, wait_s, f"not called: {host} failed repeatedly; it is probed again later"
            )
            return
        error, host_failed = await self._post(row)
        if not host_failed:
            self._breaker.succeeded(host)
        elif self._breaker.failed(host):
            self.breaker_opens.inc()
            logger.warning("callbacks to %s paused after repeated failures (%s)", host, error)
        await self._record(row, error)

    async def _post(self, row: DueCallback) -> tuple[str | None, bool]:
        """The error (None: delivered), and whether it counts against the host: no connection,
        no answer in time, or an answer that says the host is in trouble (5xx, 408, 429). A 4xx
        says the host is up, so it does not."""
        assert self._client is not None
        assert row.secret is not None  # _deliver saw to it
        body = json.dumps(row.body, separators=(",", ":"), ensure_ascii=False).encode()
        # The receiver checks the timestamp against its own wall clock (replays): wall time, not the
        # service's clock. The event id is the webhook-id: the same on every retry of this callback.
        signed = callback_headers(
            row.secret, str(row.event_id), body, datetime.now(UTC), self._legacy_headers_until
        )
        try:
            async with asyncio.timeout(self._deadline_s):
                response = await self._client.post(
                    row.url,
                    content=body,
                    headers={"content-type": "application/json", **signed},
                )
        except ForbiddenDestination as exc:
            return f"not called: {exc}", True
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500], True
        except TimeoutError:
            return f"no answer within {self._deadline_s:g}s", True
        if 200 <= response.status_code < 300:
            return None, False
        status = response.status_code
        return f"HTTP {status}", status >= 500 or status in (408, 429)

    async def _record(self, row: DueCallback, error: str | None) -> None:
        async with self._pool.acquire() as conn:
            if error is None:
                await self._repo.mark_delivered(conn, row.id)
                self.outcomes.labels("delivered").inc()
            elif not await self._gave_up(conn, row, error):
                delay = backoff(row.attempts, self._retry_initial_s, self._retry_max_s)
                await self._repo.reschedule(conn, row.id, timedelta(seconds=delay), error)
                self.outcomes.labels("retry").inc()

    async def _postpone(self, row: DueCallback, wait_s: float, reason: str) -> None:
        async with self._pool.acquire() as conn:
            if not await self._gave_up(conn, row, reason):
                await self._repo.postpone(conn, row.id, timedelta(seconds=wait_s), reason)
                self.outcomes.labels("postponed").inc()

    async def _gave_up(self, conn: DbConnection, row: DueCallback, error: str) -> bool:
        if self._clock.now() - row.created_at < self._give_up_after:
            return False
        await self._repo.mark_dead(conn, row.id, error)
        self.outcomes.labels("dead").inc()
        logger.warning("callback %s dead after %d attempts: %s", row.event_id, row.attempts, error)
        return True
