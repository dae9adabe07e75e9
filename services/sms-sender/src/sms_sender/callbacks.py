"""Status callbacks to partners: HMAC-SHA256 signed, retried with exponential back-off for at
least a day, then dead-lettered and listed by the API. Runs beside dispatch, never in its way:
deliveries are rows in PostgreSQL, taken by a worker with its own concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta

import asyncpg
import httpx
from prometheus_client import CollectorRegistry, Counter

from sms_sender.repository import CallbackRepository
from vas_common.events.envelope import utcnow

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-VAS-Signature"
EVENT_ID_HEADER = "X-VAS-Event-Id"
TIMESTAMP_HEADER = "X-VAS-Timestamp"


def sign(secret: str, event_id: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, "<event id>.<timestamp>.<body>")), sent as "sha256=<hex>"."""
    message = event_id.encode() + b"." + timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def backoff(attempts: int, initial_s: float, max_s: float) -> float:
    return float(min(max_s, initial_s * 2 ** max(0, attempts - 1)))


class CallbackWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: CollectorRegistry,
        *,
        retry_initial_s: float = 10.0,
        retry_max_s: float = 3600.0,
        give_up_after: timedelta = timedelta(hours=24),
        concurrency: int = 50,
        timeout_s: float = 5.0,
        poll_interval_s: float = 0.2,
        repository: CallbackRepository | None = None,
    ) -> None:
        self._pool = pool
        self._repo = repository or CallbackRepository()
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._give_up_after = give_up_after
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._poll_interval_s = poll_interval_s
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.outcomes = Counter("sms_callbacks_total", "Callback attempts", ["outcome"], registry=registry)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="callbacks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as conn:
                    due = await self._repo.claim_due(
                        conn, self._concurrency, timedelta(seconds=self._timeout_s * 3)
                    )
                if due:
                    await asyncio.gather(*(self._deliver(row) for row in due))
                    continue
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("callback worker: database unavailable (%s)", exc)
            await asyncio.sleep(self._poll_interval_s)

    async def _deliver(self, row: asyncpg.Record) -> None:
        assert self._client is not None
        body = json.dumps(row["body"], separators=(",", ":"), ensure_ascii=False).encode()
        event_id = str(row["event_id"])
        timestamp = str(int(time.time()))
        error: str | None = None
        if not row["secret"]:
            error = "no callback secret"
        else:
            try:
                response = await self._client.post(
                    row["url"],
                    content=body,
                    headers={
                        "content-type": "application/json",
                        EVENT_ID_HEADER: event_id,
                        TIMESTAMP_HEADER: timestamp,
                        SIGNATURE_HEADER: sign(row["secret"], event_id, timestamp, body),
                    },
                )
                error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        async with self._pool.acquire() as conn:
            if error is None:
                await self._repo.mark_delivered(conn, row["id"])
                self.outcomes.labels("delivered").inc()
                return
            created: datetime = row["created_at"]
            if utcnow() - created >= self._give_up_after:
                await self._repo.mark_dead(conn, row["id"], error)
                self.outcomes.labels("dead").inc()
                logger.warning("callback %s dead after %d attempts: %s", event_id, row["attempts"], error)
                return
            delay = backoff(row["attempts"], self._retry_initial_s, self._retry_max_s)
            await self._repo.reschedule(conn, row["id"], timedelta(seconds=delay), error)
            self.outcomes.labels("retry").inc()
