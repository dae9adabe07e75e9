"""Billing against the real database: the monthly run charges each subscription once per month
(re-run, or two replicas at once), first/last month rules, per-message fees once per delivered
message, refunds within the charge, and the user's charges for a month."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from subscription import domain
from subscription.domain import BillingType, Product, ProductStatus, SubscriptionStatus
from subscription.main import MIGRATIONS, create_app
from subscription.repository.billing import BillingRepository
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.billing import BillingService
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events import UnknownEvent, decode_event
from vas_common.events.sms_sender import MessageState, MessageStatus
from vas_common.events.subscription import Charged, Refunded
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class Env:
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    clock: ManualClock
    billing: BillingService
    settings: SubscriptionSettings


class Seeding(Protocol):
    pool: asyncpg.Pool
    clock: ManualClock


@pytest.fixture
async def env(database: str, kafka: Any) -> AsyncIterator[Env]:
    clock = ManualClock()
    settings = SubscriptionSettings(**service_settings_kwargs(database, kafka.bootstrap))
    app = create_app(settings, clock=clock)
    async with serve(app) as client:
        yield Env(client, app.state.runtime.db(), clock, app.state.billing_service, settings)


async def seed_product(
    env: Seeding,
    billing_type: BillingType = BillingType.MONTHLY,
    price_fen: int = 500,
    first_month: str = "full",
    last_month: str = "full",
) -> Product:
    now = env.clock.now()
    partner, _key = domain.new_partner(f"cp-{uuid.uuid4().hex[:8]}", now)
    product = Product(
        id=uuid.uuid4(),
        partner_id=partner.id,
        code="B" + uuid.uuid4().hex[:8].upper(),
        name="测试业务",
        billing_type=billing_type,
        price_fen=price_fen,
        description="d",
        availability="全国",
        how_to_cancel="回复TD",
        charge_rule="按月",
        fault_hotline="10086",
        consult_hotline="10086",
        first_month=first_month,
        last_month=last_month,
        status=ProductStatus.PUBLISHED,
        discontinue_at=None,
        created_at=now,
        updated_at=now,
    )
    async with env.pool.acquire() as conn:
        await PartnerRepository().insert(conn, partner)
        await ProductRepository().insert(conn, product)
    return product


async def seed_subscription(
    env: Seeding,
    product: Product,
    msisdn: str,
    confirmed_at: datetime | None,
    ended_at: datetime | None = None,
    final: SubscriptionStatus = SubscriptionStatus.CANCELLED,
) -> uuid.UUID:
    """A subscription with the times given, through the repository the use cases use."""
    repo = SubscriptionRepository()
    sub_id = uuid.uuid4()
    requested = (confirmed_at or env.clock.now()) - timedelta(minutes=5)
    async with env.pool.acquire() as conn:
        await repo.insert_pending(
            conn, sub_id, msisdn, product.id, "sms", requested, requested + timedelta(hours=24)
        )
        if confirmed_at is not None:
            await repo.set_status(conn, sub_id, SubscriptionStatus.ACTIVE, confirmed_at)
        if ended_at is not None:
            await repo.set_status(conn, sub_id, final, ended_at, end_channel="sms_td")
    return sub_id


def msisdn() -> str:
    return f"86139{uuid.uuid4().int % 10**8:08d}"


async def charges_of_subscription(env: Env, sub_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await env.pool.fetch("SELECT * FROM charges WHERE subscription_id = $1", sub_id))


async def events_for(kafka: Any, msisdns: set[str], wanted: int) -> list[Any]:
    """The Charged/Refunded events on subscription.events for these users, once `wanted` are there."""
    consumer = AIOKafkaConsumer(
        SUBSCRIPTION_EVENTS.name,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: list[Any] = []

    def take(batch: dict[Any, list[Any]]) -> None:
        for records in batch.values():
            for record in records:
                try:
                    event = decode_event(record.value or b"")
                except UnknownEvent:
                    continue  # other tests publish poison on purpose
                if isinstance(event, Charged | Refunded) and event.payload.msisdn in msisdns:
                    found.append(event)

    try:

        async def enough() -> bool:
            take(await consumer.getmany(timeout_ms=200))
            return len(found) >= wanted

        await eventually(enough)
        take(await consumer.getmany(timeout_ms=500))  # anything more for them is there by now
    finally:
        await consumer.stop()
    return found


async def run(env: Env, period: str, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    response = await (client or env.client).post(
        "/v1/billing/runs", json={"period": period}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_monthly_run_applies_the_rules_and_a_rerun_charges_nothing_new(env: Env, kafka: Any) -> None:
    period = domain.shift_period(domain.period_of(env.clock.now()), -1)  # last month
    start, end = domain.period_bounds(period)
    full = await seed_product(env)
    first_free = await seed_product(env, first_month="free")
    last_none = await seed_product(env, last_month="none")
    long_ago = start - timedelta(days=40)
    users = {name: msisdn() for name in "abcdefgh"}
    subs = {
        "a": await seed_subscription(env, full, users["a"], long_ago),  # active all month: 5 元
        "b": await seed_subscription(
            env, first_free, users["b"], start + timedelta(days=3)
        ),  # first month free
        "c": await seed_subscription(env, first_free, users["c"], long_ago),  # not its first month: 5 元
        "d": await seed_subscription(
            env, last_none, users["d"], long_ago, start + timedelta(days=10)
        ),  # none
        "e": await seed_subscription(
            env, full, users["e"], long_ago, start + timedelta(days=10)
        ),  # last full
        "f": await seed_subscription(
            env, full, users["f"], long_ago, start - timedelta(days=1)
        ),  # ended before
        "g": await seed_subscription(env, full, users["g"], end + timedelta(hours=1)),  # confirmed after
        "h": await seed_subscription(env, full, users["h"], None),  # never confirmed
    }

    first = await run(env, period)
    assert first == {"period": period, "charged": 3, "amount_fen": 1500, "already_charged": 0}
    charged = {name for name, sub in subs.items() if await charges_of_subscription(env, sub)}
    assert charged == {"a", "c", "e"}
    row = (await charges_of_subscription(env, subs["a"]))[0]
    assert (row["period"], row["amount_fen"], row["msisdn"]) == (period, 500, users["a"])

    again = await run(env, period)
    assert again == {"period": period, "charged": 0, "amount_fen": 0, "already_charged": 3}
    assert await env.pool.fetchval("SELECT count(*) FROM charges") == 3

    # each charge has its raw record and exactly one Charged event
    records = await env.pool.fetch("SELECT msisdn, detail FROM order_records WHERE kind = 'charged'")
    assert sorted(r["msisdn"] for r in records) == sorted(users[n] for n in "ace")
    assert all(r["detail"]["period"] == period and r["detail"]["amount_fen"] == 500 for r in records)
    events = await events_for(kafka, set(users.values()), 3)
    assert sorted(e.payload.msisdn for e in events) == sorted(users[n] for n in "ace")
    assert all(isinstance(e, Charged) and e.payload.period == period for e in events)


async def test_two_runs_of_the_same_month_at_once_charge_each_subscriber_once(env: Env) -> None:
    product = await seed_product(env, price_fen=300)
    period = domain.period_of(env.clock.now())
    long_ago = env.clock.now() - timedelta(days=90)
    subscribers = 40
    for _ in range(subscribers):
        await seed_subscription(env, product, msisdn(), long_ago)

    # Two requests at once (each on its own connections, as two replicas would be). Two apps in
    # one process would be closer still, but the test broker (Tansu) then stalls the next
    # consumer group join of the session.
    one, two = await asyncio.gather(run(env, period), run(env, period))
    assert one["charged"] + two["charged"] == subscribers
    assert one["charged"] + one["already_charged"] == subscribers
    assert two["charged"] + two["already_charged"] == subscribers
    assert (
        await env.pool.fetchval("SELECT count(*) FROM charges WHERE product_id = $1", product.id)
        == subscribers
    )
    assert await env.pool.fetchval("SELECT count(*) FROM order_records WHERE kind = 'charged'") == subscribers

    # Two use-case instances with small pages, so that the runs really interleave page by page.
    earlier = domain.shift_period(period, -1)
    replicas = [BillingService(env.pool, env.clock, batch_size=3) for _ in range(2)]
    results = await asyncio.gather(*(r.run_monthly(earlier) for r in replicas))
    assert sum(r.charged for r in results) == subscribers
    assert all(r.charged + r.already_charged == subscribers for r in results)
    assert await env.pool.fetchval("SELECT count(*) FROM charges WHERE period = $1", earlier) == subscribers


async def test_cancel_and_resubscribe_in_one_month_pays_one_fee(env: Env) -> None:
    period = domain.shift_period(domain.period_of(env.clock.now()), -1)
    start, _end = domain.period_bounds(period)
    long_ago = start - timedelta(days=40)
    full = await seed_product(env)
    last_none = await seed_product(env, last_month="none")
    twice, thrice, none_back, none_in_month = msisdn(), msisdn(), msisdn(), msisdn()
    # TD on the 5th, subscribed again on the 6th and still subscribed
    first = await seed_subscription(env, full, twice, long_ago, start + timedelta(days=5))
    second = await seed_subscription(env, full, twice, start + timedelta(days=6))
    # three subscriptions in the month, the last one cancelled too
    for day in (2, 10, 20):
        await seed_subscription(
            env, full, thrice, start + timedelta(days=day), start + timedelta(days=day + 3)
        )
    # 退订当月不收费, but subscribed again: the month is not one the user left the product in
    await seed_subscription(env, last_none, none_back, long_ago, start + timedelta(days=5))
    await seed_subscription(env, last_none, none_back, start + timedelta(days=6))
    # 退订当月不收费, subscribed and cancelled in the month: that rule wins over first_month=full
    await seed_subscription(
        env, last_none, none_in_month, start + timedelta(days=1), start + timedelta(days=9)
    )

    assert await run(env, period) == {
        "period": period,
        "charged": 3,
        "amount_fen": 1500,
        "already_charged": 0,
    }
    fees = await env.pool.fetch(
        "SELECT msisdn, subscription_id, amount_fen FROM charges WHERE period = $1", period
    )
    assert sorted(r["msisdn"] for r in fees) == sorted([twice, thrice, none_back])
    assert all(r["amount_fen"] == 500 for r in fees)
    # charged to the first subscription of the month, whichever run gets there
    assert {r["subscription_id"] for r in fees if r["msisdn"] == twice} == {first}

    assert await run(env, period) == {"period": period, "charged": 0, "amount_fen": 0, "already_charged": 3}

    # The database holds the rule too: a fee for the user's other subscription of the month (a run
    # that read the subscriptions at another time) does not get in.
    other = domain.Charge(
        id=uuid.uuid4(),
        msisdn=twice,
        subscription_id=second,
        product_id=full.id,
        product_code=full.code,
        amount_fen=500,
        reason="monthly_fee",
        charged_at=env.clock.now(),
        period=period,
    )
    async with env.pool.acquire() as conn:
        assert await BillingRepository().insert_once(conn, other) is False
    assert await env.pool.fetchval("SELECT count(*) FROM charges WHERE msisdn = $1", twice) == 1


async def test_two_runs_at_once_charge_a_resubscribed_user_once(env: Env) -> None:
    product = await seed_product(env, price_fen=500)
    period = domain.shift_period(domain.period_of(env.clock.now()), -1)
    start, _end = domain.period_bounds(period)
    users = [msisdn() for _ in range(15)]
    for user in users:
        await seed_subscription(env, product, user, start - timedelta(days=40), start + timedelta(days=3))
        await seed_subscription(env, product, user, start + timedelta(days=4), start + timedelta(days=8))
        await seed_subscription(env, product, user, start + timedelta(days=9))

    replicas = [BillingService(env.pool, env.clock, batch_size=2) for _ in range(2)]
    results = await asyncio.gather(*(r.run_monthly(period) for r in replicas))
    assert sum(r.charged for r in results) == len(users)
    assert all(r.charged + r.already_charged == len(users) for r in results)
    one, two = await asyncio.gather(run(env, period), run(env, period))
    assert one["charged"] + two["charged"] == 0
    rows = await env.pool.fetch(
        "SELECT msisdn, count(*) AS fees, sum(amount_fen) AS fen FROM charges WHERE product_id = $1 GROUP BY msisdn",
        product.id,
    )
    assert {r["msisdn"]: (r["fees"], r["fen"]) for r in rows} == dict.fromkeys(users, (1, 500))


@dataclass
class Db:
    pool: asyncpg.Pool
    clock: ManualClock


async def subscription_before(
    env: Seeding, product: Product, msisdn: str, confirmed_at: datetime, ended_at: datetime | None = None
) -> uuid.UUID:
    """seed_subscription on the schema of an older release (the insert names only its columns)."""
    sub_id = uuid.uuid4()
    requested = confirmed_at - timedelta(minutes=5)
    async with env.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO subscriptions (id, msisdn, product_id, status, channel, requested_at, confirm_by, updated_at)"
            " VALUES ($1, $2, $3, 'pending', 'sms', $4, $5, $4)",
            sub_id,
            msisdn,
            product.id,
            requested,
            requested + timedelta(hours=24),
        )
        repo = SubscriptionRepository()
        await repo.set_status(conn, sub_id, SubscriptionStatus.ACTIVE, confirmed_at)
        if ended_at is not None:
            await repo.set_status(conn, sub_id, SubscriptionStatus.CANCELLED, ended_at, end_channel="sms_td")
    return sub_id


async def test_the_migration_keeps_fees_charged_twice_before_it_out_of_the_one_fee_index(
    database: str, tmp_path: Path
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        if sql.name < "005":
            (before / sql.name).write_text(sql.read_text())
    pool = await create_pool(database)
    try:
        await migrate(pool, [("common", COMMON_MIGRATIONS), ("subscription", before)])
        db = Db(pool, ManualClock())
        product = await seed_product(db)
        period = domain.period_of(db.clock.now())
        start, _end = domain.period_bounds(period)
        user = msisdn()
        first = await subscription_before(
            db, product, user, start - timedelta(days=40), start + timedelta(days=1)
        )
        second = await subscription_before(db, product, user, start + timedelta(days=2))
        for sub_id, minute in ((first, 1), (second, 2)):  # what the run charged before the rule
            await pool.execute(
                """
                INSERT INTO charges (id, msisdn, subscription_id, product_id, period, amount_fen, reason, charged_at)
                VALUES ($1, $2, $3, $4, $5, 500, 'monthly_fee', $6)
                """,
                uuid.uuid4(),
                user,
                sub_id,
                product.id,
                period,
                start + timedelta(days=3, minutes=minute),
            )

        applied = await migrate(pool, [("common", COMMON_MIGRATIONS), ("subscription", MIGRATIONS)])
        assert applied[0] == "subscription/005_charges_monthly_per_user"
        rows = await pool.fetch(
            "SELECT id, subscription_id, duplicate_of FROM charges WHERE msisdn = $1 ORDER BY charged_at",
            user,
        )
        assert [(r["subscription_id"], r["duplicate_of"]) for r in rows] == [
            (first, None),
            (second, rows[0]["id"]),
        ]
        again = BillingService(pool, db.clock)
        assert (await again.run_monthly(period)).already_charged == 1
        assert await pool.fetchval("SELECT count(*) FROM charges WHERE msisdn = $1", user) == 2
    finally:
        await pool.close()


async def test_a_month_that_has_not_begun_cannot_be_billed(env: Env) -> None:
    next_month = domain.shift_period(domain.period_of(env.clock.now()), 1)
    future = await env.client.post("/v1/billing/runs", json={"period": next_month}, headers=OPERATOR)
    assert future.status_code == 422
    assert future.json()["code"] == "period_in_future"
    bad = await env.client.post("/v1/billing/runs", json={"period": "2026-13"}, headers=OPERATOR)
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_failed"
    anonymous = await env.client.post("/v1/billing/runs", json={"period": "2026-01"})
    assert anonymous.status_code == 401


def delivered(
    recipient: str, product: Product, message_id: uuid.UUID | None = None, sender: uuid.UUID | None = None
) -> MessageState:
    """A delivery status of the product's content, sent by its owner unless `sender` is given."""
    now = datetime.now().astimezone()
    return MessageState(
        message_id=message_id or uuid.uuid4(),
        partner_id=sender or product.partner_id,
        recipient=recipient,
        status=MessageStatus.DELIVERED,
        segments_total=1,
        segments=[],
        accepted_at=now,
        done_at=now,
        product_code=product.code,
    )


