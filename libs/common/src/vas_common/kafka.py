"""Kafka plumbing: topic creation, an acks=all publisher, and a consumer runner.

The runner commits an offset only after the handler succeeded for the record (at-least-once;
every handler must be idempotent). A record whose handler keeps failing, or that cannot be
decoded at all, goes to `<topic>.dlt` with the error in its headers, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    CommitFailedError,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest
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

_BUSY_POLL_MS = 20
_DRAIN_TIMEOUT_S = 10.0

_StepResult = TypeVar("_StepResult")


class PoisonRecord(Exception):
    """A record that no retry can help: it goes straight to the dead-letter topic."""


class MissingTopics(Exception):
    """Start-up with KAFKA_CREATE_TOPICS=false found topics that do not exist on the broker."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            f"{len(self.missing)} Kafka topic(s) missing: {', '.join(self.missing)} (KAFKA_CREATE_TOPICS "
            "is false: create them first, in production as Strimzi KafkaTopics, deploy/k8s/base/kafka.yaml)"
        )


def client_kwargs(settings: ServiceSettings) -> dict[str, Any]:
    """What every aiokafka client of the suite (producer, consumers, admin) is built with:
    where the broker is, this client's id, and how it connects (TLS, SASL)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": settings.client_id(),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return kwargs


def _with_dead_letters(topics: Iterable[Topic]) -> list[str]:
    names: list[str] = []
    for topic in topics:
        names += [topic.name, topic.dead_letter]
    return names


async def check_topics(settings: ServiceSettings, topics: Iterable[Topic]) -> None:
    """Raise MissingTopics naming each topic or dead-letter topic the broker does not have
    (KAFKA_CREATE_TOPICS=false: someone else creates them).

    Asks for the topics by name, without auto-creation: the broker answers "unknown" for a
    missing one and "not authorized" for one this service's user may not even describe (its
    ACLs name only the topics it uses), which is not this service's to check; a listing of
    all topics would show neither."""
    names = _with_dead_letters(topics)
    client = AIOKafkaClient(**client_kwargs(settings))
    try:
        await client.bootstrap()
        node = client.get_random_node()
        if node is None:
            raise KafkaError("the broker named no node to ask")
        response = await client.send(node, MetadataRequest(names, allow_auto_topic_creation=False))
    finally:
        await client.close()
    unknown = UnknownTopicOrPartitionError.errno
    found = {t["topic"]: t["error_code"] for t in response.to_object()["topics"]}
    missing = [n for n in names if found.get(n, unknown) == unknown]
    if missing:
        raise MissingTopics(missing)


async def ensure_topics(settings: ServiceSettings, topics: Iterable[Topic]) -> list[str]:
    """Create each topic and its dead-letter topic if missing. Safe to run from many replicas.
    Returns the names it created."""
    names: list[str] = []
    for topic in topics:
        names += [topic.name, topic.dead_letter]
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
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
    return missing


async def keep_topics(settings: ServiceSettings, topics: Iterable[Topic]) -> list[str]:
    """Create again the topics the broker no longer has (a periodic job of every service).

    A broker that lost its storage (the dev broker keeps everything in memory, so a restart
    empties it) comes back without the topics created at start-up: a dead-letter topic, or a
    topic no client has asked for since, would then be missing for good. A topic a client asks
    for first is made by the broker itself, with the broker's partition count (Tansu cannot add
    partitions to it afterwards)."""
    created = await ensure_topics(settings, topics)
    if created:
        logger.warning("topics missing on the broker (did it lose its storage?); created again: %s", created)
    return created


class EventPublisher:
    """Publishes with acks=all and waits for the broker's answer before returning."""

    def __init__(self, settings: ServiceSettings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **client_kwargs(self._settings),
            acks="all",
            linger_ms=2,
            request_timeout_ms=10_000,
            metadata_max_age_ms=self._settings.kafka_metadata_max_age_ms,
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


@dataclass(frozen=True)
class HandledBatch:
    """What a batch handler may return when its work has two steps: the part whose pace is set
    elsewhere (sending to an SMSC) is done, and `settle` (recording the outcome) remains.
    The runner starts the partition's next batch while `settle` runs, then commits; so a
    partition's pipeline does not run dry at every batch boundary. Offsets are committed in
    order, and at most one batch per partition is settling at a time."""

    poison: PoisonList
    settle: Callable[[], Awaitable[None]]


BatchHandler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[PoisonList | HandledBatch]]


