"""Receipt reconciliation: a segment whose receipt has not come `query_after` after its submit
(the SMSC dropped it, or it was in flight when a dispatcher died and the SMSC never sends an
unacknowledged receipt again) is asked about with query_sm; a final answer is applied as its
receipt would have been. Asked again every `requery_after` while the SMSC says it is on its way.

A segment still without a final answer `give_up_after` its submit (the SMSC's validity period
and a last question after it) is failed with the stat UNKNOWN: its message ends with the outcome
`unknown` (or `expired`, when the SMSC said so), which the partner reads and is called back with."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from sms_sender.connectors import QueryResult, Route, SmscConnector
from sms_sender.repository.receipts import ReceiptRepository, ReceiptRow
from sms_sender.repository.reconciliation import ReconciliationRepository
from sms_sender.service.statuses import StatusRecorder
from vas_common.clock import Clock

logger = logging.getLogger(__name__)


class ReconciliationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queries = Counter(
            "sms_receipt_queries_total",
            "query_sm for segments whose receipt did not come, by outcome: final (applied as the "
            "receipt), pending (on its way), unknown (the SMSC does not know it), unanswered",
            ["outcome"],
            registry=registry,
        )
        self.given_up = Counter(
            "sms_segments_given_up_total",
            "Segments with neither a receipt nor a final query_sm answer by the end of their "
            "validity period, ended as failed with the stat UNKNOWN",
            registry=registry,
        )


class ReceiptReconciler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        connector: SmscConnector,
        metrics: ReconciliationMetrics,
        clock: Clock,
        *,
        query_after: timedelta,
        requery_after: timedelta,
        give_up_after: timedelta,
        batch: int = 100,
        repository: ReconciliationRepository | None = None,
        receipts: ReceiptRepository | None = None,
        recorder: StatusRecorder | None = None,
    ) -> None:
        self._pool = pool
        self._connector = connector
        self._metrics = metrics
        self._clock = clock
        self._query_after = query_after
        self._requery_after = requery_after
        self._give_up_after = give_up_after
        self._batch = batch
        self._repository = repository or ReconciliationRepository()
        self._receipts = receipts or ReceiptRepository()
        self._recorder = recorder or StatusRecorder()

    async def run(self) -> int:
        """One sweep: give up on the segments past their validity, then ask about up to `batch`
        others. Returns how many got a final answer or were given up."""
        given_up = await self._give_up()
        return given_up + await self._ask()

    async def _give_up(self) -> int:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            affected = await self._repository.give_up(conn, now - self._give_up_after, self._batch, now)
            await self._recorder.refresh(conn, list(affected), now)
        if affected:
            self._metrics.given_up.inc(len(affected))
            logger.warning(
                "%d messages ended as unknown: no receipt nor final answer from the SMSC within %s",
                len(affected),
                self._give_up_after,
            )
        return len(affected)

    async def _ask(self) -> int:
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            due = await self._repository.claim_awaiting_receipt(
                conn, now - self._query_after, now - self._requery_after, self._batch, now
            )
        if not due:
            return 0
        answers = await asyncio.gather(
            *(
                self._connector.query(s.smsc_message_id, s.source_addr, Route(s.route) if s.route else None)
                for s in due
            )
        )
        rows: list[ReceiptRow] = []
        unanswered: list[str] = []
        for segment, answer in zip(due, answers, strict=True):
            self._metrics.queries.labels(_outcome(answer)).inc()
            if not answer.answered:
                unanswered.append(segment.smsc_message_id)
            elif answer.final:
                status = "delivered" if answer.stat == "DELIVRD" else "failed"
                rows.append(ReceiptRow(segment.smsc_message_id, answer.stat, answer.err, status))
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            await self._repository.release(conn, unanswered)
            affected = await self._receipts.apply_receipts(conn, rows, now)
            await self._recorder.refresh(conn, list(affected), now)
        if rows:
            logger.info("%d segments without a receipt settled by query_sm", len(rows))
        return len(rows)


def _outcome(answer: QueryResult) -> str:
    if not answer.answered:
        return "unanswered"
    if not answer.known:
        return "unknown"
    return "final" if answer.final else "pending"
