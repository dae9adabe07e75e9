"""The metrics every service exports for its dashboards and alerts, read from a running
service's /metrics against the real broker and PostgreSQL: process and runtime metrics, the
pool's connections, the outbox's backlog and age, and each consumer group's lag."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from vas_common.app import ServiceSpec, create_service_app
from vas_common.db import AdvisoryLock
from vas_common.events.subscription import PartnerCreated, PartnerState, PartnerStatus
from vas_common.events.topics import SUBSCRIPTION_EVENTS, Topic
from vas_common.kafka import ConsumerRunner, EventPublisher, Subscription, ensure_topics
from vas_common.outbox import OutboxRepository
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.pytest_plugin import eventually, serve, service_settings_kwargs


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of the samples called `name` whose labels include `labels`."""
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def value(text: str, name: str, **labels: str) -> float | None:
    found = samples(text, name, **labels)
    assert len(found) <= 1, f"{name}{labels} is ambiguous: {found}"
    return found[0] if found else None


def test_the_process_and_runtime_metrics_are_in_the_services_own_registry() -> None:
    text = Metrics("t").render()[0].decode()
    assert value(text, "process_cpu_seconds_total") is not None
    assert (value(text, "process_resident_memory_bytes") or 0) > 0
    assert (value(text, "process_open_fds") or 0) > 0
    assert samples(text, "python_info")
    assert samples(text, "python_gc_collections_total", generation="0")


async def test_a_running_service_reports_its_pool_outbox_backlog_and_consumer_lag(
    database: str, kafka: Any, tmp_path: Path
) -> None:
    settings = ServiceSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        service_name="metrics-test",
        kafka_topic_partitions=1,
        metrics_sample_interval_s=0.1,
    )
    topic = Topic(f"t.metrics.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    group = f"g.{topic.name}"
    release = asyncio.Event()

    async def handler(record: ConsumerRecord[bytes, bytes]) -> None:
        await release.wait()  # a consumer stuck on its first record: the rest wait behind it

    app = create_service_app(
        settings,
        ServiceSpec(
            title="metrics test",
            version="0",
            migrations_dir=tmp_path,
            subscriptions=lambda _rt: [Subscription(group, (topic,), handler)],
        ),
    )
    async with serve(app) as client:

        async def metrics() -> str:
            return str((await client.get("/metrics")).text)

        text = await metrics()
        assert value(text, "db_pool_max_connections") == settings.database_pool_max
        assert value(text, "db_pool_connections", state="idle") is not None
        assert value(text, "db_pool_connections", state="in_use") is not None
        assert value(text, "process_cpu_seconds_total") is not None

        # Lag: records behind the one the handler holds are not done, nor committed.
        runtime = app.state.runtime
        for n in range(4):
            await runtime.publisher.publish_raw(topic.name, b"k", str(n).encode())
        lag = {"group": group, "topic": topic.name, "partition": "0"}

        async def lag_is(expected: float) -> bool:
            return value(await metrics(), "kafka_consumer_lag_records", **lag) == expected

        await eventually(lambda: lag_is(4))
        await runtime.publisher.publish_raw(topic.name, b"k", b"4")
        await eventually(lambda: lag_is(5))  # grows while the consumer is held
        release.set()
        await eventually(lambda: lag_is(0))

        # Outbox: rows another relay holds back (it has the relay's lock) are counted, with the
        # age of the oldest; once they are gone the backlog is empty again.
        pool: asyncpg.Pool = runtime.db()
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", int(AdvisoryLock.OUTBOX_RELAY))
            async with pool.acquire() as conn:
                for _ in range(3):
                    await OutboxRepository().enqueue(conn, SUBSCRIPTION_EVENTS, _partner_event())

            async def backlog_counted() -> bool:
                text = await metrics()
                return (
                    value(text, "outbox_pending_events") == 3
                    and (value(text, "outbox_oldest_event_age_seconds") or 0) > 0
                )

            await eventually(backlog_counted)
            # Not published anywhere: other tests read subscription.events on this broker.
            await holder.execute("DELETE FROM outbox")

        async def backlog_empty() -> bool:
            text = await metrics()
            return (
                value(text, "outbox_pending_events") == 0
                and value(text, "outbox_oldest_event_age_seconds") == 0
            )

        await eventually(backlog_empty)
    # A member that left reports no lag of its partitions any more.
    assert value(runtime.metrics.render()[0].decode(), "kafka_consumer_lag_records", **lag) is None


async def test_lag_counts_from_the_groups_committed_offset_not_the_position(
    kafka: Any,
) -> None:
    """A runner that has fetched records and not yet handled them reports them as lag, and a
    runner of the same group started later takes up the committed offset."""
    settings = ServiceSettings(
        **service_settings_kwargs("postgresql://unused", kafka.bootstrap), kafka_topic_partitions=1
    )
    topic = Topic(f"t.lag.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    metrics = Metrics("t")
    publisher = EventPublisher(settings, metrics)
    await publisher.start()
    try:
        for n in range(3):
            await publisher.publish_raw(topic.name, b"k", str(n).encode())
        handled: list[bytes] = []

        async def handler(record: ConsumerRecord[bytes, bytes]) -> None:
            handled.append(record.value or b"")

        group = f"g.{topic.name}"
        first = ConsumerRunner(settings, Subscription(group, (topic,), handler), publisher, metrics)
        await first.start()
        try:
            await eventually(lambda: len(handled) == 3)
            await eventually(lambda: _lags(first, 0))
        finally:
            await first.stop()
        await publisher.publish_raw(topic.name, b"k", b"3")
        await publisher.publish_raw(topic.name, b"k", b"4")
        held = asyncio.Event()

        async def holding(record: ConsumerRecord[bytes, bytes]) -> None:
            await held.wait()

        second = ConsumerRunner(settings, Subscription(group, (topic,), holding), publisher, metrics)
        await second.start()
        try:
            await eventually(lambda: _lags(second, 2))  # 3 committed, 5 written
        finally:
            held.set()
            await second.stop()
    finally:
        await publisher.stop()


async def _lags(runner: ConsumerRunner, expected: int) -> bool:
    lags = await runner.sample_lag()
    return bool(lags) and list(lags.values()) == [expected]


def _partner_event() -> PartnerCreated:
    return PartnerCreated(
        payload=PartnerState(
            partner_id=uuid.uuid4(),
            name="cp",
            status=PartnerStatus.ACTIVE,
            api_key_id="k",
            api_key_sha256="0" * 64,
            revision=1,
            updated_at=datetime.now(UTC),
        )
    )
