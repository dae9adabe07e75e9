"""Consumer runner against the real broker: commit after success, poison to the DLT, trace continues."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from opentelemetry import trace

from vas_common.events.topics import Topic
from vas_common.kafka import (
    ConsumerRunner,
    EventPublisher,
    HandledBatch,
    PoisonRecord,
    Subscription,
    ensure_topics,
)
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.pytest_plugin import eventually


@pytest.fixture
def settings(kafka: object) -> ServiceSettings:
    return ServiceSettings(
        service_name="test",
        kafka_bootstrap=kafka.bootstrap,  # type: ignore[attr-defined]
        kafka_topic_partitions=1,
        consumer_max_attempts=3,
        consumer_retry_initial_s=0.01,
        consumer_retry_max_s=0.02,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )


@pytest.fixture
async def publisher(settings: ServiceSettings) -> AsyncIterator[EventPublisher]:
    pub = EventPublisher(settings, Metrics("test"))
    await pub.start()
    yield pub
    await pub.stop()


async def read_all(bootstrap: str, topic: str, expected: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:

        async def collect() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            return len(records) >= expected

        await eventually(collect, timeout_s=20)
    finally:
        await consumer.stop()
    return records


async def test_poison_record_goes_to_dead_letter_topic_and_later_records_flow(
    settings: ServiceSettings, publisher: EventPublisher
) -> None:
    topic = Topic(f"t.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    handled: list[bytes] = []
    attempts: dict[bytes, int] = {}

    async def handler(record: ConsumerRecord[bytes, bytes]) -> None:
        value = record.value or b""
        attempts[value] = attempts.get(value, 0) + 1
        if value == b"poison":
            raise PoisonRecord("cannot parse")
        if value == b"always-fails":
            raise RuntimeError("downstream keeps failing")
        if value == b"flaky" and attempts[value] < 2:
            raise RuntimeError("transient")
        handled.append(value)

    for value in (b"first", b"poison", b"always-fails", b"flaky", b"last"):
        await publisher.publish_raw(topic.name, b"k", value)

    metrics = Metrics("test")
    runner = ConsumerRunner(settings, Subscription(f"g.{topic.name}", (topic,), handler), publisher, metrics)
    await runner.start()
    try:
        await eventually(lambda: _done(handled, b"last"))
    finally:
        await runner.stop()

    assert handled == [b"first", b"flaky", b"last"]
    assert attempts[b"poison"] == 1  # poison is not retried
    assert attempts[b"always-fails"] == settings.consumer_max_attempts
    dead = await read_all(settings.kafka_bootstrap, topic.dead_letter, 2)
    assert [r.value for r in dead] == [b"poison", b"always-fails"]
    headers = dict(dead[1].headers)
    assert headers["dlt.error"].startswith(b"RuntimeError: downstream keeps failing")
    assert headers["dlt.original.topic"] == topic.name.encode()
    assert headers["dlt.attempts"] == b"3"

    # Offsets were committed: a new runner of the same group sees nothing again.
    seen_again: list[bytes] = []

    async def recorder(record: ConsumerRecord[bytes, bytes]) -> None:
        seen_again.append(record.value or b"")

    await publisher.publish_raw(topic.name, b"k", b"after-restart")
    again = ConsumerRunner(settings, Subscription(f"g.{topic.name}", (topic,), recorder), publisher, metrics)
    await again.start()
    try:
        await eventually(lambda: _done(seen_again, b"after-restart"))
    finally:
        await again.stop()
    assert seen_again == [b"after-restart"]


async def _done(items: list[bytes], last: bytes) -> bool:
    return last in items


async def test_consumer_span_continues_the_producers_trace(
    settings: ServiceSettings, publisher: EventPublisher, span_exporter: object
) -> None:
    topic = Topic(f"t.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    seen = asyncio.Event()

    async def handler(record: ConsumerRecord[bytes, bytes]) -> None:
        seen.set()

    with trace.get_tracer("test").start_as_current_span("producer-side") as parent:
        trace_id = parent.get_span_context().trace_id
        from vas_common.telemetry import carrier_to_kafka_headers, current_trace_carrier

        await publisher.publish_raw(topic.name, b"k", b"v", carrier_to_kafka_headers(current_trace_carrier()))

    runner = ConsumerRunner(
        settings, Subscription(f"g.{topic.name}", (topic,), handler), publisher, Metrics("t")
    )
    await runner.start()
    try:
        await asyncio.wait_for(seen.wait(), 20)
    finally:
        await runner.stop()
    spans = [s for s in span_exporter.get_finished_spans() if s.name == f"{topic.name} process"]  # type: ignore[attr-defined]
    assert spans, "no consumer span recorded"
    assert spans[0].context.trace_id == trace_id
    assert spans[0].parent is not None
    assert spans[0].parent.span_id == parent.get_span_context().span_id


async def test_a_partition_sends_its_next_batch_while_the_last_one_settles(
    settings: ServiceSettings, publisher: EventPublisher
) -> None:
    """A handler that returns HandledBatch: the next batch is handed over before the last one
    has settled, but an offset is committed only once its batch (and every earlier one) has."""
    topic = Topic(f"t.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    group = f"g.{topic.name}"
    sent: list[list[bytes]] = []
    gates: list[asyncio.Event] = []
    settled: list[int] = []

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> HandledBatch:
        sent.append([r.value or b"" for r in records])
        index, gate = len(gates), asyncio.Event()
        gates.append(gate)

        async def settle() -> None:
            await gate.wait()
            settled.append(index)

        return HandledBatch([], settle)

    # A member that never joins the group, only reads its committed offsets.
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group)
    await reader.start()

    async def committed() -> int | None:
        offset: int | None = await reader.committed(TopicPartition(topic.name, 0))
        return offset

    await publisher.publish_raw(topic.name, b"k", b"first")
    runner = ConsumerRunner(
        settings, Subscription(group, (topic,), batch_handler=handler), publisher, Metrics("test")
    )
    await runner.start()
    try:
        await eventually(lambda: _true(len(sent) == 1))
        await publisher.publish_raw(topic.name, b"k", b"second")
        await eventually(lambda: _true(len(sent) == 2))  # handed over while "first" is still settling
        assert sent == [[b"first"], [b"second"]]
        assert settled == []
        assert await committed() is None

        gates[0].set()
        await eventually(lambda: _is(committed, 1))
        assert settled == [0]
        gates[1].set()
        await eventually(lambda: _is(committed, 2))
        assert settled == [0, 1]
    finally:
        for gate in gates:
            gate.set()
        await runner.stop()
        await reader.stop()


async def _is(read: Callable[[], Awaitable[int | None]], expected: int) -> bool:
    return await read() == expected


async def _true(condition: bool) -> bool:
    return condition


def test_two_subscriptions_may_not_share_a_consumer_group() -> None:
    from vas_common.app import distinct_groups
    from vas_common.events.topics import SMS_MO, SUBSCRIPTION_EVENTS
    from vas_common.kafka import Subscription

    async def handle(_record: object) -> None:
        return None

    one = Subscription("svc.events", (SUBSCRIPTION_EVENTS,), handler=handle)
    other = Subscription("svc.mo", (SMS_MO,), handler=handle)
    assert distinct_groups([one, other]) == [one, other]
    with pytest.raises(RuntimeError, match=r"svc\.events"):
        distinct_groups([one, other, Subscription("svc.events", (SMS_MO,), handler=handle)])
