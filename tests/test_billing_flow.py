"""Billing and records end to end: per-message fees from real deliveries through the SMSC
simulator (once, even when the status event comes twice), the monthly run on subscriptions made
by SMS, refunds, the user's raw records, and a legal hold that keeps a user's records in both
services past the 6-month retention."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from sms_sender.domain import NewMessage
from sms_sender.repository.messages import MessageRepository
from subscription import domain
from subscription.repository.records import RecordRepository
from vas_common.db import create_pool
from vas_common.events import encode_event
from vas_common.events.sms_sender import MessageState, MessageStatus, MessageStatusChanged
from vas_common.events.topics import SMS_STATUS
from vas_common.kafka import EventPublisher
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # the `suite` fixture's object (tests/conftest.py)


@pytest.fixture
async def publisher(kafka: Any) -> AsyncIterator[EventPublisher]:
    pub = EventPublisher(ServiceSettings(kafka_bootstrap=kafka.bootstrap), Metrics("test"))
    await pub.start()
    yield pub
    await pub.stop()


async def status_is(suite: Suite, msisdn: str, code: str, wanted: str) -> bool:
    subs = (await suite.subscription.get(f"/v1/users/{msisdn}/subscriptions", headers=OPERATOR)).json()
    got = [s["status"] for s in subs if s["product_code"] == code][-1:]
    assert got == [wanted], f"{code} for {msisdn}: {got}, waiting for {wanted}"
    return True


async def subscribe(suite: Suite, partner: dict[str, Any], msisdn: str, code: str) -> None:
    await suite.mo(msisdn, code)
    await eventually(lambda: status_is(suite, msisdn, code, "pending"))
    await suite.mo(msisdn, "Y")
    await eventually(lambda: status_is(suite, msisdn, code, "active"))

    async def sms_sender_knows() -> bool:  # it learns the subscription from subscription.events
        sent = await send_content(suite, partner, msisdn, code, probe=True)
        return sent is not None

    await eventually(sms_sender_knows)


async def send_content(
    suite: Suite, partner: dict[str, Any], msisdn: str, code: str, probe: bool = False
) -> str | None:
    response = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={
            "recipients": [msisdn],
            "content": "今日笑话一则" if not probe else "欢迎",
            "product_code": code,
        },
    )
    if response.status_code != 202:
        return None
    message_id: str = response.json()["accepted"][0]["message_id"]
    return message_id


async def charges(suite: Suite, msisdn: str) -> dict[str, Any]:
    response = await suite.subscription.get(f"/v1/users/{msisdn}/charges", headers=OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def records(suite: Suite, msisdn: str) -> list[dict[str, Any]]:
    response = await suite.subscription.get(f"/v1/users/{msisdn}/records", headers=OPERATOR)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["records"]
    return found


async def test_per_message_fee_once_per_delivered_message(suite: Suite, publisher: EventPublisher) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="每日笑话", billing_type="per_message", price_fen=10)
    code, user = product["code"], "8613760000001"
    await subscribe(suite, partner, user, code)  # the probe message is the first billed one

    message_id = await send_content(suite, partner, user, code)
    assert message_id is not None

    async def two_charges() -> list[dict[str, Any]]:
        found = (await charges(suite, user))["charges"]
        assert len(found) >= 2, found
        return list(found)

    billed = await eventually(two_charges)
    assert message_id in {c["message_id"] for c in billed}
    assert all(c["amount_fen"] == 10 and c["product_code"] == code for c in billed)

    # The status event of that message comes again (at-least-once). Behind it, in the same
    # partition, a delivery of another message: once that one is billed, the repeat was handled.
    repeat = delivered(uuid.UUID(message_id), partner["id"], user, code, datetime.now(UTC))
    marker = repeat.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "payload": repeat.payload.model_copy(update={"message_id": uuid.uuid4()}),
        }
    )
    await publisher.publish(SMS_STATUS, repeat)
    await publisher.publish(SMS_STATUS, repeat)
    await publisher.publish_raw(SMS_STATUS.name, repeat.key().encode(), encode_event(marker))

    async def marker_billed() -> list[dict[str, Any]]:
        found = (await charges(suite, user))["charges"]
        assert str(marker.payload.message_id) in {c["message_id"] for c in found}
        return list(found)

    after = await eventually(marker_billed)
    assert len(after) == len(billed) + 1
    assert [c["message_id"] for c in after].count(message_id) == 1
    assert (await charges(suite, user))["total_fen"] == 10 * len(after)

    # The raw list has each content message the user got, once, beside the charge for it.
    listed = await records(suite, user)
    content = [r["detail"]["message_id"] for r in listed if r["kind"] == "content_delivered"]
    charged = [r["detail"]["message_id"] for r in listed if r["kind"] == "charged"]
    assert sorted(content) == sorted(charged) == sorted(c["message_id"] for c in after)
    assert all(r["product_code"] == code for r in listed if r["kind"] == "content_delivered")


async def test_monthly_run_refund_and_the_users_raw_records(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="新闻早报", price_fen=500)
    code, stays, leaves = product["code"], "8613760000011", "8613760000012"
    await subscribe(suite, partner, stays, code)
    await subscribe(suite, partner, leaves, code)
    await suite.mo(leaves, f"TD{code}")
    await eventually(lambda: status_is(suite, leaves, code, "cancelled"))

    period = domain.period_of(suite.clock.now())
    run = await suite.subscription.post("/v1/billing/runs", json={"period": period}, headers=OPERATOR)
    assert run.status_code == 200, run.text
    # the product's last month is charged in full: the one who left this month pays it too
    assert run.json() == {"period": period, "charged": 2, "amount_fen": 1000, "already_charged": 0}
    rerun = await suite.subscription.post("/v1/billing/runs", json={"period": period}, headers=OPERATOR)
    assert rerun.json() == {"period": period, "charged": 0, "amount_fen": 0, "already_charged": 2}

    (charge,) = (await charges(suite, leaves))["charges"]
    assert (charge["period"], charge["amount_fen"]) == (period, 500)
    refund = await suite.subscription.post(
        f"/v1/charges/{charge['id']}/refunds",
        json={"amount_fen": 500, "reason": "用户投诉"},
        headers=OPERATOR,
    )
    assert refund.status_code == 201, refund.text
    assert (await charges(suite, leaves))["total_fen"] == 0
    more = await suite.subscription.post(
        f"/v1/charges/{charge['id']}/refunds", json={"amount_fen": 1, "reason": "x"}, headers=OPERATOR
    )
    assert more.json()["code"] == "refund_exceeds_charge"

    records = (await suite.subscription.get(f"/v1/users/{leaves}/records", headers=OPERATOR)).json()[
        "records"
    ]
    kinds = [r["kind"] for r in records]
    for kind in ("sms_in", "requested", "confirmation_sent", "confirmed", "cancelled", "charged", "refunded"):
        assert kind in kinds, kinds
    assert (
        kinds.index("requested")
        < kinds.index("confirmed")
        < kinds.index("cancelled")
        < kinds.index("charged")
    )
    assert any(r["kind"] == "sms_out" and "成功订购" in r["detail"]["text"] for r in records)
    cancelled = next(r for r in records if r["kind"] == "cancelled")
    assert cancelled["channel"] == "sms_td"


async def test_cancel_and_subscribe_again_in_a_month_pays_the_monthly_fee_once(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="天气预报", price_fen=500)
    code, user = product["code"], "8613760000021"
    await subscribe(suite, partner, user, code)
    await suite.mo(user, f"TD{code}")
    await eventually(lambda: status_is(suite, user, code, "cancelled"))
    await subscribe(suite, partner, user, code)

    period = domain.period_of(suite.clock.now())
    run = await suite.subscription.post("/v1/billing/runs", json={"period": period}, headers=OPERATOR)
    assert run.status_code == 200, run.text
    assert run.json() == {"period": period, "charged": 1, "amount_fen": 500, "already_charged": 0}
    fees = (await charges(suite, user))["charges"]
    assert [(c["period"], c["amount_fen"]) for c in fees] == [(period, 500)]


async def old_message(conn: asyncpg.Connection, recipient: str, at: datetime) -> uuid.UUID:
    message_id = uuid.uuid4()
    await MessageRepository().insert_messages(
        conn,
        [
            NewMessage(
                id=message_id,
                accepted_at=at,
                partner_id=None,
                recipient=recipient,
                source_addr="106900001",
                content="旧消息",
                category="notice",
                product_code=None,
                client_ref=None,
                callback_url=None,
                notify_submitted=False,
                encoding="ucs2",
                segments_total=1,
            )
        ],
    )
    return message_id


async def test_a_legal_hold_keeps_a_users_records_in_both_services(suite: Suite) -> None:
    held, plain = "8613760000021", "8613760000022"
    placed = await suite.subscription.post(
        "/v1/legal-holds", json={"msisdn": held, "reason": "投诉 C-42 处理中"}, headers=OPERATOR
    )
    assert placed.status_code == 201, placed.text
    sms_pool = await create_pool(suite.sms_sender_db)
    sub_pool = await create_pool(suite.subscription_db)
    try:

        async def sms_sender_holds() -> bool:
            return bool(await sms_pool.fetchval("SELECT count(*) FROM record_holds WHERE msisdn = $1", held))

        await eventually(sms_sender_holds)  # learnt from user.legal_hold_changed

        old = datetime.now(UTC) - timedelta(days=250)  # older than 6 months, whatever today is
        async with sms_pool.acquire() as conn:
            held_message = await old_message(conn, held, old)
            plain_message = await old_message(conn, plain, old)
        async with sub_pool.acquire() as conn:
            for user in (held, plain):
                await RecordRepository().add(conn, old, user, "sms_in", channel="sms", detail={"text": "TD"})

        sms_job = await suite.sms_sender.post("/v1/jobs/retention", headers=OPERATOR)
        assert sms_job.status_code == 200, sms_job.text
        left = await sms_pool.fetch(
            "SELECT id FROM messages WHERE id = ANY($1::uuid[])", [held_message, plain_message]
        )
        assert [r["id"] for r in left] == [held_message]

        sub_job = await suite.subscription.post("/v1/jobs/retention", headers=OPERATOR)
        assert sub_job.status_code == 200, sub_job.text
        for user, wanted in ((held, 1), (plain, 0)):
            listed = await suite.subscription.get(
                f"/v1/users/{user}/records",
                params={"to": (old + timedelta(seconds=1)).isoformat()},
                headers=OPERATOR,
            )
            assert len(listed.json()["records"]) == wanted, user
    finally:
        await sms_pool.close()
        await sub_pool.close()


def delivered(
    message_id: uuid.UUID, partner_id: str, user: str, code: str, at: datetime
) -> MessageStatusChanged:
    return MessageStatusChanged(
        producer="sms-sender",
        payload=MessageState(
            message_id=message_id,
            partner_id=uuid.UUID(partner_id),
            recipient=user,
            status=MessageStatus.DELIVERED,
            segments_total=1,
            segments=[],
            accepted_at=at,
            done_at=at,
            product_code=code,
        ),
    )


async def test_another_partner_can_neither_send_nor_bill_under_a_product(
    suite: Suite, publisher: EventPublisher
) -> None:
    """Product codes are public. Another partner's message under a product code is refused, and a
    delivery status naming another partner's product (however it came) charges nothing and is
    not the "last content" a bare TD cancels."""
    owner, other = await suite.partner(), await suite.partner()
    monthly = (await suite.product(owner, name="新闻早报", price_fen=500))["code"]
    per_message = (await suite.product(owner, name="每日一句", billing_type="per_message", price_fen=100))[
        "code"
    ]
    user = "8613760000031"
    await subscribe(suite, owner, user, monthly)
    await subscribe(suite, owner, user, per_message)  # its probe message is charged: 100 fen

    async def probe_charged() -> bool:
        return bool((await charges(suite, user))["total_fen"] == 100)

    await eventually(probe_charged)
    for code in (monthly, per_message):
        refused = await suite.sms_sender.post(
            "/v1/messages",
            headers=other["headers"],
            json={"recipients": [user], "content": "别家的内容", "product_code": code},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "product_not_owned"

    # Deliveries that name the other partner, the latest of all, then (in the same partition)
    # the owner's own: once that one is charged, the others were handled before it.
    now = datetime.now(UTC)
    forged = [
        delivered(uuid.uuid4(), other["id"], user, per_message, now + timedelta(hours=1)),
        delivered(uuid.uuid4(), other["id"], user, monthly, now + timedelta(hours=1)),
    ]
    own = delivered(uuid.uuid4(), owner["id"], user, per_message, now)
    key = forged[0].key().encode()
    for event in (*forged, own):
        await publisher.publish_raw(SMS_STATUS.name, key, encode_event(event))

    async def own_charged() -> list[dict[str, Any]]:
        found = (await charges(suite, user))["charges"]
        assert str(own.payload.message_id) in {c["message_id"] for c in found}
        return list(found)

    billed = await eventually(own_charged)
    assert [c["amount_fen"] for c in billed] == [100, 100], billed
    assert not {str(e.payload.message_id) for e in forged} & {c["message_id"] for c in billed}
    content = {
        r["detail"]["message_id"] for r in await records(suite, user) if r["kind"] == "content_delivered"
    }
    assert str(own.payload.message_id) in content
    assert not {str(e.payload.message_id) for e in forged} & content

    # The owner's per-message product got the latest content of its own: TD alone cancels it.
    await suite.mo(user, "TD")
    await eventually(lambda: status_is(suite, user, per_message, "cancelled"))
    await status_is(suite, user, monthly, "active")
