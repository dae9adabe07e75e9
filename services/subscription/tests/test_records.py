"""Raw records against the real database: a user's raw data list as JSON and as CSV that Excel
opens, legal holds announced on subscription.events, and retention: records, charges and ended
subscriptions older than 6 Asia/Shanghai months are gone after the job, a held user's are kept."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import ConsumerRecord

from subscription import consumers, domain
from subscription.domain import SHANGHAI, BillingType, Charge, Product, ProductStatus, SubscriptionStatus
from subscription.main import create_app
from subscription.repository.billing import BillingRepository
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductRepository
from subscription.repository.records import RecordRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.billing import BillingService
from subscription.service.subscriptions import SubscriptionService
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.db import ensure_monthly_partitions
from vas_common.events import Event, encode_event
from vas_common.events.sms_sender import MessageState, MessageStatus, MessageStatusChanged
from vas_common.events.subscription import LegalHoldChanged
from vas_common.events.topics import SMS_STATUS, SUBSCRIPTION_EVENTS
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, read_events, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


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


def msisdn() -> str:
    return f"86137{uuid.uuid4().int % 10**8:08d}"


async def test_raw_records_as_json_and_as_csv_for_excel(env: Env) -> None:
    partner = (
        await env.client.post("/v1/partners", json={"name": f"cp-{uuid.uuid4().hex[:8]}"}, headers=OPERATOR)
    ).json()
    key = {"X-API-Key": partner["api_key"]}
    fields = {
        "code": "R" + uuid.uuid4().hex[:6].upper(),
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
    product = (await env.client.post("/v1/products", json=fields, headers=key)).json()
    await env.client.post(f"/v1/products/{product['id']}/publication", headers=key)
    user = msisdn()
    ordered = await env.client.post(
        "/v1/subscriptions", json={"msisdn": "+" + user, "product_code": fields["code"]}, headers=key
    )
    assert ordered.status_code == 202, ordered.text

    listed = await env.client.get(f"/v1/users/{user}/records", headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["msisdn"] == user
    assert [r["kind"] for r in body["records"]] == ["requested", "sms_out", "confirmation_sent"]
    assert body["records"][0]["channel"] == "partner_api"
    assert body["records"][0]["product_code"] == fields["code"]
    assert "天气预报" in body["records"][1]["detail"]["text"]

    exported = await env.client.get(f"/v1/users/{user}/records", params={"format": "csv"}, headers=OPERATOR)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "occurred_at (Asia/Shanghai)",
        "kind",
        "product_code",
        "channel",
        "subscription_id",
        "detail",
    ]
    assert [r[1] for r in rows[1:]] == ["requested", "sms_out", "confirmation_sent"]
    assert "天气预报" in rows[2][5]  # Chinese as it is, not \\u escapes
    assert rows[1][0].endswith("+08:00")  # Beijing time for the people reading it

    first = datetime.fromisoformat(body["records"][0]["occurred_at"])
    empty = await env.client.get(
        f"/v1/users/{user}/records", params={"to": first.isoformat()}, headers=OPERATOR
    )
    assert empty.json()["records"] == []
    window = await env.client.get(
        f"/v1/users/{user}/records",
        params={"from": first.isoformat(), "to": (first + timedelta(days=1)).isoformat()},
        headers=OPERATOR,
    )
    assert len(window.json()["records"]) == 3
    assert datetime.fromisoformat(window.json()["from"]) == first

    backwards = await env.client.get(
        f"/v1/users/{user}/records",
        params={"from": first.isoformat(), "to": (first - timedelta(days=1)).isoformat()},
        headers=OPERATOR,
    )
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "invalid_range"
    naive = await env.client.get(
        f"/v1/users/{user}/records", params={"from": "2026-01-01T00:00:00"}, headers=OPERATOR
    )
    assert naive.status_code == 422
    other_format = await env.client.get(
        f"/v1/users/{user}/records", params={"format": "xml"}, headers=OPERATOR
    )
    assert other_format.status_code == 422
    bad_number = await env.client.get("/v1/users/12345/records", headers=OPERATOR)
    assert bad_number.status_code == 422
    assert bad_number.json()["errors"][0]["loc"] == ["path", "msisdn"]
    assert (await env.client.get(f"/v1/users/{user}/records")).status_code == 401


async def test_legal_holds_are_stored_and_announced(env: Env, kafka: Any) -> None:
    user = msisdn()
    placed = await env.client.post(
        "/v1/legal-holds", json={"msisdn": user, "reason": "投诉处理中 C-1"}, headers=OPERATOR
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["msisdn"] == user
    again = await env.client.post("/v1/legal-holds", json={"msisdn": user, "reason": "C-2"}, headers=OPERATOR)
    assert again.json()["placed_at"] == placed.json()["placed_at"]  # held since the first
    holds = (await env.client.get("/v1/legal-holds", headers=OPERATOR)).json()
    assert [(h["msisdn"], h["reason"]) for h in holds] == [(user, "C-2")]

    released = await env.client.delete(f"/v1/legal-holds/{user}", headers=OPERATOR)
    assert released.status_code == 204
    gone = await env.client.delete(f"/v1/legal-holds/{user}", headers=OPERATOR)
    assert gone.status_code == 404
    assert gone.json()["code"] == "legal_hold_not_found"
    assert (
        await env.client.post("/v1/legal-holds", json={"msisdn": user, "reason": ""}, headers=OPERATOR)
    ).status_code == 422

    def about_user(event: Event) -> bool:
        return isinstance(event, LegalHoldChanged) and event.payload.msisdn == user

    changes = await read_events(kafka.bootstrap, SUBSCRIPTION_EVENTS.name, about_user, 3)
    assert all(record.key == user.encode() for _, record in changes)
    seen = [event for event, _ in changes]
    assert [(e.payload.held, e.payload.reason) for e in seen] == [
        (True, "投诉处理中 C-1"),
        (True, "C-2"),
        (False, None),
    ]


async def seed_subscription(env: Env, user: str, product: Product) -> uuid.UUID:
    repo = SubscriptionRepository()
    sub_id = uuid.uuid4()
    at = env.clock.now() - timedelta(days=400)
    async with env.pool.acquire() as conn:
        await repo.insert_pending(conn, sub_id, user, product.id, "sms", at, at + timedelta(hours=24))
        await repo.set_status(conn, sub_id, SubscriptionStatus.ACTIVE, at)
    return sub_id


async def seed_product(
    env: Env, billing_type: BillingType = BillingType.MONTHLY, price_fen: int = 500
) -> Product:
    now = env.clock.now()
    partner, _ = domain.new_partner(f"cp-{uuid.uuid4().hex[:8]}", now)
    product = Product(
        uuid.uuid4(), partner.id, "K" + uuid.uuid4().hex[:6].upper(), "测试", billing_type, price_fen,
        "d", "a", "c", "r", "1", "2", "full", "full", ProductStatus.PUBLISHED, None, now, now,
    )  # fmt: skip
    async with env.pool.acquire() as conn:
        await PartnerRepository().insert(conn, partner)
        await ProductRepository().insert(conn, product)
    return product


async def test_retention_removes_what_is_older_than_six_months_except_held_users(env: Env) -> None:
    now = env.clock.now()
    cutoff = domain.retention_cutoff(now, 6)
    month_8 = cutoff - timedelta(days=45)  # its own partition, only the plain user's records: dropped
    month_7 = cutoff - timedelta(days=10)  # its own partition, the held user's too: kept, rows deleted
    month_10 = cutoff - timedelta(days=110)  # no partition: the DEFAULT partition
    plain, held = msisdn(), msisdn()
    records = RecordRepository()
    async with env.pool.acquire() as conn:
        await ensure_monthly_partitions(
            conn, "order_records", "occurred_at", month_8, tz=SHANGHAI, months_back=0, months_ahead=1
        )
        for at, user in [
            (month_10, plain),
            (month_10, held),
            (month_8, plain),
            (month_7, plain),
            (month_7, held),
            (cutoff - timedelta(seconds=1), plain),
            (cutoff, plain),  # exactly 6 months: kept
            (now, plain),
        ]:
            await records.add(conn, at, user, "sms_in", channel="sms", detail={"text": at.isoformat()})
    month_8_partition = f"order_records_{month_8.astimezone(SHANGHAI):%Y%m}"
    month_7_partition = f"order_records_{month_7.astimezone(SHANGHAI):%Y%m}"

    product = await seed_product(env)
    plain_sub, held_sub = (
        await seed_subscription(env, plain, product),
        await seed_subscription(env, held, product),
    )
    billing = BillingRepository()

    def charge(
        sub: uuid.UUID, user: str, at: datetime, amount: int = 500, refund_of: uuid.UUID | None = None
    ) -> Charge:
        return Charge(uuid.uuid4(), user, sub, product.id, product.code, amount, "x", at, refund_of=refund_of)

    old_plain = charge(plain_sub, plain, month_8)
    old_held = charge(held_sub, held, month_8)
    old_refunded_late = charge(plain_sub, plain, month_8)
    old_refunded_early = charge(plain_sub, plain, month_10)
    async with env.pool.acquire() as conn:
        for c in [
            old_plain,
            old_held,
            old_refunded_late,
            charge(plain_sub, plain, now - timedelta(days=1), -500, refund_of=old_refunded_late.id),
            old_refunded_early,
            charge(plain_sub, plain, month_8, -100, refund_of=old_refunded_early.id),
            charge(plain_sub, plain, now),
        ]:
            assert await billing.insert_once(conn, c)

    assert (
        await env.client.post("/v1/legal-holds", json={"msisdn": held, "reason": "诉讼"}, headers=OPERATOR)
    ).status_code == 201
    job = await env.client.post("/v1/jobs/retention", headers=OPERATOR)
    assert job.status_code == 200, job.text
    result = job.json()
    assert datetime.fromisoformat(result["cutoff"]) == cutoff
    assert month_8_partition in result["partitions_dropped"]
    assert month_7_partition not in result["partitions_dropped"]
    assert result["records_deleted"] == 3  # month 10, month 7 and the second before the cutoff
    assert result["charges_deleted"] == 3  # the old charge, and the early-refunded one with its refund

    async def times_of(user: str) -> list[datetime]:
        rows = await env.pool.fetch(
            "SELECT occurred_at FROM order_records WHERE msisdn = $1 ORDER BY occurred_at", user
        )
        return [r["occurred_at"] for r in rows]

    assert await times_of(plain) == [cutoff, now]
    assert await times_of(held) == [month_10, month_7]  # held: kept past the horizon
    assert await env.pool.fetchval("SELECT to_regclass($1)", month_8_partition) is None
    kept = {r["id"] for r in await env.pool.fetch("SELECT id FROM charges")}
    assert kept >= {old_held.id, old_refunded_late.id}
    assert not kept & {old_plain.id, old_refunded_early.id}
    assert len(kept) == 4

    again = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()
    assert (again["records_deleted"], again["charges_deleted"], again["partitions_dropped"]) == (0, 0, [])

    # The hold ends and seven months pass on the service's clock: all of it goes, the partitions
    # for the months now current are created on the way.
    assert (await env.client.delete(f"/v1/legal-holds/{held}", headers=OPERATOR)).status_code == 204
    env.clock.advance(timedelta(days=7 * 31))
    later = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()
    assert f"order_records_{env.clock.now().astimezone(SHANGHAI):%Y%m}" in later["partitions_created"]
    assert month_7_partition in later["partitions_dropped"]
    assert await times_of(plain) == []
    assert await times_of(held) == []
    assert await env.pool.fetchval("SELECT count(*) FROM charges") == 0


async def test_ended_subscriptions_go_after_six_months_unless_held_or_still_charged(env: Env) -> None:
    now = env.clock.now()
    cutoff = domain.retention_cutoff(now, 6)
    plain, held = msisdn(), msisdn()
    product = await seed_product(env)
    subscriptions = SubscriptionRepository()

    async def ended(user: str, at: datetime) -> uuid.UUID:
        sub_id = await seed_subscription(env, user, product)
        async with env.pool.acquire() as conn:
            await subscriptions.set_status(conn, sub_id, SubscriptionStatus.CANCELLED, at, "sms_td")
        return sub_id

    old = await ended(plain, cutoff - timedelta(days=40))
    old_held = await ended(held, cutoff - timedelta(days=40))
    old_refunded_now = await ended(plain, cutoff - timedelta(days=40))
    at_cutoff = await ended(plain, cutoff)  # exactly 6 months: kept
    active = await seed_subscription(env, plain, product)  # open since 400 days: never removed
    async with env.pool.acquire() as conn:
        refund = Charge(uuid.uuid4(), plain, old_refunded_now, product.id, product.code, -500, "x", now)
        assert await BillingRepository().insert_once(conn, refund)
    assert (
        await env.client.post("/v1/legal-holds", json={"msisdn": held, "reason": "诉讼"}, headers=OPERATOR)
    ).status_code == 201

    async def remaining() -> set[uuid.UUID]:
        return {r["id"] for r in await env.pool.fetch("SELECT id FROM subscriptions")}

    result = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()
    assert result["subscriptions_deleted"] == 1
    kept = await remaining()
    assert old not in kept
    assert kept == {old_held, old_refunded_now, at_cutoff, active}

    # The hold ends and seven months pass: the refund goes, then the subscription it pointed at.
    assert (await env.client.delete(f"/v1/legal-holds/{held}", headers=OPERATOR)).status_code == 204
    env.clock.advance(timedelta(days=7 * 31))
    later = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()
    assert later["subscriptions_deleted"] == 3
    assert await remaining() == {active}


async def test_both_exports_give_the_same_instants_in_one_named_zone(env: Env) -> None:
    user = msisdn()
    at = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 1 December 01:30 in Shanghai
    effective = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    async with env.pool.acquire() as conn:
        await RecordRepository().add(conn, at, user, "sms_in", channel="sms", detail={"text": "TD"})
        await RecordRepository().add(
            conn,
            at + timedelta(minutes=1),
            user,
            "notice_sent",
            detail={"effective_at": effective.isoformat()},
        )
    window = {"from": "2026-11-30T00:00:00Z", "to": "2026-12-02T00:00:00+08:00"}

    body = (await env.client.get(f"/v1/users/{user}/records", params=window, headers=OPERATOR)).json()
    assert body["time_zone"] == "Asia/Shanghai"
    assert (body["from"], body["to"]) == ("2026-11-30T08:00:00+08:00", "2026-12-02T00:00:00+08:00")
    json_times = [r["occurred_at"] for r in body["records"]]
    assert json_times == ["2026-12-01T01:30:00+08:00", "2026-12-01T01:31:00+08:00"]
    assert body["records"][1]["detail"]["effective_at"] == "2027-01-01T00:00:00+08:00"

    exported = await env.client.get(
        f"/v1/users/{user}/records", params={**window, "format": "csv"}, headers=OPERATOR
    )
    assert exported.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert "occurred_at (Asia/Shanghai)" in table[0]
    csv_times = [r["occurred_at (Asia/Shanghai)"] for r in table]
    assert all(t.endswith("+08:00") for t in csv_times)
    assert [datetime.fromisoformat(t) for t in csv_times] == [datetime.fromisoformat(t) for t in json_times]
    assert [datetime.fromisoformat(t) for t in json_times] == [at, at + timedelta(minutes=1)]
    assert json.loads(table[1]["detail"])["effective_at"] == "2027-01-01T00:00:00+08:00"


def status_record(event: MessageStatusChanged, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = encode_event(event)
    key = event.key().encode()
    return ConsumerRecord(SMS_STATUS.name, 0, offset, 0, 0, key, value, None, len(key), len(value), [])


def content_delivered(
    product: Product, partner_id: uuid.UUID, user: str, at: datetime
) -> MessageStatusChanged:
    return MessageStatusChanged(
        producer="sms-sender",
        payload=MessageState(
            message_id=uuid.uuid4(),
            partner_id=partner_id,
            recipient=user,
            status=MessageStatus.DELIVERED,
            segments_total=2,
            segments=[],
            accepted_at=at,
            done_at=at,
            product_code=product.code,
        ),
    )


async def test_each_delivered_content_message_is_a_record_once_beside_its_charge(env: Env) -> None:
    """The consumer of sms.status as the service wires it, fed records directly."""
    product = await seed_product(env, BillingType.PER_MESSAGE, 10)
    user = msisdn()
    sub_id = await seed_subscription(env, user, product)
    subscriptions = SubscriptionService(env.pool, env.clock, "测试")
    billing = BillingService(env.pool, env.clock)
    (on_status,) = [
        s.batch_handler
        for s in consumers.subscriptions(subscriptions, on_delivered=[billing.charge_delivered])
        if s.batch_handler and SMS_STATUS in s.topics
    ]
    now = env.clock.now()
    first = content_delivered(product, product.partner_id, user, now)
    second = content_delivered(product, product.partner_id, user, now + timedelta(minutes=5))
    # The same status again, later and with a later delivered time (a month on: another partition).
    again = first.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "payload": first.payload.model_copy(update={"done_at": now + timedelta(days=31)}),
        }
    )
    forged = content_delivered(product, uuid.uuid4(), user, now + timedelta(minutes=10))
    batch = [status_record(e, n) for n, e in enumerate((first, second, forged, again))]
    assert await on_status(batch) == []
    assert await on_status(batch) == []  # the whole batch redelivered

    body = (await env.client.get(f"/v1/users/{user}/records", headers=OPERATOR)).json()
    content = [r for r in body["records"] if r["kind"] == "content_delivered"]
    assert [r["detail"]["message_id"] for r in content] == [
        str(first.payload.message_id),
        str(second.payload.message_id),
    ]
    assert all(
        r["product_code"] == product.code
        and r["subscription_id"] == str(sub_id)
        and r["detail"]["partner_id"] == str(product.partner_id)
        and r["detail"]["segments_total"] == 2
        for r in content
    )
    assert [datetime.fromisoformat(r["occurred_at"]) for r in content] == [now, now + timedelta(minutes=5)]
    charged = [r for r in body["records"] if r["kind"] == "charged"]
    assert sorted(r["detail"]["message_id"] for r in charged) == sorted(
        r["detail"]["message_id"] for r in content
    )
    assert all(r["detail"]["amount_fen"] == 10 for r in charged)
