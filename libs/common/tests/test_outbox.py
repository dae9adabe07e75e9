"""Transactional outbox against real PostgreSQL and the real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka.errors import KafkaConnectionError

from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events import decode_event
from vas_common.events.subscription import PartnerCreated, PartnerState, PartnerStatus
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher, ensure_topics
from vas_common.outbox import OutboxRelay, OutboxRepository
from vas_common.settings import ServiceSettings
from vas_common.telemetry import KafkaHeaders, Metrics
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, read_topic


def partner_event(revision: int = 1) -> PartnerCreated:
    return PartnerCreated(
        payload=PartnerState(
            partner_id=uuid.uuid4(),
            name="cp",
            status=PartnerStatus.ACTIVE,
            api_key_id="k",
            api_key_sha256="0" * 64,
            revision=revision,
            updated_at=datetime.now(UTC),
        )
    )


class GatedPublisher(EventPublisher):
    """The real publisher behind a gate the test closes: while it is closed every publication
    fails as one to an unreachable broker does.

    Why a gate and not only the stopped broker: the dev broker (Tansu, memory storage) comes back
    from a restart without its topics and acknowledges a record for a topic it lacks, then drops
    it. A relay that publishes in the moment between the broker's return and the test creating
    the topics again had its records acknowledged and lost (failed CI once). A real broker keeps
    its topics; the gate gives the test that broker."""

    def __init__(self, settings: ServiceSettings, metrics: Metrics) -> None:
        super().__init__(settings, metrics)
        self.open = True
        self.refused = 0

    async def publish_many(self, records: list[tuple[str, bytes | None, bytes, KafkaHeaders]]) -> None:
        if not self.open:
            self.refused += 1
            raise KafkaConnectionError("the broker is away (the test's gate is closed)")
        await super().publish_many(records)


async def _outbox_and_publisher(
    database: str, broker: EmbeddedBroker
) -> tuple[ServiceSettings, asyncpg.Pool, GatedPublisher]:
    """A migrated database with the outbox, and a started publisher to the broker's subscription.events."""
    settings = ServiceSettings(kafka_bootstrap=broker.bootstrap, kafka_topic_partitions=1)
    await ensure_topics(settings, [SUBSCRIPTION_EVENTS])
    pool = await create_pool(database)
    await migrate(pool, [("common", COMMON_MIGRATIONS)])
    publisher = GatedPublisher(settings, Metrics("t"))
    await publisher.start()
    return settings, pool, publisher


async def test_only_committed_events_are_published_and_survive_a_broker_outage(
    database: str, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings, pool, publisher = await _outbox_and_publisher(database, own_broker)
    relay = OutboxRelay(pool, publisher, poll_interval_s=0.1)
    repo = OutboxRepository()
    kept, rolled_back, during_outage = partner_event(), partner_event(), partner_event()
    try:
        try:
            async with pool.acquire() as conn, conn.transaction():
                await repo.enqueue(conn, SUBSCRIPTION_EVENTS, rolled_back)
                raise RuntimeError("the state change failed")
        except RuntimeError:
            pass
        async with pool.acquire() as conn, conn.transaction():
            await repo.enqueue(conn, SUBSCRIPTION_EVENTS, kept)

        publisher.open = False
        own_broker.stop()
        async with pool.acquire() as conn, conn.transaction():
            await repo.enqueue(conn, SUBSCRIPTION_EVENTS, during_outage)
        await relay.start()
        await eventually(lambda: publisher.refused >= 2)  # the relay tried, failed, and tries again
        assert await _pending(pool, repo) == 2  # nothing is dropped while the broker is away

        own_broker.start()
        await ensure_topics(settings, [SUBSCRIPTION_EVENTS])  # memory-only broker lost its topics
        publisher.open = True
        await eventually(lambda: _pending_is(pool, repo, 0), timeout_s=60)
    finally:
        await relay.stop()
        await publisher.stop()
        await pool.close()

    values = await read_topic(own_broker.bootstrap, SUBSCRIPTION_EVENTS.name, 2)
    seen = [decode_event(v).event_id for v in values]
    assert seen == [kept.event_id, during_outage.event_id]


async def _pending(pool: object, repo: OutboxRepository) -> int:
    async with pool.acquire() as conn:  # type: ignore[attr-defined]
        return await repo.pending(conn)


async def _pending_is(pool: object, repo: OutboxRepository, n: int) -> bool:
    return await _pending(pool, repo) == n


async def test_the_relay_vacuums_the_outbox_as_it_empties_it(
    database: str, own_broker: EmbeddedBroker, monkeypatch: object
) -> None:
    """Rows of a queue table die within milliseconds; autovacuum comes at most once a minute.
    (A broker of its own: these events must not reach the services tested on the shared one.)"""
    import vas_common.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "_VACUUM_AFTER_ROWS", 100)  # type: ignore[attr-defined]
    _, pool, publisher = await _outbox_and_publisher(database, own_broker)
    relay = OutboxRelay(pool, publisher)
    repo = OutboxRepository()
    try:
        before = await _vacuums(pool)
        async with pool.acquire() as conn, conn.transaction():
            await repo.enqueue_many(conn, [(SUBSCRIPTION_EVENTS, partner_event()) for _ in range(250)])
        while await relay.relay_once():
            pass
        assert await _pending(pool, repo) == 0
        await eventually(lambda: _more_vacuums(pool, before, 1))  # one batch of 250 rows: past 100
    finally:
        await publisher.stop()
        await pool.close()


async def _vacuums(pool: object) -> int:
    async with pool.acquire() as conn:  # type: ignore[attr-defined]
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await conn.fetchval(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox'"
        )
        return count


async def _more_vacuums(pool: object, before: int, more: int) -> bool:
    return await _vacuums(pool) >= before + more


async def test_the_insert_wakes_the_relay_without_waiting_for_a_poll(
    database: str, own_broker: EmbeddedBroker
) -> None:
    _, pool, publisher = await _outbox_and_publisher(database, own_broker)
    relay = OutboxRelay(pool, publisher, poll_interval_s=600)  # only the NOTIFY can wake it in time
    repo = OutboxRepository()
    try:
        await relay.start()
        await eventually(lambda: relay.listening)
        for _ in range(3):  # and again after a round: the wake is not lost between rounds
            async with pool.acquire() as conn, conn.transaction():
                await repo.enqueue(conn, SUBSCRIPTION_EVENTS, partner_event())
            await eventually(lambda: _pending_is(pool, repo, 0), timeout_s=20)
    finally:
        await relay.stop()
        await publisher.stop()
        await pool.close()
