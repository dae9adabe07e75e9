"""Holds per (number, holder) and complaints' refund requests, on the real database and broker.

A user's records are kept while any holder remains: the operator's legal holds (`legal`,
`legal:<name>`), released one at a time, and complaints' dispute holds from complaint.events,
applied idempotently. A complaint's refund request refunds its user's charge once however often
it comes, and is refused (billing.refund_failed) for another user's charge or more than is left.
The migration keeps the holds made before holders existed as the holder `legal`."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from subscription import domain
from subscription.domain import BillingType, Charge, Product, ProductStatus, SubscriptionStatus
from subscription.main import MIGRATIONS, create_app
from subscription.repository.billing import BillingRepository
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductRepository
from subscription.repository.records import RecordRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events import Event
from vas_common.events.complaints import HoldChange, HoldPlaced, HoldReleased, RefundRequest, RefundRequested
from vas_common.events.subscription import Refunded, RefundFailed
from vas_common.events.topics import COMPLAINT_EVENTS, SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.pytest_plugin import (
    OPERATOR_TOKEN,
    eventually,
    problem_of,
    read_events,
    serve,
    service_settings_kwargs,
)

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
    return f"86139{uuid.uuid4().int % 10**8:08d}"


async def holders(env: Env, user: str) -> list[str]:
    response = await env.client.get(f"/v1/users/{user}/holds", headers=OPERATOR)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["held"] is bool(body["holds"])
    return sorted(h["holder"] for h in body["holds"])


async def test_legal_holds_are_per_holder_and_each_release_lifts_only_its_own(env: Env) -> None:
    user = msisdn()
    plain = await env.client.post(
        "/v1/legal-holds", json={"msisdn": user, "reason": "诉讼"}, headers=OPERATOR
    )
    assert plain.status_code == 201, plain.text
    assert plain.json()["holder"] == "legal"  # the default: the one legal hold, as before
    case = await env.client.post(
        "/v1/legal-holds",
        json={"msisdn": user, "reason": "案件 7", "holder": "legal:case-7"},
        headers=OPERATOR,
    )
    assert case.status_code == 201, case.text
    listed = (await env.client.get("/v1/legal-holds", headers=OPERATOR)).json()
    assert sorted((h["holder"], h["reason"]) for h in listed if h["msisdn"] == user) == [
        ("legal", "诉讼"),
        ("legal:case-7", "案件 7"),
    ]

    assert (await env.client.delete(f"/v1/legal-holds/{user}", headers=OPERATOR)).status_code == 204
    assert await holders(env, user) == ["legal:case-7"]  # the other legal hold stays
    problem_of(
        await env.client.delete(f"/v1/legal-holds/{user}", headers=OPERATOR), 404, "legal_hold_not_found"
    )
    released = await env.client.delete(
        f"/v1/legal-holds/{user}", params={"holder": "legal:case-7"}, headers=OPERATOR
    )
    assert released.status_code == 204
    assert await holders(env, user) == []

    # A complaint's dispute hold is the complaint's to release, not the legal-hold API's.
    for bad in ("complaint:1", "legal:", "legal:a b", "Legal"):
        problem_of(
            await env.client.post(
                "/v1/legal-holds", json={"msisdn": user, "reason": "x", "holder": bad}, headers=OPERATOR
            ),
            422,
            "validation_failed",
        )
        problem_of(
            await env.client.delete(f"/v1/legal-holds/{user}", params={"holder": bad}, headers=OPERATOR),
            422,
            "validation_failed",
        )


def hold(event: type[HoldPlaced | HoldReleased], user: str, holder: str, env: Env) -> Event:
    return event(
        payload=HoldChange(msisdn=user, holder=holder, reason="投诉处理中", occurred_at=env.clock.now())
    )


async def test_dispute_holds_from_complaints_are_idempotent_and_keep_the_records_while_any_remains(
    env: Env, publisher: EventPublisher
) -> None:
    user, first, second = msisdn(), f"complaint:{uuid.uuid4()}", f"complaint:{uuid.uuid4()}"
    async with env.pool.acquire() as conn:
        await RecordRepository().add(
            conn, env.clock.now(), user, "sms_in", channel="sms", detail={"text": "TD"}
        )
    await env.client.post("/v1/legal-holds", json={"msisdn": user, "reason": "诉讼"}, headers=OPERATOR)

    # Placed twice (a redelivery), a release of a hold never placed, then a second complaint's
    # hold behind them in the partition: once that one is stored, the others were handled.
    for event in (
        hold(HoldPlaced, user, first, env),
        hold(HoldPlaced, user, first, env),
        hold(HoldReleased, user, f"complaint:{uuid.uuid4()}", env),
        hold(HoldPlaced, user, second, env),
    ):
        await publisher.publish(COMPLAINT_EVENTS, event)

    async def both() -> bool:
        return await holders(env, user) == sorted(["legal", first, second])

    await eventually(both)

    async def records() -> int:
        listed = await env.client.get(f"/v1/users/{user}/records", headers=OPERATOR)
        return len(listed.json()["records"])

    env.clock.advance(timedelta(days=7 * 31))  # the record is past the 6 months
    assert (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).status_code == 200
    assert await records() == 1

    # The legal hold and one complaint go (the release seen twice): the other complaint keeps them.
    assert (await env.client.delete(f"/v1/legal-holds/{user}", headers=OPERATOR)).status_code == 204
    released = hold(HoldReleased, user, first, env)
    await publisher.publish(COMPLAINT_EVENTS, released)
    await publisher.publish(COMPLAINT_EVENTS, released)

    async def only_second() -> bool:
        return await holders(env, user) == [second]

    await eventually(only_second)
    assert (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).status_code == 200
    assert await records() == 1

    await publisher.publish(COMPLAINT_EVENTS, hold(HoldReleased, user, second, env))

    async def none() -> bool:
        return await holders(env, user) == []

    await eventually(none)
    assert (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).status_code == 200
    assert await records() == 0


async def seed_charge(env: Env, user: str, amount_fen: int) -> Charge:
    now = env.clock.now()
    partner, _ = domain.new_partner(f"cp-{uuid.uuid4().hex[:8]}", now)
    product = Product(
        uuid.uuid4(), partner.id, "H" + uuid.uuid4().hex[:6].upper(), "测试", BillingType.MONTHLY, amount_fen,
        "d", "a", "c", "r", "1", "2", "full", "full", ProductStatus.PUBLISHED, None, now, now,
    )  # fmt: skip
    sub_id = uuid.uuid4()
    charge = Charge(
        uuid.uuid4(),
        user,
        sub_id,
        product.id,
        product.code,
        amount_fen,
        "monthly_fee",
        now,
        domain.period_of(now),
    )
    async with env.pool.acquire() as conn:
        await PartnerRepository().insert(conn, partner)
        await ProductRepository().insert(conn, product)
        subs = SubscriptionRepository()
        await subs.insert_pending(conn, sub_id, user, product.id, "sms", now, now + timedelta(hours=24))
        await subs.set_status(conn, sub_id, SubscriptionStatus.ACTIVE, now)
        assert await BillingRepository().insert_once(conn, charge)
    return charge


def refund_request(user: str, charge_id: uuid.UUID, amount_fen: int, env: Env) -> RefundRequested:
    return RefundRequested(
        payload=RefundRequest(
            request_id=uuid.uuid4(),
            complaint_id=uuid.uuid4(),
            msisdn=user,
            charge_id=charge_id,
            amount_fen=amount_fen,
            reason="投诉退款",
            occurred_at=env.clock.now(),
        )
    )


async def answers(kafka: Any, request_ids: set[uuid.UUID], wanted: int) -> list[Event]:
    """Refunded and RefundFailed events on subscription.events naming these requests (and any
    more behind them, to the end of the topic)."""

    def ours(event: Event) -> bool:
        return isinstance(event, Refunded | RefundFailed) and event.payload.request_id in request_ids

    return [event for event, _ in await read_events(kafka.bootstrap, SUBSCRIPTION_EVENTS.name, ours, wanted)]


async def test_a_complaints_refund_request_refunds_its_users_charge_once_or_is_refused(
    env: Env, publisher: EventPublisher, kafka: Any
) -> None:
    user, other = msisdn(), msisdn()
    charge = await seed_charge(env, user, 500)
    others = await seed_charge(env, other, 300)

    asked = refund_request(user, charge.id, 200, env)
    not_theirs = refund_request(user, others.id, 100, env)
    too_much = refund_request(user, charge.id, 400, env)  # 300 is left after the first
    unknown = refund_request(user, uuid.uuid4(), 100, env)
    for event in (asked, asked, not_theirs, too_much, unknown):
        await publisher.publish(COMPLAINT_EVENTS, event)

    async def handled() -> bool:
        count = await env.pool.fetchval(
            "SELECT count(*) FROM refund_requests WHERE id = $1", unknown.payload.request_id
        )
        return bool(count)

    await eventually(handled)
    mine = (await env.client.get(f"/v1/users/{user}/charges", headers=OPERATOR)).json()
    assert [c["amount_fen"] for c in mine["charges"]] == [500, -200]  # refunded once
    refund = mine["charges"][1]
    assert (refund["refund_of"], refund["reason"]) == (str(charge.id), "投诉退款")
    theirs = (await env.client.get(f"/v1/users/{other}/charges", headers=OPERATOR)).json()
    assert [c["amount_fen"] for c in theirs["charges"]] == [300]  # another user's charge is untouched

    ids = {e.payload.request_id for e in (asked, not_theirs, too_much, unknown)}
    by_request = {e.payload.request_id: e for e in await answers(kafka, ids, 4)}
    assert len(by_request) == 4
    made = by_request[asked.payload.request_id]
    assert isinstance(made, Refunded)
    assert (made.payload.amount_fen, made.payload.complaint_id, made.payload.refund_of) == (
        -200,
        asked.payload.complaint_id,
        charge.id,
    )
    refused = {rid: e for rid, e in by_request.items() if isinstance(e, RefundFailed)}
    assert refused[not_theirs.payload.request_id].payload.code == "charge_of_another_user"
    assert refused[not_theirs.payload.request_id].payload.refundable_fen is None  # nothing of theirs told
    assert refused[too_much.payload.request_id].payload.code == "refund_exceeds_charge"
    assert refused[too_much.payload.request_id].payload.refundable_fen == 300
    assert refused[unknown.payload.request_id].payload.code == "charge_not_found"

    listed = (await env.client.get(f"/v1/users/{user}/records", headers=OPERATOR)).json()["records"]
    [record] = [r for r in listed if r["kind"] == "refunded"]
    assert record["detail"]["complaint_id"] == str(asked.payload.complaint_id)
    assert record["detail"]["amount_fen"] == -200


async def test_the_migration_keeps_earlier_legal_holds_as_the_holder_legal(
    database: str, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < "007":
            shutil.copy(path, before / path.name)
    pool = await create_pool(database)
    try:
        await migrate(pool, [("common", COMMON_MIGRATIONS), ("subscription", before)])
        placed = await pool.fetchval(
            "INSERT INTO legal_holds (msisdn, reason, placed_at) VALUES ('8613900000001', '诉讼', now())"
            " RETURNING placed_at"
        )
        applied = await migrate(pool, [("common", COMMON_MIGRATIONS), ("subscription", MIGRATIONS)])
        assert applied[0] == "subscription/007_record_holds"  # then any later ones
        rows = await pool.fetch("SELECT msisdn, holder, reason, placed_at FROM record_holds")
        assert [tuple(r) for r in rows] == [("8613900000001", "legal", "诉讼", placed)]
        assert await pool.fetchval("SELECT to_regclass('legal_holds')") is None
    finally:
        await pool.close()
