"""Republishing (issue #17): a message accepted (202, stored) whose submit record was lost is
published again after SMS_SENDER_REPUBLISH_AFTER_S and delivered once; a message merely waiting
in a backlog that is republished is still sent once; concurrent sweeps republish a message once.
On the real broker, PostgreSQL and the SMSC simulator; the services' ManualClock moves time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry

from sms_sender import domain
from sms_sender.connectors import Inbound
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from sms_sender.domain import NewMessage
from sms_sender.main import create_app
from sms_sender.repository.dispatch import DispatchRepository, SegmentOutcome
from sms_sender.repository.messages import MessageRepository
from sms_sender.repository.partitions import PartitionRepository
from sms_sender.repository.republish import CLAIM_DUE, OLDEST_ACCEPTED
from sms_sender.service.dispatch import Dispatcher, DispatchMetrics
from sms_sender.service.republish import MAX_DOUBLINGS, Republisher, RepublishMetrics
from vas_common.clock import ManualClock
from vas_common.db import DbConnection
from vas_common.events import decode_event, encode_event
from vas_common.events.sms_sender import Category, SubmitRequested
from vas_common.events.topics import SMS_SUBMIT_PRIORITY
from vas_common.kafka import EventPublisher, HandledBatch
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, groups_settled, read_events, serve
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


async def _receipts_ignored(_items: list[Inbound]) -> None:
    """Receipts are not what this test is about (service/inbound.py takes them in the app)."""


@pytest.fixture
async def dispatcher(pool: asyncpg.Pool, smsc: SmscSimulator) -> AsyncIterator[Dispatcher]:
    connector = SmppConnector(SmppBindConfig("127.0.0.1", smsc.smpp_port, "vas", "vas-pass", binds=1, tps=0))
    dispatcher = Dispatcher(
        pool, connector, DispatchMetrics(CollectorRegistry()), records=SlowRecording(), clock=ManualClock()
    )
    await dispatcher.start()
    await connector.start(_receipts_ignored)
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


# -- the sweep ---------------------------------------------------------------------------------


async def outbox_submits(pool: asyncpg.Pool) -> list[uuid.UUID]:
    """The message ids of the submit records waiting in the outbox (no relay runs here)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT value FROM outbox ORDER BY id")
    events = [decode_event(r["value"]) for r in rows]
    return [e.payload.message_id for e in events if isinstance(e, SubmitRequested)]


async def test_two_sweeps_at_once_republish_each_waiting_message_once_and_not_again_too_soon(
    pool: asyncpg.Pool,
) -> None:
    clock = ManualClock()
    waiting = [new_message(clock, f"86138000{n:05d}") for n in range(30)]
    sent, submitted = new_message(clock, "8613800000201"), new_message(clock, "8613800000202")
    await store(pool, [*waiting, sent, submitted])
    async with pool.acquire() as conn:
        # One with its segment recorded (its status not refreshed yet), one submitted.
        await conn.execute(
            "INSERT INTO segments (message_id, accepted_at, seq, status, submitted_at)"
            " VALUES ($1, $2, 1, 'submitted', $2)",
            sent.id,
            sent.accepted_at,
        )
        await conn.execute("UPDATE messages SET status = 'submitted' WHERE id = $1", submitted.id)
    registry = CollectorRegistry()
    metrics = RepublishMetrics(registry)
    sweeps = [Republisher(pool, clock, after_s=AFTER_S, batch=20, metrics=metrics) for _ in range(2)]

    async def both() -> int:
        results = await asyncio.gather(*(sweep.run() for sweep in sweeps))
        return sum(r.republished for r in results)

    assert await both() == 0  # nothing waits 5 minutes yet
    clock.advance(timedelta(seconds=AFTER_S + 1))
    # 30 due, 20 a sweep: whatever the interleaving, each is claimed by one sweep only.
    assert await both() + await both() == 30
    assert sorted(await outbox_submits(pool)) == sorted(m.id for m in waiting)
    assert registry.get_sample_value("sms_republished_total") == 30
    assert AFTER_S < (registry.get_sample_value("sms_accepted_oldest_age_seconds") or 0) < AFTER_S + 60

    assert await both() == 0  # not again before another 5 minutes
    clock.advance(timedelta(seconds=AFTER_S + 1))
    assert await both() + await both() == 30
    clock.advance(timedelta(seconds=AFTER_S + 1))
    assert await both() == 0  # the third time waits twice as long
    clock.advance(timedelta(seconds=AFTER_S))
    assert await both() + await both() == 30
    counts = await outbox_submits(pool)
    assert {m: counts.count(m) for m in set(counts)} == {m.id: 3 for m in waiting}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT max(republish_count) FROM messages") == 3


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of the test's own: the lost-record test restarts it (memory only)."""
    return own_broker


@pytest.fixture
async def publisher(own_broker: EmbeddedBroker) -> AsyncIterator[EventPublisher]:
    pub = EventPublisher(ServiceSettings(kafka_bootstrap=own_broker.bootstrap), Metrics("test"))
    await pub.start()
    yield pub
    await pub.stop()


class Stack:
    def __init__(self, database: str, kafka: EmbeddedBroker, smsc: SmscSimulator, sms_settings: Any) -> None:
        self.database, self.kafka, self.smsc, self.sms_settings = database, kafka, smsc, sms_settings
        self.clock = ManualClock()

    def app(self, role: str) -> Any:
        settings = self.sms_settings(
            self.database, self.kafka, role=role, smsc_port=self.smsc.smpp_port, smsc_tps=0
        )
        return create_app(settings, clock=self.clock)

    async def fetchval(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.database)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    async def outbox_drained(self) -> bool:
        return await self.fetchval("SELECT count(*) FROM outbox") == 0


