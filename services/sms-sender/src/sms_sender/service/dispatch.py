"""Dispatch use cases: send accepted work to the SMSC and record what came of it. What the SMSC
delivers (receipts, MO) is taken in by service/inbound.py."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import asyncpg
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter, Histogram

from sms_sender import domain
from sms_sender.connectors import OutboundSegment, SmscConnector
from sms_sender.domain import MessageKey
from sms_sender.health import HealthMonitor
from sms_sender.repository.dispatch import DispatchRepository, SegmentOutcome
from sms_sender.repository.receipts import ReceiptRepository
from sms_sender.service.receipts import BatchRecording, InFlight
from sms_sender.service.statuses import StatusRecorder
from vas_common.clock import Clock, SystemClock
from vas_common.db import DbConnection
from vas_common.events.sms_sender import SubmitRequested
from vas_common.group_commit import GroupCommit, GroupCommitMetrics
from vas_common.kafka import HandledBatch, PoisonList, decode_batch
from vas_common.smpp.text import encode_message
from vas_common.telemetry import consumer_span

logger = logging.getLogger(__name__)

# A record of a message that an earlier batch is still sending or recording waits this long for
# that batch, then goes by what is recorded (see Dispatcher.dispatch).
_EARLIER_BATCH_WAIT_S = 10.0


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
        in_flight: InFlight | None = None,
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
        self.metrics = metrics
        self._records = records or DispatchRepository()
        self._receipts = receipts or ReceiptRepository()
        self._recorder = recorder or StatusRecorder()
        self._clock = clock or SystemClock()
        # SMSC ids of segments answered but not recorded yet -> the recording of their batch;
        # receipts that come meanwhile are parked on it (service/receipts.py).
        self.in_flight = in_flight or InFlight()
        # Messages being sent or recorded -> the recording of their batch (see dispatch).
        self._sending: dict[uuid.UUID, BatchRecording] = {}
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
                if event.payload.message_id in work:
                    self.metrics.replayed.inc()  # two records of one message in one batch
                work[event.payload.message_id] = event
                headers[event.payload.message_id] = list(record.headers or ())
        if not work:
            return poison
        recording = BatchRecording()
        try:
            await self._claim(list(work), recording)
            done = await self._replay_checks.submit(list(work))
            if done:
                self.metrics.replayed.inc(len(done))
                self._release(done, recording)
                for message_id in done:
                    del work[message_id]
            by_recipient: dict[str, list[SubmitRequested]] = defaultdict(list)
            for event in work.values():
                by_recipient[event.payload.recipient].append(event)
            results = await asyncio.gather(
                *(self._send_in_order(events, headers, recording) for events in by_recipient.values())
            )
        except BaseException:
            self._release(work, recording)
            recording.done.set()
            raise
        if not work:
            recording.done.set()
            return poison
        outcomes = [o for group in results for o in group]
        keys = [(message_id, event.payload.accepted_at) for message_id, event in work.items()]
        return HandledBatch(poison, functools.partial(self._record, outcomes, keys, recording))

    async def _claim(self, message_ids: list[uuid.UUID], recording: BatchRecording) -> None:
        """Mark the messages as this batch's, and wait for the earlier batches that still send or
        record any of them. A message can have two records (republished while its first waited
        in a backlog); a partition's next batch is sent while the last one is recorded, so the
        second record's replay check could come before the first one's outcome is committed.
        After the wait the replay check sees it. A batch that is never recorded (its handling
        abandoned: it is fetched again) holds a later one up for `_EARLIER_BATCH_WAIT_S`, after
        which what is recorded decides."""
        earlier: set[BatchRecording] = set()
        for message_id in message_ids:
            other = self._sending.get(message_id)
            if other is not None and not other.done.is_set():
                earlier.add(other)
            self._sending[message_id] = recording
        if earlier:
            waits = [asyncio.ensure_future(batch.done.wait()) for batch in earlier]
            _, late = await asyncio.wait(waits, timeout=_EARLIER_BATCH_WAIT_S)
            for wait in late:
                wait.cancel()
            if late:
                logger.warning("an earlier batch of the same messages is not recorded yet; checking anyway")

    def _release(self, message_ids: Iterable[uuid.UUID], recording: BatchRecording) -> None:
        for message_id in message_ids:
            if self._sending.get(message_id) is recording:
                del self._sending[message_id]

    async def _send_in_order(
        self,
        events: list[SubmitRequested],
        headers: dict[uuid.UUID, list[tuple[str, bytes]]],
        recording: BatchRecording,
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

    async def _send_message(self, event: SubmitRequested, recording: BatchRecording) -> list[SegmentOutcome]:
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
                self.in_flight.add(result.smsc_message_id, recording)
            if not result.accepted:
                if self._health is not None:
                    self._health.note_outcome(failed=True)
                self.metrics.refused.labels(result.status_name).inc()
                logger.warning("message %s segment %d refused: %s", work.message_id, seq, result.status_name)
                break  # the message has failed; its later segments were not sent
            self.metrics.submitted.inc()
        delay = max(0.0, (self._clock.now() - work.accepted_at).total_seconds())
        self.metrics.accept_to_submit.observe(delay)
        if self._health is not None:
            self._health.note_delay(delay)
        return outcomes

    async def _already_submitted(
        self, conn: DbConnection, batches: Sequence[list[uuid.UUID]]
    ) -> list[set[uuid.UUID]]:
        done = await self._records.already_submitted(conn, [i for ids in batches for i in ids])
        return [done.intersection(ids) for ids in batches]

    async def _record(
        self, outcomes: list[SegmentOutcome], keys: list[MessageKey], recording: BatchRecording
    ) -> None:
        recording.started = True
        smsc_ids = [o.smsc_message_id for o in outcomes if o.smsc_message_id]
        try:
            await self._recordings.submit(_Recording(outcomes, keys, smsc_ids))
        finally:  # recorded, cancelled or failed: receipts parked on it stop waiting
            self._release((message_id for message_id, _ in keys), recording)
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

    def _done_recording(self, smsc_ids: list[str], recording: BatchRecording) -> None:
        self.in_flight.finish(smsc_ids, recording)


class _Recording(NamedTuple):
    """What one sent batch has to record."""

    outcomes: list[SegmentOutcome]
    keys: list[MessageKey]
    smsc_ids: list[str]
