"""Republishing (issue #17): a message accepted (202, stored) whose submit record was lost is
published again after SMS_SENDER_REPUBLISH_AFTER_S and delivered once; a message merely waiting
in a backlog that is republished is still sent once; concurrent sweeps republish a message once.
On the real broker, PostgreSQL and the SMSC simulator; the services' ManualClock moves time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry

from sms_sender import domain
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from sms_sender.domain import NewMessage
from sms_sender.repository.dispatch import DispatchRepository, SegmentOutcome
from sms_sender.repository.messages import MessageRepository
from sms_sender.repository.partitions import PartitionRepository
from sms_sender.service.dispatch import Dispatcher, DispatchMetrics
from vas_common.clock import ManualClock
from vas_common.db import DbConnection
from vas_common.events import encode_event
from vas_common.events.sms_sender import Category
from vas_common.kafka import HandledBatch
from vas_devstack.pytest_plugin import eventually
from vas_devstack.smsc import SmscSimulator

AFTER_S = 300.0


def new_message(clock: ManualClock, recipient: str, text: str = "您的验证码是 123456") -> NewMessage:
    return NewMessage(
        id=uuid.uuid4(),
        accepted_at=clock.now(),
        partner_id=None,
        recipient=recipient,
        source_addr="10690000",
        content=text,
        category=Category.VERIFICATION.value,
        product_code=None,
        client_ref=None,
        callback_url=None,
        notify_submitted=False,
        encoding="ucs2",
        segments_total=1,
    )


async def store(pool: asyncpg.Pool, messages: list[NewMessage]) -> None:
    """Messages as the accept stores them, without their submit records (lost on the way)."""
    async with pool.acquire() as conn:
        await PartitionRepository().ensure_partitions(conn, messages[0].accepted_at)
        await MessageRepository().insert_messages(conn, messages)


def record(message: NewMessage, offset: int) -> ConsumerRecord[bytes, bytes]:
    topic, event = domain.submit_record(message, Category(message.category))
    key, value = event.key().encode(), encode_event(event)
    return ConsumerRecord(topic.name, 0, offset, 0, 0, key, value, None, len(key), len(value), [])


class SlowRecording(DispatchRepository):
    """The dispatcher's recording on a database that takes a while to commit (a backlog of
    writes): the partition's next batch is handled meanwhile, as the consumer runner does."""

    async def record_segments(self, conn: DbConnection, outcomes: Sequence[SegmentOutcome]) -> None:
        await asyncio.sleep(0.5)
        await super().record_segments(conn, outcomes)


@pytest.fixture
async def dispatcher(pool: asyncpg.Pool, smsc: SmscSimulator) -> AsyncIterator[Dispatcher]:
    connector = SmppConnector(SmppBindConfig("127.0.0.1", smsc.smpp_port, "vas", "vas-pass", binds=1, tps=0))
    dispatcher = Dispatcher(
        pool, connector, DispatchMetrics(CollectorRegistry()), records=SlowRecording(), clock=ManualClock()
    )
    await dispatcher.start()
    await connector.start(dispatcher.inbound)
    await eventually(lambda: connector.connected_binds() == 1)
    yield dispatcher
    await dispatcher.stop()
    await connector.stop()


async def settled(handled: Any) -> None:
    assert isinstance(handled, HandledBatch)
    await handled.settle()


async def test_a_second_record_of_a_message_whose_first_is_still_being_recorded_sends_nothing(
    pool: asyncpg.Pool, dispatcher: Dispatcher, smsc: SmscSimulator
) -> None:
    """A partition's next batch is sent while the last one is recorded: a republished record
    right behind the first one must not find the message unsent and send it again."""
    message = new_message(ManualClock(), "8613800000101")
    await store(pool, [message])

    # As the consumer runner does: the first batch settles while the next one is handled.
    first = asyncio.create_task(settled(await dispatcher.dispatch([record(message, 0)])))
    second = await dispatcher.dispatch([record(message, 1)])
    await first
    if isinstance(second, HandledBatch):
        await second.settle()
    assert await dispatcher.dispatch([record(message, 2)]) == []  # recorded: nothing to send or record

    assert len(smsc.records) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM messages WHERE id = $1", message.id) != "accepted"