@pytest.fixture
def stack(database: str, kafka: EmbeddedBroker, smsc: SmscSimulator, sms_settings: Any) -> Stack:
    return Stack(database, kafka, smsc, sms_settings)


async def accept_one(stack: Stack, make_partner: Any, recipient: str) -> tuple[Any, uuid.UUID]:
    """A verification code accepted by an API process (its submit record published), which
    then stops."""
    app = stack.app("api")
    async with serve(app) as api:
        partner = await make_partner(api)()
        response = await api.post(
            "/v1/messages",
            headers=partner.headers,
            json={"recipients": [recipient], "content": "验证码 654321", "category": "verification"},
        )
        assert response.status_code == 202, response.text
        await eventually(stack.outbox_drained)
        await groups_settled(app)
    return partner, uuid.UUID(response.json()["accepted"][0]["message_id"])


async def delivered_once(stack: Stack, recipient: str, message_id: uuid.UUID) -> bool:
    found = stack.smsc.messages(destination=recipient)["messages"]
    assert len(found) <= 1, found
    assert all(m["duplicates"] == 0 for m in found), found
    status = await stack.fetchval("SELECT status FROM messages WHERE id = $1", message_id)
    return len(found) == 1 and status == "delivered"


async def test_a_message_whose_record_the_broker_lost_is_republished_and_delivered_once(
    stack: Stack, make_partner: Any
) -> None:
    recipient = "8613800000301"
    _partner, message_id = await accept_one(stack, make_partner, recipient)
    stack.kafka.stop()  # the dev broker keeps nothing: its topics come back empty
    stack.kafka.start()

    app = stack.app("all")
    async with serve(app) as sender:
        await eventually(lambda: _ready(sender))
        await eventually(lambda: all(r.assignment() for r in app.state.runtime.consumers))
        assert await stack.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "accepted"
        assert (await app.state.republisher.run()).republished == 0  # not 5 minutes yet

        stack.clock.advance(timedelta(seconds=AFTER_S + 1))
        result = await app.state.republisher.run()
        assert result.republished == 1
        assert result.oldest_age_s > AFTER_S
        await eventually(lambda: delivered_once(stack, recipient, message_id))

        stack.clock.advance(timedelta(seconds=2 * AFTER_S + 1))
        assert (await app.state.republisher.run()).republished == 0  # delivered: nothing waits
        metrics = (await sender.get("/metrics")).text
        assert "sms_republished_total 1.0" in metrics
        assert "sms_accepted_oldest_age_seconds 0.0" in metrics
        # Not groups_settled: the test's publisher, still connected, made subscription.events
        # again on the empty broker with the broker's partition count before the service did.
    assert len(stack.smsc.records) == 1


async def test_a_message_republished_while_its_record_waits_in_a_backlog_is_sent_once(
    stack: Stack, make_partner: Any
) -> None:
    """No dispatcher runs for a while: the record waits, the sweep adds a second one."""
    recipient = "8613800000302"
    _partner, message_id = await accept_one(stack, make_partner, recipient)
    stack.clock.advance(timedelta(seconds=AFTER_S + 1))
    app = stack.app("api")
    async with serve(app):
        assert (await app.state.republisher.run()).republished == 1
        await eventually(stack.outbox_drained)
        await groups_settled(app)
    records = await read_events(
        stack.kafka.bootstrap,
        SMS_SUBMIT_PRIORITY.name,
        lambda e: isinstance(e, SubmitRequested) and e.payload.message_id == message_id,
        2,
    )
    assert len(records) == 2

    app = stack.app("dispatcher")
    async with serve(app) as dispatcher:
        await eventually(lambda: delivered_once(stack, recipient, message_id))
        # In one batch or two, the second record is skipped and counted.

        async def skipped() -> bool:
            return "sms_submit_replays_total 1.0" in (await dispatcher.get("/metrics")).text

        await eventually(skipped)
        await groups_settled(app)
    assert len(stack.smsc.records) == 1


async def _ready(client: Any) -> bool:
    return bool((await client.get("/readyz")).status_code == 200)


async def test_the_sweep_reads_only_the_accepted_messages_index(pool: asyncpg.Pool) -> None:
    """Among many messages sent, the few still waiting are found through the partial index."""
    clock = ManualClock()
    await store(pool, [new_message(clock, "8613800000401")])
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO messages (id, accepted_at, recipient, source_addr, content, category, encoding,
                                  segments_total, status)
            SELECT gen_random_uuid(), $1::timestamptz - n * interval '1 second', '8613800000402', '1069',
                   'hi', 'notice', 'gsm', 1, 'delivered'
              FROM generate_series(1, 20000) AS n
            """,
            clock.now(),
        )
        await conn.execute("ANALYZE messages")
        partition = str(await conn.fetchval("SELECT tableoid::regclass FROM messages LIMIT 1"))
        plans = [
            "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}", *args))
            for query, args in (
                (OLDEST_ACCEPTED, ()),
                (CLAIM_DUE, (clock.now(), timedelta(seconds=AFTER_S), MAX_DOUBLINGS, 100)),
            )
        ]
    for plan in plans:  # the partition's copy of messages_awaiting_dispatch
        assert f"using {partition}_accepted_at_idx on {partition}" in plan, plan
        assert f"Seq Scan on {partition}" not in plan, plan
