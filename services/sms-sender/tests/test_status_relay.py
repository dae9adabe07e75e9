"""sms.status published from the status_events rows, against real PostgreSQL and a broker of
the test's own (these records must not reach the services tested on the shared one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from sms_sender.repository.statuses import StatusEventRow, StatusRepository
from sms_sender.status_relay import StatusRelay
from vas_common.db import DbConnection
from vas_common.events.topics import SMS_STATUS
from vas_common.kafka import EventPublisher, ensure_topics
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, read_topic


@pytest.fixture
async def publisher(own_broker: EmbeddedBroker) -> AsyncIterator[EventPublisher]:
    settings = ServiceSettings(kafka_bootstrap=own_broker.bootstrap, kafka_topic_partitions=1)
    await ensure_topics(settings, [SMS_STATUS])
    pub = EventPublisher(settings, Metrics("test"))
    await pub.start()
    yield pub
    await pub.stop()


def status_event(name: str) -> StatusEventRow:
    return StatusEventRow(
        occurred_at=datetime.now(UTC),
        partner_id=None,
        message_id=uuid.uuid4(),
        status="submitted",
        body="{}",
        event=name.encode(),
        trace={},
    )


async def insert(conn: DbConnection, *names: str) -> None:
    await StatusRepository().insert_status_events(conn, [status_event(n) for n in names])


async def published(broker: EmbeddedBroker, count: int) -> list[str]:
    return [v.decode() for v in await read_topic(broker.bootstrap, SMS_STATUS.name, count)]


async def test_events_wait_for_earlier_transactions_and_keep_their_order(
    pool: asyncpg.Pool, publisher: EventPublisher, own_broker: EmbeddedBroker
) -> None:
    """A transaction that began writing first but commits last is published first: nothing is
    published past a transaction still open, so nothing committed behind the cursor is skipped."""
    relay = StatusRelay(pool, publisher)
    early = await pool.acquire()
    try:
        early_tx = early.transaction()
        await early_tx.start()
        await insert(early, "first-written")  # its xid is the older one
        async with pool.acquire() as conn, conn.transaction():
            await insert(conn, "second-written")
        assert await relay.relay_once() == 0  # "second-written" waits for the open transaction

        await early_tx.commit()
        assert await relay.relay_once() == 2
    finally:
        await pool.release(early)

    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                await insert(conn, "rolled-back")
                raise RuntimeError("the status change failed")
        except RuntimeError:
            pass
        async with conn.transaction():
            await insert(conn, "third")
    restarted = StatusRelay(pool, publisher)  # the cursor is in the database
    assert await restarted.relay_once() == 1

    assert await published(own_broker, 3) == ["first-written", "second-written", "third"]


async def test_the_running_relay_publishes_what_is_committed(
    pool: asyncpg.Pool, publisher: EventPublisher, own_broker: EmbeddedBroker
) -> None:
    relay = StatusRelay(pool, publisher, poll_interval_s=600)  # only the NOTIFY can wake it in time
    try:
        await relay.start()
        await eventually(lambda: relay.listening)
        async with pool.acquire() as conn, conn.transaction():
            await insert(conn, "a", "b")
        assert await published(own_broker, 2) == ["a", "b"]
    finally:
        await relay.stop()
