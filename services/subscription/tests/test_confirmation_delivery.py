"""The fate of each order's confirmation SMS (sms.status) and why an order expired, against the
real PostgreSQL and broker: a confirmation SMS that finally failed makes its order expire as
`confirmation_undelivered`, one not delivered before the order's 24 h ran out as
`confirmation_late`, one delivered but never answered as `never_answered` (counted apart); a
user's unreadable answer wins over all of them (`answer_unmatched`). Statuses delivered again
change nothing, and GET /v1/registration-success splits the failures by reason.

The invariant over interleavings (hypothesis, through the service layer): whatever order the
statuses of a confirmation SMS and the user's answer come in, in whatever batches and however
often each, the order keeps the strongest outcome seen (delivered > failed > expired > unknown; of
equal ones the earliest) and expires with the reason that outcome and the answer give."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from subscription import consumers
from subscription.domain import CONFIRMATION_WINDOW
from subscription.main import MIGRATIONS, create_app
from subscription.service.partners import PartnerService
from subscription.service.products import ProductService
from subscription.service.subscriptions import SubscriptionService
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events import Event, encode_event
from vas_common.events.sms_sender import (
    MessageOutcome,
    MessageState,
    MessageStatus,
    MessageStatusChanged,
    MoMessage,
)
from vas_common.events.subscription import SubscriptionExpired
from vas_common.events.topics import SMS_STATUS, SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, read_events, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
ACCESS_NUMBER = "10690019"
PRODUCT = {
    "name": "天气预报",
    "billing_type": "monthly",
    "price_fen": 300,
    "description": "每天天气",
    "availability": "全国",
    "how_to_cancel": "回复TD",
    "charge_rule": "按月收费",
    "fault_hotline": "10086",
    "consult_hotline": "10086",
}


def msisdn() -> str:
    return f"86139{uuid.uuid4().int % 10**8:08d}"


def status(
    message_id: uuid.UUID,
    outcome: MessageOutcome,
    done_at: datetime,
    *,
    partner_id: uuid.UUID | None = None,
) -> MessageStatusChanged:
    """A final status of a message as the sms-sender publishes it."""
    delivered = outcome is MessageOutcome.DELIVERED
    return MessageStatusChanged(
        producer="sms-sender",
        payload=MessageState(
            message_id=message_id,
            partner_id=partner_id,
            recipient="8613900000000",
            status=MessageStatus.DELIVERED if delivered else MessageStatus.FAILED,
            segments_total=2,
            segments=[],
            accepted_at=done_at - timedelta(seconds=5),
            done_at=done_at,
            error=None if delivered else "segment 2: UNDELIV",
            outcome=outcome,
        ),
    )


def status_record(event: MessageStatusChanged, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = encode_event(event)
    key = event.key().encode()
    return ConsumerRecord(SMS_STATUS.name, 0, offset, 0, 0, key, value, None, len(key), len(value), [])


# -- through the broker -------------------------------------------------------------------------


@dataclass
class Env:
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    clock: ManualClock


@pytest.fixture
async def env(database: str, kafka: Any) -> AsyncIterator[Env]:
    clock = ManualClock()
    app = create_app(SubscriptionSettings(**service_settings_kwargs(database, kafka.bootstrap)), clock=clock)
    async with serve(app) as client:
        yield Env(client, app.state.runtime.db(), clock)


async def product_code(env: Env) -> tuple[str, dict[str, str]]:
    partner = (
        await env.client.post("/v1/partners", json={"name": f"cp-{uuid.uuid4().hex[:8]}"}, headers=OPERATOR)
    ).json()
    key = {"X-API-Key": partner["api_key"]}
    code = "C" + uuid.uuid4().hex[:6].upper()
    product = (await env.client.post("/v1/products", json={"code": code, **PRODUCT}, headers=key)).json()
    published = await env.client.post(f"/v1/products/{product['id']}/publication", headers=key)
    assert published.status_code == 200, published.text
    return code, key


async def order(env: Env, code: str, key: dict[str, str], user: str) -> tuple[str, uuid.UUID]:
    """A partner's order for the user: its id and its confirmation SMS's id."""
    placed = await env.client.post(
        "/v1/subscriptions", json={"msisdn": user, "product_code": code}, headers=key
    )
    assert placed.status_code == 202, placed.text
    sub_id = placed.json()["id"]
    async with env.pool.acquire() as conn:
        request_id = await conn.fetchval(
            "SELECT confirmation_request_id FROM subscriptions WHERE id = $1", uuid.UUID(sub_id)
        )
    assert request_id is not None
    return sub_id, request_id


async def subscription_of(env: Env, user: str) -> dict[str, Any]:
    got = await env.client.get(f"/v1/users/{user}/subscriptions", headers=OPERATOR)
    assert got.status_code == 200, got.text
    (sub,) = got.json()
    return dict(sub)


async def test_expired_orders_say_why_and_the_rate_counts_every_failure_on_us(
    env: Env, publisher: EventPublisher, kafka: Any
) -> None:
    code, key = await product_code(env)
    undelivered, late, delivered_late, silent = (msisdn() for _ in range(4))
    ids = {user: await order(env, code, key, user) for user in (undelivered, late, delivered_late, silent)}
    now = env.clock.now()
    confirm_by = now + CONFIRMATION_WINDOW
    statuses = [
        status(ids[undelivered][1], MessageOutcome.FAILED, now + timedelta(seconds=3)),
        status(ids[silent][1], MessageOutcome.DELIVERED, now + timedelta(seconds=2)),
        # delivered, but after the order's 24 h were over: late (still waiting for the job)
        status(ids[delivered_late][1], MessageOutcome.DELIVERED, confirm_by + timedelta(seconds=1)),
        # nothing of late's; a partner's message and another system message change no order
        status(uuid.uuid4(), MessageOutcome.FAILED, now, partner_id=uuid.uuid4()),
        status(uuid.uuid4(), MessageOutcome.FAILED, now),
    ]
    for published in statuses:
        await publisher.publish(SMS_STATUS, published)

    async def learnt() -> bool:
        subs = {user: await subscription_of(env, user) for user in ids}
        assert subs[undelivered]["confirmation_sms"] == "failed"
        assert subs[silent]["confirmation_sms"] == "delivered"
        assert subs[delivered_late]["confirmation_sms"] == "delivered"
        assert subs[late]["confirmation_sms"] is None
        return True

    await eventually(learnt)

    # Redelivered, and in the other order, with a failure after the delivery of the two-part
    # message (a give-up the receipt contradicts) and a delivered copy with a later time: the
    # service's own consumer of sms.status, fed the records directly, changes nothing.
    subscriptions = SubscriptionService(env.pool, env.clock, "测试")
    (on_status,) = [
        s.batch_handler
        for s in consumers.subscriptions(subscriptions)
        if s.batch_handler and SMS_STATUS in s.topics
    ]
    again = [
        *reversed(statuses),
        status(ids[silent][1], MessageOutcome.UNKNOWN, now + timedelta(hours=1)),
        status(ids[silent][1], MessageOutcome.DELIVERED, now + timedelta(hours=2)),
        status(ids[undelivered][1], MessageOutcome.EXPIRED, now + timedelta(seconds=1)),
    ]
    async with env.pool.acquire() as conn:
        before = await conn.fetch(
            "SELECT id, confirmation_outcome, confirmation_outcome_at FROM subscriptions ORDER BY id"
        )
    assert await on_status([status_record(e, n) for n, e in enumerate(again)]) == []
    assert await on_status([status_record(e, n) for n, e in enumerate(again)]) == []
    async with env.pool.acquire() as conn:
        after = await conn.fetch(
            "SELECT id, confirmation_outcome, confirmation_outcome_at FROM subscriptions ORDER BY id"
        )
    assert after == before

    env.clock.advance(CONFIRMATION_WINDOW + timedelta(seconds=2))
    expired = await env.client.post("/v1/jobs/expire-pending", headers=OPERATOR)
    assert expired.json()["affected"] == 4

    mine = set(ids)

    def ours(e: Event) -> bool:
        return isinstance(e, SubscriptionExpired) and e.payload.msisdn in mine

    events = await read_events(kafka.bootstrap, SUBSCRIPTION_EVENTS.name, ours, 4)
    said = {e.payload.msisdn: (e.payload.reason, e.payload.answered) for e, _ in events}
    assert said == {
        undelivered: ("confirmation_undelivered", False),
        late: ("confirmation_late", False),
        delivered_late: ("confirmation_late", False),
        silent: ("never_answered", False),
    }
    assert (await subscription_of(env, undelivered))["expiry_reason"] == "confirmation_undelivered"

    success = (await env.client.get("/v1/registration-success", headers=OPERATOR)).json()
    assert (success["orders"], success["confirmed"], success["failed"], success["never_answered"]) == (
        4,
        0,
        3,
        1,
    )
    assert success["failed_by_reason"] == {
        "answer_unmatched": 0,
        "confirmation_undelivered": 1,
        "confirmation_late": 2,
    }
    assert success["rate"] == 0.0
    assert success["met"] is False


# -- interleavings, through the service layer ---------------------------------------------------


@dataclass
class World:
    pool: asyncpg.Pool
    clock: ManualClock
    service: SubscriptionService
    code: str


@pytest.fixture
async def world(database: str) -> AsyncIterator[World]:
    """The service's schema in a fresh database and its use cases on a pool of their own (what
    they hand to Kafka stays in the outbox table): each example is an order of its own."""
    clock = ManualClock()
    pool = await create_pool(database)
    try:
        await migrate(pool, [("common", COMMON_MIGRATIONS), ("subscription", MIGRATIONS)])
        partner, _ = await PartnerService(pool, clock=clock.now, system_access_number=ACCESS_NUMBER).create(
            "内容商"
        )
        products = ProductService(pool, clock, "VAS")
        draft = await products.create(
            partner.id, {"code": "WTHR", "first_month": "full", "last_month": "full", **PRODUCT}
        )
        await products.publish(draft.id, partner.id)
        yield World(pool, clock, SubscriptionService(pool, clock, "VAS"), "WTHR")
    finally:
        await pool.close()


@dataclass(frozen=True)
class Status:
    outcome: MessageOutcome
    done_s: int  # seconds after the order was placed


@dataclass(frozen=True)
class Answer:
    """The user answers something we cannot read while the order waits."""


Step = Status | Answer
WINDOW_S = int(CONFIRMATION_WINDOW.total_seconds())
statuses = st.builds(
    Status,
    st.sampled_from(list(MessageOutcome)),
    st.sampled_from([1, 60, 3600, WINDOW_S, WINDOW_S + 1]),
)
# Steps in the order they happen, as batches the consumer is given (a status may come twice).
batches = st.lists(
    st.lists(
        st.integers(0, 7).flatmap(lambda n: statuses if n else st.just(Answer())), min_size=1, max_size=3
    ),
    max_size=4,
)


def expected(steps: Sequence[Step], placed: datetime) -> tuple[str | None, str]:
    """The outcome kept and the reason, computed from the steps as a set (order plays no part)."""
    outcomes = [s for s in steps if isinstance(s, Status)]
    strength = [
        MessageOutcome.UNKNOWN,
        MessageOutcome.EXPIRED,
        MessageOutcome.FAILED,
        MessageOutcome.DELIVERED,
    ]
    kept = max(outcomes, key=lambda s: (strength.index(s.outcome), -s.done_s), default=None)
    if any(isinstance(s, Answer) for s in steps):
        reason = "answer_unmatched"
    elif kept is None:
        reason = "confirmation_late"
    elif kept.outcome is not MessageOutcome.DELIVERED:
        reason = "confirmation_undelivered"
    elif placed + timedelta(seconds=kept.done_s) > placed + CONFIRMATION_WINDOW:
        reason = "confirmation_late"
    else:
        reason = "never_answered"
    return (kept.outcome.value if kept else None), reason


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=batches)
async def test_whatever_the_interleaving_the_order_expires_for_the_same_reason(
    world: World, steps: list[list[Step]]
) -> None:
    user = msisdn()
    sub = await world.service.request(user, world.code, "partner_api")
    async with world.pool.acquire() as conn:
        request_id = await conn.fetchval(
            "SELECT confirmation_request_id FROM subscriptions WHERE id = $1", sub.id
        )
    placed = sub.requested_at
    for batch in steps:
        found = [s for s in batch if isinstance(s, Status)]
        if found:
            await world.service.note_system_messages(
                [
                    (status(request_id, s.outcome, placed + timedelta(seconds=s.done_s)).payload, placed)
                    for s in found
                ]
            )
        for _ in range(len(batch) - len(found)):
            await world.service.handle_mo(
                MoMessage(
                    mo_id=uuid.uuid4(),
                    msisdn=user,
                    destination=ACCESS_NUMBER,
                    text="嗯嗯",
                    received_at=world.clock.now(),
                )
            )
    world.clock.advance(CONFIRMATION_WINDOW + timedelta(seconds=5))
    assert await world.service.expire_pending() == 1
    async with world.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, confirmation_outcome, expiry_reason FROM subscriptions WHERE id = $1", sub.id
        )
    flat = [s for batch in steps for s in batch]
    event(f"expired as {row['expiry_reason'] if row else None}")
    assert row is not None
    assert row["status"] == "expired"
    assert (row["confirmation_outcome"], row["expiry_reason"]) == expected(flat, placed)
