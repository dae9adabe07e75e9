"""Receipt reconciliation: a segment whose receipt has not come `query_after` after its submit
(the SMSC dropped it, or it was in flight when a dispatcher died and the SMSC never sends an
unacknowledged receipt again) is asked about with query_sm; a final answer is applied as its
receipt would have been. Asked again every `requery_after` while the SMSC says it is on its way.

Not yet: the final `unknown`/`expired` state past the validity period (issue 17)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from sms_sender.connectors import QueryResult, SmscConnector
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
        self._batch = batch
        self._repository = repository or ReconciliationRepository()
        self._receipts = receipts or ReceiptRepository()
        self._recorder = recorder or StatusRecorder()

    async def run(self) -> int:
        """One sweep: ask about up to `batch` segments. Returns how many got a final answer."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            due = await self._repository.claim_awaiting_receipt(
                conn, now - self._query_after, now - self._requery_after, self._batch, now
            )
        if not due:
            return 0
        answers = await asyncio.gather(
            *(self._connector.query(s.smsc_message_id, s.source_addr) for s in due)
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
