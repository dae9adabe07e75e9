"""Dispatch use cases: send accepted work to the SMSC and record what came of it; store delivery
receipts and user-originated (MO) messages."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter, Histogram

from sms_sender import domain
from sms_sender.connectors import Inbound, OutboundSegment, SmscConnector
from sms_sender.connectors.smpp import is_receipt
from sms_sender.domain import MessageKey
from sms_sender.health import HealthMonitor
from sms_sender.repository.dispatch import DispatchRepository, SegmentOutcome
from sms_sender.repository.mo import MoRepository
from sms_sender.repository.receipts import ReceiptRepository, ReceiptRow
from sms_sender.service.statuses import StatusRecorder
from vas_common.clock import Clock, SystemClock
from vas_common.db import DbConnection
from vas_common.events.sms_sender import MoMessage, MoReceived, SubmitRequested
from vas_common.events.topics import SMS_MO
from vas_common.group_commit import GroupCommit, GroupCommitMetrics
from vas_common.kafka import HandledBatch, PoisonList, decode_batch
from vas_common.outbox import OutboxRepository
from vas_common.smpp.text import decode_payload, encode_message, parse_receipt, split_udh
from vas_common.telemetry import consumer_span

logger = logging.getLogger(__name__)

_RECORDING_WAIT_S = 5.0


class DispatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = Counter(
            "sms_segments_submitted_total", "Segments accepted by the SMSC", registry=registry
        )
        self.refused = Counter(
            "sms_segments_refused_total",
            "Segments finally refused by the SMSC",
            ["status"],
            registry=registry,
        )
        self.replayed = Counter(
            "sms_submit_replays_total",
            "Submit records seen again after a crash or rebalance and skipped (outcome already recorded)",
            registry=registry,
        )
        self.receipts = Counter("sms_receipts_total", "Delivery receipts", ["stat"], registry=registry)
        self.mo = Counter("sms_mo_total", "User-originated messages published", registry=registry)
        self.accept_to_submit = Histogram(
            "sms_accept_to_submit_resp_seconds",
            "From the API's 202 to the SMSC's submit_sm_resp of the last segment",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 60),
            registry=registry,
        )


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        connector: SmscConnector,
        metrics: DispatchMetrics,
        *,
        records: DispatchRepository | None = None,
        receipts: ReceiptRepository | None = None,
        mo: MoRepository | None = None,
        outbox: OutboxRepository | None = None,
        recorder: StatusRecorder | None = None,
        clock: Clock | None = None,
        group_commits: GroupCommitMetrics | None = None,
        health: HealthMonitor | None = None,
        concat_reference_bits: int = 8,
    ) -> None:
        self._pool = pool
        self._reference_bits = concat_reference_bits
        self._health = health  # counts send delays and delivery outcomes for sms.health
        self._connector = connector
        self._metrics = metrics
        self._records = records or DispatchRepository()
        self._receipts = receipts or ReceiptRepository()
        self._mo = mo or MoRepository()
        self._outbox = outbox or OutboxRepository()
        self._recorder = recorder or StatusRecorder()
        self._clock = clock or SystemClock()
        # SMSC ids of segments answered but not recorded yet -> the recording of their batch.
        self._recording: dict[str, _BatchRecording] = {}
        # Each partition's batch is sent and recorded on its own; batches that reach these steps
        # together share the statements (one replay check, one recording transaction). With
        # 6 partitions over 2 dispatchers, a batch under single-message load was 19 messages.
        self._replay_checks: GroupCommit[list[uuid.UUID], set[uuid.UUID]] = GroupCommit(
            pool,
            self._already_submitted,
            name="dispatch-replay-check",
            transaction=False,
            workers=1,
            metrics=group_commits,
        )
        self._recordings: GroupCommit[_Recording, None] = GroupCommit(
            pool, self._write_recordings, name="dispatch-record", workers=1, metrics=group_commits
        )

    async def start(self) -> None:
        await self._replay_checks.start()
        await self._recordings.start()

    async def stop(self) -> None:
        await self._recordings.stop()
        await self._replay_checks.stop()

    # -- MT ------------------------------------------------------------------------------

    async def dispatch(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> PoisonList | HandledBatch:
        """Send a batch of submit records. Returns once the SMSC has answered every segment,
        with the undecodable records (for the dead-letter topic) and the step that records the
        outcomes; the offsets may be committed once that step has run. Meanwhile the next batch
        is sent, so the binds do not idle while a batch is recorded and the next one fetched."""
        decoded, poison = decode_batch(records)
        work: dict[uuid.UUID, SubmitRequested] = {}
        headers: dict[uuid.UUID, list[tuple[str, bytes]]] = {}
        for event, record in decoded:
            if isinstance(event, SubmitRequested):
                work[event.payload.message_id] = event
                headers[event.payload.message_id] = list(record.headers or ())
        if not work:
            return poison
        done = await self._replay_checks.submit(list(work))
        if done:
            self._metrics.replayed.inc(len(done))
            for message_id in done:
                del work[message_id]
        by_recipient: dict[str, list[SubmitRequested]] = defaultdict(list)
        for event in work.values():
            by_recipient[event.payload.recipient].append(event)
        recording = _BatchRecording()
        results = await asyncio.gather(
            *(self._send_in_order(events, headers, recording) for events in by_recipient.values())
        )
        outcomes = [o for group in results for o in group]
        keys = [(message_id, event.payload.accepted_at) for message_id, event in work.items()]
        return HandledBatch(poison, functools.partial(self._record, outcomes, keys, recording))

    async def _send_in_order(
        self,
        events: list[SubmitRequested],
        headers: dict[uuid.UUID, list[tuple[str, bytes]]],
        recording: _BatchRecording,
    ) -> list[SegmentOutcome]:
        """Messages to one recipient go one after the other; the segments of one message in order."""
        outcomes: list[SegmentOutcome] = []
        for event in events:
            # The trace of the HTTP request that accepted the message continues here.
            with consumer_span(
                "sms.submit dispatch",
                headers.get(event.payload.message_id),
                **{"messaging.system": "kafka", "vas.message_id": str(event.payload.message_id)},
            ):
                outcomes += await self._send_message(event, recording)
        return outcomes

    async def _send_message(self, event: SubmitRequested, recording: _BatchRecording) -> list[SegmentOutcome]:
        work = event.payload
        encoded = encode_message(
            work.text, domain.udh_reference(work.concat_ref, work.message_id.bytes), self._reference_bits
        )
        segments = [
            OutboundSegment(
                message_id=str(work.message_id),
                seq=seq,
                source_addr=work.source_addr,
                destination_addr=work.recipient,
                short_message=short_message,
                data_coding=encoded.data_coding,
                esm_class=encoded.esm_class,
                priority=work.category.is_priority,
            )
            for seq, short_message in enumerate(encoded.segments, start=1)
        ]
        # All segments on one route, in order: a message half-sent on a route that fails is sent
        # again whole on the other (connectors.failover), so its results are one route's.
        results = await self._connector.submit_message(segments)
        outcomes: list[SegmentOutcome] = []
        for seq, result in enumerate(results, start=1):
            outcomes.append(
                SegmentOutcome(
                    message_id=work.message_id,
                    accepted_at=work.accepted_at,
                    seq=seq,
                    status="submitted" if result.accepted else "failed",
                    smsc_message_id=result.smsc_message_id,
                    smpp_status=result.status,
                    attempts=result.attempts,
                    at=self._clock.now(),
                    route=result.route,
                )
            )
            if result.smsc_message_id:
                self._recording[result.smsc_message_id] = recording
            if not result.accepted:
                if self._health is not None:
                    self._health.note_outcome(failed=True)
                self._metrics.refused.labels(result.status_name).inc()
                logger.warning("message %s segment %d refused: %s", work.message_id, seq, result.status_name)
                break  # the message has failed; its later segments were not sent
            self._metrics.submitted.inc()
        delay = max(0.0, (self._clock.now() - work.accepted_at).total_seconds())
        self._metrics.accept_to_submit.observe(delay)
        if self._health is not None:
            self._health.note_delay(delay)
        return outcomes

    async def _already_submitted(
        self, conn: DbConnection, batches: Sequence[list[uuid.UUID]]
    ) -> list[set[uuid.UUID]]:
        done = await self._records.already_submitted(conn, [i for ids in batches for i in ids])
        return [done.intersection(ids) for ids in batches]

    async def _record(
        self, outcomes: list[SegmentOutcome], keys: list[MessageKey], recording: _BatchRecording
    ) -> None:
        recording.started = True
        smsc_ids = [o.smsc_message_id for o in outcomes if o.smsc_message_id]
        try:
            await self._recordings.submit(_Recording(outcomes, keys, smsc_ids))
        except asyncio.CancelledError:
            self._done_recording(smsc_ids, recording)
            raise
        self._done_recording(smsc_ids, recording)

    async def _write_recordings(self, conn: DbConnection, batches: Sequence[_Recording]) -> list[None]:
        """Inside one transaction: the outcomes of batches sent, the receipts that came before
        them, and the statuses that follow."""
        now = self._clock.now()
        await self._records.record_segments(conn, [o for b in batches for o in b.outcomes])
        early = await self._receipts.take_early_receipts(conn, [i for b in batches for i in b.smsc_ids])
        await self._receipts.apply_receipts(conn, early, now)
        keys = list(dict.fromkeys(k for b in batches for k in b.keys))  # a replay can be in two
        await self._recorder.refresh(conn, keys, now)
        return [None] * len(batches)

    def _done_recording(self, smsc_ids: list[str], recording: _BatchRecording) -> None:
        for smsc_id in smsc_ids:
            self._recording.pop(smsc_id, None)
        recording.done.set()

    # -- inbound: receipts and MO ------------------------------------------------------------

    async def inbound(self, items: list[Inbound]) -> None:
        receipts: list[ReceiptRow] = []
        mo: list[Inbound] = []
        for item in items:
            if not is_receipt(item):
                mo.append(item)
                continue
            receipt = parse_receipt(item.short_message, item.receipted_message_id)
            if receipt is None:
                logger.warning("unreadable delivery receipt from %s ignored", item.source_addr)
                continue
            self._metrics.receipts.labels(receipt.stat).inc()
            if self._health is not None:
                self._health.note_outcome(failed=not receipt.delivered)
            receipts.append(
                ReceiptRow(
                    receipt.message_id,
                    receipt.stat,
                    receipt.err,
                    "delivered" if receipt.delivered else "failed",
                )
            )
        # A receipt often comes while the batch of its submit is being recorded: it would be
        # stored as early, missed by that transaction and applied by the sweeper later (4
        # receipts in 10 under load). Wait for such recordings; a batch still being sent takes
        # its early receipts itself when it is recorded.
        batches = {
            b for r in receipts if (b := self._recording.get(r.smsc_message_id)) is not None and b.started
        }
        if batches:
            waits = [asyncio.ensure_future(batch.done.wait()) for batch in batches]
            _, late = await asyncio.wait(waits, timeout=_RECORDING_WAIT_S)
            for wait in late:
                wait.cancel()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            if receipts:
                affected = await self._receipts.apply_receipts(conn, receipts, now)
                await self._recorder.refresh(conn, list(affected), now)
            events: list[MoReceived] = []
            for item in mo:
                event = await self._mo_event(conn, item, now)
                if event is not None:
                    events.append(event)
            await self._outbox.enqueue_many(conn, [(SMS_MO, e) for e in events])
        self._metrics.mo.inc(len(events))

    async def _mo_event(self, conn: DbConnection, item: Inbound, now: datetime) -> MoReceived | None:
        segment = split_udh(item.short_message, item.esm_class)
        msisdn = item.source_addr.lstrip("+")
        if segment.reference is None or segment.total <= 1:
            text = decode_payload(segment.payload, item.data_coding)
            parts = 1
        else:
            stored = await self._mo.add_part(
                conn,
                msisdn,
                item.destination_addr,
                segment.reference,
                segment.total,
                segment.sequence,
                item.data_coding,
                segment.payload,
            )
            if stored is None:
                return None  # more parts to come
            text = "".join(decode_payload(p.payload, p.data_coding) for p in stored)
            parts = segment.total
        return MoReceived(
            payload=MoMessage(
                mo_id=uuid.uuid4(),
                msisdn=msisdn,
                destination=item.destination_addr,
                text=text,
                received_at=now,
                parts=parts,
            )
        )

    async def resolve_early_receipts(self) -> int:
        """Receipts stored as 'early' whose segment has been recorded since (a race between the
        receipt and the dispatcher's own transaction): apply them now."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            receipts = await self._receipts.take_resolvable_early_receipts(conn)
            affected = await self._receipts.apply_receipts(conn, receipts, now)
            await self._recorder.refresh(conn, list(affected), now)
        return len(receipts)


class _Recording(NamedTuple):
    """What one sent batch has to record."""

    outcomes: list[SegmentOutcome]
    keys: list[MessageKey]
    smsc_ids: list[str]


class _BatchRecording:
    """Where a sent batch stands: being recorded (`started`), recorded (`done`)."""

    __slots__ = ("done", "started")

    def __init__(self) -> None:
        self.started = False
        self.done = asyncio.Event()