async def test_per_message_fee_once_per_delivered_message(env: Env) -> None:
    per_message = await seed_product(env, BillingType.PER_MESSAGE, price_fen=10)
    monthly = await seed_product(env)
    user, stranger = msisdn(), msisdn()
    sub = await seed_subscription(env, per_message, user, env.clock.now() - timedelta(days=1))
    await seed_subscription(env, monthly, user, env.clock.now() - timedelta(days=1))

    state = delivered(user, per_message)
    assert await env.billing.charge_delivered(state) is True
    assert await env.billing.charge_delivered(state) is False  # the same status event again
    both = await asyncio.gather(
        *(env.billing.charge_delivered(delivered(user, per_message)) for _ in range(2))
    )
    assert both == [True, True]  # two other messages
    same = delivered(user, per_message)
    assert sorted(
        await asyncio.gather(env.billing.charge_delivered(same), env.billing.charge_delivered(same))
    ) == [
        False,
        True,
    ]
    assert len(await charges_of_subscription(env, sub)) == 4

    assert await env.billing.charge_delivered(delivered(stranger, per_message)) is False  # not subscribed
    assert (
        await env.billing.charge_delivered(delivered(user, monthly)) is False
    )  # monthly: no fee per message
    assert (
        await env.billing.charge_delivered(delivered(user, per_message, sender=uuid.uuid4())) is False
    )  # another partner's message under this product's code
    rows = await charges_of_subscription(env, sub)
    assert {r["message_id"] for r in rows} >= {state.message_id}
    assert all(r["amount_fen"] == 10 and r["period"] is None for r in rows)

    month = domain.period_of(env.clock.now())
    listed = await env.client.get(f"/v1/users/{user}/charges", params={"month": month}, headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    assert listed.json()["total_fen"] == 40
    assert len(listed.json()["charges"]) == 4


async def test_refunds_are_negative_charges_within_the_charge(env: Env, kafka: Any) -> None:
    product = await seed_product(env, price_fen=500)
    user = msisdn()
    await seed_subscription(env, product, user, env.clock.now() - timedelta(days=60))
    await run(env, domain.period_of(env.clock.now()))
    charge_id = await env.pool.fetchval("SELECT id FROM charges WHERE msisdn = $1", user)
    path = f"/v1/charges/{charge_id}/refunds"

    partial = await env.client.post(path, json={"amount_fen": 200, "reason": "投诉退费"}, headers=OPERATOR)
    assert partial.status_code == 201, partial.text
    refund = partial.json()
    assert (refund["amount_fen"], refund["refund_of"], refund["reason"]) == (-200, str(charge_id), "投诉退费")

    too_much = await env.client.post(path, json={"amount_fen": 301, "reason": "x"}, headers=OPERATOR)
    assert too_much.status_code == 422
    assert too_much.headers["content-type"] == "application/problem+json"
    assert too_much.json()["code"] == "refund_exceeds_charge"
    assert too_much.json()["refundable_fen"] == 300

    # two refunds of the rest at once: one gets in, the other would exceed the charge
    racing = await asyncio.gather(
        *(env.client.post(path, json={"amount_fen": 300, "reason": "x"}, headers=OPERATOR) for _ in range(2))
    )
    assert sorted(r.status_code for r in racing) == [201, 422]

    of_refund = await env.client.post(
        f"/v1/charges/{refund['id']}/refunds", json={"amount_fen": 1, "reason": "x"}, headers=OPERATOR
    )
    assert of_refund.status_code == 422
    assert of_refund.json()["code"] == "charge_not_refundable"
    unknown = await env.client.post(
        f"/v1/charges/{uuid.uuid4()}/refunds", json={"amount_fen": 1, "reason": "x"}, headers=OPERATOR
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "charge_not_found"
    zero = await env.client.post(path, json={"amount_fen": 0, "reason": "x"}, headers=OPERATOR)
    assert zero.status_code == 422

    month = await env.client.get(f"/v1/users/{user}/charges", headers=OPERATOR)  # this month by default
    body = month.json()
    assert body["month"] == domain.period_of(env.clock.now())
    assert [c["amount_fen"] for c in body["charges"]] == [500, -200, -300]
    assert body["total_fen"] == 0
    kinds = await env.pool.fetch(
        "SELECT kind FROM order_records WHERE msisdn = $1 ORDER BY occurred_at, id", user
    )
    assert [r["kind"] for r in kinds] == ["charged", "refunded", "refunded"]
    events = await events_for(kafka, {user}, 3)
    assert [type(e) for e in events] == [Charged, Refunded, Refunded]
    assert sorted(e.payload.amount_fen for e in events) == [-300, -200, 500]

    bad_month = await env.client.get(
        f"/v1/users/{user}/charges", params={"month": "11-2026"}, headers=OPERATOR
    )
    assert bad_month.status_code == 422


async def test_the_jobs_loop_takes_this_months_fees_without_anyone_calling(database: str, kafka: Any) -> None:
    clock = ManualClock()
    settings = SubscriptionSettings(
        **service_settings_kwargs(database, kafka.bootstrap), jobs_interval_s=0.2, billing_interval_s=0.2
    )
    app = create_app(settings, clock=clock)
    async with serve(app) as client:
        env = Env(client, app.state.runtime.db(), clock, app.state.billing_service, settings)
        product = await seed_product(env, price_fen=800)
        sub_id = await seed_subscription(env, product, msisdn(), confirmed_at=clock.now(), ended_at=None)

        async def charged() -> bool:
            rows = await charges_of_subscription(env, sub_id)
            assert [r["amount_fen"] for r in rows] == [800], rows
            return True

        await eventually(charged)
        rerun = await client.post(
            "/v1/billing/runs", json={"period": domain.period_of(clock.now())}, headers=OPERATOR
        )
        assert rerun.json()["charged"] == 0  # the loop's runs and this one charge the month once
        await charged()
