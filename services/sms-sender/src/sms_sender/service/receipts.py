"""Delivery receipts (deliver_sm with the receipt flag): applied to the segments they name, or
parked until those segments are recorded.

A receipt can come before the dispatcher has recorded its segment: before the submit_sm_resp
(some SMSCs send it first) or while the batch of that submit is being recorded. Such a receipt
is stored as early in the inbound transaction, so it is durable before its deliver_sm_resp, and
the inbound loop goes on at once (MO behind it is not held). It is applied when its segment
lands: by the batch's own recording if it was stored before it, else right after that
recording (`InFlight` tells which batch to wait for), and in the last resort by the sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from prometheus_client import Counter

from sms_sender.connectors import Inbound, route_scoped_id
from sms_sender.health import HealthMonitor
from sms_sender.repository.receipts import ReceiptRepository, ReceiptRow
from sms_sender.service.statuses import StatusRecorder
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.smpp.text import parse_receipt

logger = logging.getLogger(__name__)

# How long a parked receipt waits for its batch's recording before the sweeper is left to it.
PARKED_WAIT_S = 60.0


class BatchRecording:
    """Where a sent batch stands: being recorded (`started`), recorded or given up (`done`)."""

    __slots__ = ("done", "started")

    def __init__(self) -> None:
        self.started = False
        self.done = asyncio.Event()


class InFlight:
    """SMSC ids of segments answered but not recorded yet -> the recording of their batch.
    Shared by the dispatcher (which fills it) and the receipt intake (which parks on it)."""

    def __init__(self) -> None:
        self._by_smsc_id: dict[str, BatchRecording] = {}

    def add(self, smsc_id: str, batch: BatchRecording) -> None:
        self._by_smsc_id[smsc_id] = batch

    def get(self, smsc_id: str) -> BatchRecording | None:
        return self._by_smsc_id.get(smsc_id)

    def finish(self, smsc_ids: Sequence[str], batch: BatchRecording) -> None:
        for smsc_id in smsc_ids:
            self._by_smsc_id.pop(smsc_id, None)
        batch.done.set()


class ReceiptIntake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        in_flight: InFlight,
        receipts_total: Counter,
        clock: Clock,
        *,
        receipts: ReceiptRepository | None = None,
        recorder: StatusRecorder | None = None,
        health: HealthMonitor | None = None,
        parked_wait_s: float = PARKED_WAIT_S,
    ) -> None:
        self._pool = pool
        self._in_flight = in_flight
        self._receipts_total = receipts_total  # by stat
        self._clock = clock
        self._receipts = receipts or ReceiptRepository()
        self._recorder = recorder or StatusRecorder()
        self._health = health
        self._parked_wait_s = parked_wait_s
        self._waiting: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """Parked receipts still waiting are stored: the sweeper applies them."""
        for task in list(self._waiting):
            task.cancel()
        for task in list(self._waiting):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def read(self, items: Sequence[Inbound]) -> list[ReceiptRow]:
        """The receipts among `items` that can be read (the others are logged and dropped)."""
        rows: list[ReceiptRow] = []
        for item in items:
            receipt = parse_receipt(item.short_message, item.receipted_message_id)
            if receipt is None:
                logger.warning("unreadable delivery receipt from %s ignored", item.source_addr)
                continue
            self._receipts_total.labels(receipt.stat).inc()
            if self._health is not None:
                self._health.note_outcome(failed=not receipt.delivered)
            rows.append(
                ReceiptRow(
                    route_scoped_id(item.route, receipt.message_id),
                    receipt.stat,
                    receipt.err,
                    "delivered" if receipt.delivered else "failed",
                )
            )
        return rows

    def in_flight(self, rows: Sequence[ReceiptRow]) -> dict[BatchRecording, list[str]]:
        """The receipts whose segment is answered but not recorded yet, by the batch recording it.
        Taken before the receipts are stored: a batch recorded meanwhile leaves the map."""
        batches: dict[BatchRecording, list[str]] = {}
        for row in rows:
            batch = self._in_flight.get(row.smsc_message_id)
            if batch is not None:
                batches.setdefault(batch, []).append(row.smsc_message_id)
        return batches

    async def store(self, conn: DbConnection, rows: Sequence[ReceiptRow], now: datetime) -> None:
        """Apply the receipts whose segment is recorded; store the others as early, in the
        caller's transaction (committed before the SMSC gets its deliver_sm_resp)."""
        if rows:
            affected = await self._receipts.apply_receipts(conn, rows, now)
            await self._recorder.refresh(conn, list(affected), now)

    def park(self, batches: dict[BatchRecording, list[str]]) -> None:
        """After the receipts are committed: apply those stored as early once their batch is
        recorded. Never awaited by the inbound loop."""
        for batch, smsc_ids in batches.items():
            task = asyncio.create_task(self._apply_when_recorded(batch, smsc_ids), name="parked-receipts")
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)

    async def _apply_when_recorded(self, batch: BatchRecording, smsc_ids: list[str]) -> None:
        try:
            async with asyncio.timeout(self._parked_wait_s):
                await batch.done.wait()
        except TimeoutError:
            return  # stored as early: the sweeper applies them once their segments are there
        try:
            await self.apply_recorded(smsc_ids)
        except Exception:
            logger.exception("applying %d parked receipts failed; the sweeper will", len(smsc_ids))

    async def apply_recorded(self, smsc_ids: list[str]) -> int:
        """Apply the early receipts of these SMSC ids whose segments are recorded now."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await self._receipts.take_recorded_early_receipts(conn, smsc_ids)
            affected = await self._receipts.apply_receipts(conn, rows, now)
            await self._recorder.refresh(conn, list(affected), now)
        return len(rows)

    async def resolve_early_receipts(self) -> int:
        """The sweeper: receipts stored as 'early' whose segment has been recorded since (a race
        no batch saw, or a parked receipt whose wait ended): apply them now."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await self._receipts.take_resolvable_early_receipts(conn)
            affected = await self._receipts.apply_receipts(conn, rows, now)
            await self._recorder.refresh(conn, list(affected), now)
        return len(rows)