def decode_batch(
    records: Sequence[ConsumerRecord[bytes, bytes]],
) -> tuple[list[tuple[Event, ConsumerRecord[bytes, bytes]]], PoisonList]:
    """For batch handlers: the decoded events with their records, and the records that are
    not a known event (poison, for the dead-letter topic)."""
    events: list[tuple[Event, ConsumerRecord[bytes, bytes]]] = []
    poison: PoisonList = []
    for record in records:
        try:
            events.append((decode_event(record.value or b""), record))
        except UnknownEvent as exc:
            poison.append((record, exc))
    return events, poison


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
    # For a group whose records someone waits on (the SMS submit lanes): instead of the
    # service's kafka_fetch_max_wait_ms. Every group polling quicker costs broker CPU.
    fetch_max_wait_ms: int | None = None


class _EarlierBatchUnsettled(Exception):
    """The partition's previous batch was not settled (cut short by a stop or a rebalance):
    this one may not be committed either."""


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition taken away in a rebalance first finishes the batch in hand and commits it,
    so its next owner does not handle the same records at the same time."""

    def __init__(
        self, *busy: dict[TopicPartition, asyncio.Task[None]], committed: dict[TopicPartition, int]
    ) -> None:
        self._busy = busy
        self._committed = committed

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = list(revoked)
        tasks = [tasks[tp] for tasks in self._busy for tp in revoked if tp in tasks]
        if tasks:
            await asyncio.wait(tasks, timeout=_DRAIN_TIMEOUT_S)
        for tp in revoked:
            self._committed.pop(tp, None)  # its next owner commits from now on

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        logger.info(
            "assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(assigned)) or "nothing"
        )


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
        self._busy: dict[TopicPartition, asyncio.Task[None]] = {}
        self._settling: dict[TopicPartition, asyncio.Task[None]] = {}  # see HandledBatch
        # The offsets this member committed, per partition it holds (for the lag gauge).
        self._committed: dict[TopicPartition, int] = {}
        self._lag_series: set[TopicPartition] = set()
        self.assigned = asyncio.Event()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **client_kwargs(self._settings),
            group_id=self._sub.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            session_timeout_ms=self._settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self._settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=self._sub.fetch_max_wait_ms or self._settings.kafka_fetch_max_wait_ms,
            metadata_max_age_ms=self._settings.kafka_metadata_max_age_ms,
        )
        self._consumer.subscribe(
            [t.name for t in self._sub.topics],
            listener=_FinishBeforeRevoke(self._busy, self._settling, committed=self._committed),
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._sub.group_id}")

    @property
    def group_id(self) -> str:
        return self._sub.group_id

    @property
    def topics(self) -> list[str]:
        return [t.name for t in self._sub.topics]

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds now (none before it joined or after it left)."""
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    async def sample_lag(self) -> dict[TopicPartition, int]:
        """Set `kafka_consumer_lag_records` for each partition this member holds: the end offset
        less what the group committed. One ListOffsets request and no request to the group
        coordinator (an OffsetFetch made beside the consumer's own kept a shutdown waiting on its
        retries): the committed offset is where the first batch after the assignment began,
        then what this member commits. Meant to be called every few seconds, never per record."""
        consumer = self._consumer
        if consumer is None:
            return {}
        held = sorted(consumer.assignment())
        ends = await consumer.end_offsets(held) if held else {}
        lags: dict[TopicPartition, int] = {}
        for tp in held:
            # Nothing fetched since the assignment: the position is still the committed offset.
            done = self._committed.get(tp)
            if done is None:
                done = await consumer.position(tp)
            lags[tp] = max(0, ends[tp] - done)
        for tp in self._lag_series - lags.keys():
            self._forget_lag(tp)
        for tp, lag in lags.items():
            self._metrics.consumer_lag.labels(self.group_id, tp.topic, str(tp.partition)).set(lag)
        self._lag_series = set(lags)
        return lags

    def _forget_lag(self, tp: TopicPartition) -> None:
        with contextlib.suppress(KeyError):
            self._metrics.consumer_lag.remove(self.group_id, tp.topic, str(tp.partition))

    async def stop(self) -> None:
        """Stop fetching, let the batches in hand finish (bounded), then leave the group."""
        for tp in self._lag_series:
            self._forget_lag(tp)
        self._lag_series = set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        in_hand = [*self._busy.values(), *self._settling.values()]
        if in_hand:
            _, late = await asyncio.wait(in_hand, timeout=_DRAIN_TIMEOUT_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _run(self) -> None:
        """Each partition's records are handled by a task of their own, in order; the
        partition is paused meanwhile, so the others go on being fetched and handled (a
        partition whose batch is being recorded does not hold up those being sent)."""
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                # While partitions are busy, look back soon: a finished one has more to fetch.
                timeout_ms = _BUSY_POLL_MS if self._busy else 500
                batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=500)
            except KafkaError:
                logger.exception("fetch failed for group %s; retrying", self._sub.group_id)
                await asyncio.sleep(1.0)
                continue
            if consumer.assignment():
                self.assigned.set()
            await self._rewind_past_the_end(consumer, batches.keys())
            for tp, records in batches.items():
                if not records:
                    continue
                # The first batch since the assignment starts at the group's committed offset.
                self._committed.setdefault(tp, records[0].offset)
                consumer.pause(tp)
                work = (
                    self._process_batch(consumer, tp, records)
                    if self._sub.batch_handler is not None
                    else self._process_partition(consumer, tp, records)
                )
                task = asyncio.create_task(work, name=f"consumer:{self._sub.group_id}:{tp.partition}")
                self._busy[tp] = task
                task.add_done_callback(
                    functools.partial(self._partition_done, consumer, tp, records[0].offset)
                )

    async def _rewind_past_the_end(
        self, consumer: AIOKafkaConsumer, fetched: Iterable[TopicPartition]
    ) -> None:
        """A partition whose position is past the end of its log: the broker lost records (the
        dev broker, memory-only, after a restart; a commit sent while the group was re-forming
        may even have landed there). Kafka answers such a fetch with OffsetOutOfRange and the
        consumer starts again from the earliest record (auto_offset_reset); Tansu answers with
        nothing, and the records published since would be skipped until the log grows past the
        old position. So: read it again from the start, as Kafka would."""
        for tp in consumer.assignment() - set(fetched) - set(self._busy):
            try:
                highwater = consumer.highwater(tp)  # from the last fetch answer, None before one
                if highwater is None or tp in consumer.paused():
                    continue
                position = await consumer.position(tp)
                if position > highwater:
                    logger.warning(
                        "%s: position %d is past the end of the log (%d): the broker lost records;"
                        " reading the partition from its start",
                        tp,
                        position,
                        highwater,
                    )
                    await consumer.seek_to_beginning(tp)
            except (AssertionError, KafkaError):
                # taken away by a rebalance while we asked (aiokafka asserts the assignment):
                # its next owner looks at it; never let this end the consumer's loop
                continue

    def _partition_done(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, first_offset: int, task: asyncio.Task[None]
    ) -> None:
        self._busy.pop(tp, None)
        if tp not in consumer.assignment():
            return  # moved to another member meanwhile
        if not task.cancelled() and isinstance(task.exception(), _EarlierBatchUnsettled):
            pass  # the earlier batch's own rewind covers this one
        elif task.cancelled() or task.exception() is not None:
            # Not handled (nor committed): fetch these records again rather than skip them.
            if not task.cancelled():
                logger.error("handling %s failed; fetching it again", tp, exc_info=task.exception())
            consumer.seek(tp, first_offset)
        consumer.resume(tp)

    async def _process_partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        for record in records:
            await self._process(record)
        await self._commit(consumer, tp, records[-1].offset + 1)

    async def _process_batch(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        handler = self._sub.batch_handler
        assert handler is not None
        outcome = await self._until_done(lambda: handler(records), "handling", len(records), tp)
        earlier = self._settling.get(tp)
        if earlier is not None:
            await asyncio.wait([earlier])  # one settling batch at a time, offsets in order
            if earlier.cancelled() or earlier.exception() is not None:
                raise _EarlierBatchUnsettled(tp)
        if isinstance(outcome, HandledBatch):
            settling = asyncio.create_task(
                self._settle(consumer, tp, records, outcome), name=f"settle:{self._sub.group_id}:{tp}"
            )
            self._settling[tp] = settling
            settling.add_done_callback(functools.partial(self._settled, consumer, tp, records[0].offset))
            return  # the partition is resumed and its next batch fetched while this one settles
        await self._finish_batch(consumer, tp, records, outcome)

    async def _settle(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        outcome: HandledBatch,
    ) -> None:
        await self._until_done(outcome.settle, "settling", len(records), tp)
        await self._finish_batch(consumer, tp, records, outcome.poison)

    async def _until_done(
        self, step: Callable[[], Awaitable[_StepResult]], what: str, size: int, tp: TopicPartition
    ) -> _StepResult:
        """A step of a batch, retried with back-off until it succeeds: a batch is never skipped."""
        async for attempt in AsyncRetrying(
            wait=wait_exponential_jitter(multiplier=self._settings.consumer_retry_initial_s, max=5.0),
            retry=retry_if_not_exception_type(asyncio.CancelledError),
            before_sleep=lambda state: logger.warning(
                "%s a batch of %d from %s failed (attempt %d): %s; retrying",
                what,
                size,
                tp,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
        ):
            with attempt:
                return await step()
        raise AssertionError("unreachable: retried until it succeeds")

    def _settled(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, first_offset: int, task: asyncio.Task[None]
    ) -> None:
        if self._settling.get(tp) is task:
            del self._settling[tp]
        if (task.cancelled() or task.exception() is not None) and tp in consumer.assignment():
            # Not committed: fetch this batch (and any sent after it) again rather than skip it.
            logger.error("settling %s was cut short; fetching it again", tp)
            consumer.seek(tp, first_offset)

    async def _finish_batch(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        poison: PoisonList,
    ) -> None:
        for record, error in poison:
            await self._dead_letter(record, error, 1)
        self._metrics.events_consumed.labels(tp.topic, "ok").inc(len(records) - len(poison))
        await self._commit(consumer, tp, records[-1].offset + 1)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        """Commit, or give up after kafka_commit_timeout_s: an uncommitted offset only means the
        records may be delivered again (handlers are idempotent), whereas aiokafka retries a
        commit the broker answers with a retriable error for ever, holding the partition (and
        the rebalance, which waits for it). A broker that lost its storage answers every commit
        for a partition it no longer has with UnknownTopicOrPartition."""
        try:
            await asyncio.wait_for(consumer.commit({tp: offset}), self._settings.kafka_commit_timeout_s)
            if tp in consumer.assignment():
                self._committed[tp] = offset
        except CommitFailedError:
            # The partition moved to another member during a rebalance; it will see these
            # records again, which idempotent handlers tolerate.
            logger.warning("commit lost in rebalance for %s; records will be redelivered", tp)
        except (KafkaError, TimeoutError) as exc:
            logger.warning(
                "commit of %s at offset %d failed (%s); going on, the records may be redelivered",
                tp,
                offset,
                type(exc).__name__ if isinstance(exc, TimeoutError) else exc,
            )

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
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
            error, attempts = await self._handle(record)
            if error is None:
                self._metrics.events_consumed.labels(record.topic, "ok").inc()
                return
            span.set_attribute("vas.dead_lettered", True)
            await self._dead_letter(record, error, attempts)

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> tuple[BaseException | None, int]:
        """Run the handler once and, if that fails, again with back-off up to the limit.
        Returns the error that stands (None: handled) and the number of attempts."""
        handler = self._sub.handler
        assert handler is not None
        try:
            await handler(record)  # the usual case, without building a retry policy
            return None, 1
        except PoisonRecord as exc:
            return exc, 1
        except Exception as exc:
            if self._settings.consumer_max_attempts <= 1:
                return exc, 1
        attempts = 1
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._settings.consumer_max_attempts - 1),
                wait=wait_exponential_jitter(
                    multiplier=self._settings.consumer_retry_initial_s,
                    max=self._settings.consumer_retry_max_s,
                ),
                retry=retry_if_not_exception_type((PoisonRecord, asyncio.CancelledError)),
            ):
                with attempt:
                    attempts += 1
                    await handler(record)
        except PoisonRecord as exc:
            return exc, attempts
        except RetryError as exc:
            return exc.last_attempt.exception() or exc, attempts
        return None, attempts

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
