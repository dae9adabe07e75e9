"""Kafka plumbing: topic creation, an acks=all publisher, and a consumer runner.

The runner commits an offset only after the handler succeeded for the record (at-least-once;
every handler must be idempotent). A record whose handler keeps failing, or that cannot be
decoded at all, goes to `<topic>.dlt` with the error in its headers, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from vas_common.events import Event, UnknownEvent, decode_event, encode_event
from vas_common.events.topics import Topic
from vas_common.settings import ServiceSettings
from vas_common.telemetry import (
    KafkaHeaders,
    Metrics,
    carrier_to_kafka_headers,
    consumer_span,
    current_trace_carrier,
)

logger = logging.getLogger(__name__)


class PoisonRecord(Exception):
    """A record that no retry can help: it goes straight to the dead-letter topic."""


async def ensure_topics(settings: ServiceSettings, topics: Iterable[Topic]) -> None:
    """Create each topic and its dead-letter topic if missing. Safe to run from many replicas."""
    names: list[str] = []
    for topic in topics:
        names += [topic.name, topic.dead_letter]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=settings.client_id())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        for name in missing:
            new = NewTopic(name, settings.kafka_topic_partitions, settings.kafka_replication_factor)
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica was first
                await admin.create_topics([new])
    finally:
        await admin.close()


class EventPublisher:
    """Publishes with acks=all and waits for the broker's answer before returning."""

    def __init__(self, settings: ServiceSettings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._settings.client_id(),
            acks="all",
            linger_ms=2,
            request_timeout_ms=10_000,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("publisher not started")
        return self._producer

    async def publish(self, topic: Topic, event: Event, headers: KafkaHeaders | None = None) -> None:
        if headers is None:
            headers = carrier_to_kafka_headers(current_trace_carrier())
        await self.publish_raw(topic.name, event.key().encode(), encode_event(event), headers)

    async def publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: KafkaHeaders | None = None
    ) -> None:
        await self.producer.send_and_wait(topic, value, key=key, headers=headers or [])
        self._metrics.events_published.labels(topic).inc()

    async def publish_many(self, records: list[tuple[str, bytes | None, bytes, KafkaHeaders]]) -> None:
        """Send (topic, key, value, headers) records together and wait until all are acknowledged."""
        futures = [
            await self.producer.send(topic, value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*futures)
        for topic, *_ in records:
            self._metrics.events_published.labels(topic).inc()

    async def check(self, timeout_s: float) -> None:
        """Raise if the broker cannot be reached within the timeout (readiness)."""
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout_s)


RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]
EventHandler = Callable[[Event, ConsumerRecord[bytes, bytes]], Awaitable[None]]


def event_handler(handle: EventHandler) -> RecordHandler:
    """Adapt a handler of decoded events to raw records; an undecodable record is poison."""

    async def on_record(record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = decode_event(record.value or b"")
        except UnknownEvent as exc:
            raise PoisonRecord(f"not a known event: {exc}") from exc
        await handle(event, record)

    return on_record


PoisonList = list[tuple[ConsumerRecord[bytes, bytes], Exception]]
BatchHandler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[PoisonList]]


@dataclass(frozen=True)
class Subscription:
    """Which topics a consumer group reads and what it does with their records.

    `handler` takes one record at a time (retried, then dead-lettered). `batch_handler` takes
    a partition's whole batch at once, for hot paths: it is retried until it returns, and
    returns the records it could not read at all, which go to the dead-letter topic.
    """

    group_id: str
    topics: Sequence[Topic]
    handler: RecordHandler | None = None
    batch_handler: BatchHandler | None = None


class ConsumerRunner:
    def __init__(
        self,
        settings: ServiceSettings,
        subscription: Subscription,
        publisher: EventPublisher,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._sub = subscription
        self._publisher = publisher
        self._metrics = metrics
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.assigned = asyncio.Event()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *[t.name for t in self._sub.topics],
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._settings.client_id(),
            group_id=self._sub.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            session_timeout_ms=self._settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self._settings.kafka_heartbeat_interval_ms,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._sub.group_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
            except KafkaError:
                logger.exception("fetch failed for group %s; retrying", self._sub.group_id)
                await asyncio.sleep(1.0)
                continue
            if consumer.assignment():
                self.assigned.set()
            if self._sub.batch_handler is not None:
                await asyncio.gather(
                    *(self._process_batch(consumer, tp, recs) for tp, recs in batches.items())
                )
                continue
            for tp, records in batches.items():
                for record in records:
                    await self._process(record)
                await self._commit(consumer, tp, records[-1].offset + 1)

    async def _process_batch(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        handler = self._sub.batch_handler
        assert handler is not None
        async for attempt in AsyncRetrying(
            wait=wait_exponential_jitter(multiplier=self._settings.consumer_retry_initial_s, max=5.0),
            retry=retry_if_not_exception_type(asyncio.CancelledError),
            before_sleep=lambda state: logger.warning(
                "batch of %d from %s failed (attempt %d): %s; retrying",
                len(records),
                tp,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
        ):
            with attempt:
                poison = await handler(records)
        for record, error in poison:
            await self._dead_letter(record, error, 1)
        self._metrics.events_consumed.labels(tp.topic, "ok").inc(len(records) - len(poison))
        await self._commit(consumer, tp, records[-1].offset + 1)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except CommitFailedError:
            # The partition moved to another member during a rebalance; it will see these
            # records again, which idempotent handlers tolerate.
            logger.warning("commit lost in rebalance for %s; records will be redelivered", tp)

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        attempts = 0
        with consumer_span(
            f"{record.topic} process",
            record.headers,
            **{
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.partition": record.partition,
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": self._sub.group_id,
            },
        ) as span:
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self._settings.consumer_max_attempts),
                    wait=wait_exponential_jitter(
                        multiplier=self._settings.consumer_retry_initial_s,
                        max=self._settings.consumer_retry_max_s,
                    ),
                    retry=retry_if_not_exception_type((PoisonRecord, asyncio.CancelledError)),
                ):
                    with attempt:
                        attempts += 1
                        assert self._sub.handler is not None
                        await self._sub.handler(record)
            except (PoisonRecord, RetryError) as exc:
                cause = exc.last_attempt.exception() if isinstance(exc, RetryError) else exc
                span.set_attribute("vas.dead_lettered", True)
                await self._dead_letter(record, cause or exc, attempts)
                return
            self._metrics.events_consumed.labels(record.topic, "ok").inc()

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, attempts: int
    ) -> None:
        headers: KafkaHeaders = [
            *list(record.headers or ()),
            ("dlt.error", f"{type(error).__name__}: {error}"[:2000].encode()),
            ("dlt.original.topic", record.topic.encode()),
            ("dlt.original.partition", str(record.partition).encode()),
            ("dlt.original.offset", str(record.offset).encode()),
            ("dlt.consumer.group", self._sub.group_id.encode()),
            ("dlt.attempts", str(attempts).encode()),
        ]
        logger.error(
            "record %s[%d]@%d dead-lettered after %d attempts: %s",
            record.topic,
            record.partition,
            record.offset,
            attempts,
            error,
        )
        # Never skip a record that is not safely on the dead-letter topic: keep trying.
        async for attempt in AsyncRetrying(wait=wait_exponential_jitter(multiplier=0.2, max=5.0)):
            with attempt:
                await self._publisher.publish_raw(
                    f"{record.topic}.dlt", record.key, record.value or b"", headers
                )
        self._metrics.events_dead_lettered.labels(record.topic).inc()
        self._metrics.events_consumed.labels(record.topic, "dead_lettered").inc()
