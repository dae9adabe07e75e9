"""Dispute holds and refunds across the suite, on the real broker and PostgreSQL.

Holds are per (number, holder): an open billing or subscription complaint holds the user's
original records in subscription and sms-sender (complaint.hold_placed / hold_released), beside
the operator's legal hold (user.legal_hold_changed); the records outlive the 6-month retention
while any holder remains, so closing one complaint lifts neither another complaint's hold nor a
legal one. Resolving a billing complaint with a refund asks subscription to refund
(complaint.refund_requested): the refund is a negative charge of the user and an event on the
complaint's timeline, made once however often the request comes; another user's charge is
refused, and the refusal is on the timeline too."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from subscription import domain
from vas_common.db import create_pool
from vas_common.events.complaints import RefundRequest, RefundRequested
from vas_common.events.topics import COMPLAINT_EVENTS
from vas_common.kafka import EventPublisher
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
SEVEN_MONTHS = timedelta(days=7 * 31)


@pytest.fixture
async def publisher(kafka: Any) -> AsyncIterator[EventPublisher]:
    pub = EventPublisher(ServiceSettings(kafka_bootstrap=kafka.bootstrap), Metrics("test"))
    await pub.start()
    yield pub
    await pub.stop()


@pytest.fixture
async def sms_db(suite: Suite) -> AsyncIterator[asyncpg.Pool]:
    """The sms-sender's database: its records have no operator API by user (see its retention test)."""
    pool = await create_pool(suite.sms_sender_db)
    yield pool
    await pool.close()


async def subscribe(suite: Suite, msisdn: str, code: str) -> None:
    """By SMS, the real way: order, the confirmation SMS, Y, the welcome SMS."""
    await suite.mo(msisdn, code)
    await eventually(lambda: suite.status_is(msisdn, code, "pending"))
    await suite.mo(msisdn, "Y")
    await eventually(lambda: suite.status_is(msisdn, code, "active"))


@dataclass(frozen=True)
class Records:
    """A user's records in both services made before the test aged them: the raw records
    subscription keeps (order actions, SMS in and out) and the messages the sms-sender sent."""

    subscription: int
    messages: frozenset[uuid.UUID]


@dataclass(frozen=True)
class Aged:
    """What the test ages: subscription's records until `until` (its clock), the sms-sender's
    messages by id (they are stamped with the real time). Anything the services do later, a
    monthly fee in the month the clock moved to, is not counted."""

    msisdn: str
    until: datetime
    records: Records  # as they were

    async def left(self, suite: Suite, sms_db: asyncpg.Pool) -> Records:
        listed = await suite.subscription.get(
            f"/v1/users/{self.msisdn}/records", params={"to": self.until.isoformat()}, headers=OPERATOR
        )
        assert listed.status_code == 200, listed.text
        rows = await sms_db.fetch(
            "SELECT id FROM messages WHERE id = ANY($1::uuid[])", list(self.records.messages)
        )
        return Records(len(listed.json()["records"]), frozenset(r["id"] for r in rows))


async def with_records(suite: Suite, sms_db: asyncpg.Pool, *users: str) -> dict[str, Aged]:
    """Subscribes each user by SMS and waits until both services hold records of it (the texts
    the user got are messages of the sms-sender)."""
    partner = await suite.partner()
    code = (await suite.product(partner, name="新闻早报"))["code"]
    for user in users:
        await subscribe(suite, user, code)
    for user in users:
        await eventually(functools.partial(texted, suite, user))
    until = suite.clock.now() + timedelta(seconds=1)
    found = {}
    for user in users:
        rows = await sms_db.fetch("SELECT id FROM messages WHERE recipient = $1", user)
        aged = Aged(user, until, Records(0, frozenset(r["id"] for r in rows)))
        aged = dataclasses.replace(aged, records=await aged.left(suite, sms_db))
        assert aged.records.subscription >= 5, aged  # order actions and the SMS both ways
        assert len(aged.records.messages) >= 2, aged
        found[user] = aged
    return found


def texted(suite: Suite, user: str) -> bool:
    return len(suite.texts_to(user)) >= 2  # the confirmation and the welcome


NOTHING = Records(0, frozenset())


async def holders_in_both(suite: Suite, sms_db: asyncpg.Pool, msisdn: str, wanted: list[str]) -> bool:
    """Both services hold the user's records for exactly these holders (they learn them from
    events: the complaints' from complaint.events, the legal hold from subscription.events)."""
    listed = await suite.subscription.get(f"/v1/users/{msisdn}/holds", headers=OPERATOR)
    in_subscription = sorted(h["holder"] for h in listed.json()["holds"])
    rows = await sms_db.fetch("SELECT holder FROM record_holds WHERE msisdn = $1", msisdn)
    in_sms_sender = sorted(r["holder"] for r in rows)
    assert in_subscription == in_sms_sender == sorted(wanted), (in_subscription, in_sms_sender)
    return True


async def retention_in_both(suite: Suite) -> None:
    for service in (suite.subscription, suite.sms_sender):
        job = await service.post("/v1/jobs/retention", headers=OPERATOR)
        assert job.status_code == 200, job.text


async def open_complaint(suite: Suite, msisdn: str, category: str) -> dict[str, Any]:
    made = await suite.complaints.post(
        "/v1/complaints",
        json={"channel": "phone", "category": category, "msisdn": msisdn, "summary": "扣费有争议"},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def complaint_event(suite: Suite, complaint_id: str, kind: str, **body: Any) -> dict[str, Any]:
    response = await suite.complaints.post(
        f"/v1/complaints/{complaint_id}/events", json={"kind": kind, **body}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def close(suite: Suite, complaint_id: str) -> None:
    await complaint_event(suite, complaint_id, "resolved")
    await complaint_event(suite, complaint_id, "closed")


async def test_a_legal_hold_and_a_dispute_keep_the_records_in_both_services_until_both_end(
    suite: Suite, sms_db: asyncpg.Pool
) -> None:
    held, plain = "8613760000061", "8613760000062"
    aged = await with_records(suite, sms_db, held, plain)

    placed = await suite.subscription.post(
        "/v1/legal-holds", json={"msisdn": held, "reason": "诉讼 2026-17"}, headers=OPERATOR
    )
    assert placed.status_code == 201, placed.text
    complaint = await open_complaint(suite, held, "billing")
    dispute = f"complaint:{complaint['id']}"
    await eventually(lambda: holders_in_both(suite, sms_db, held, ["legal", dispute]))

    # Seven months pass: every record above is past the 6 months. The complaint is closed.
    suite.clock.advance(SEVEN_MONTHS)
    await close(suite, complaint["id"])
    await eventually(lambda: holders_in_both(suite, sms_db, held, ["legal"]))
    await retention_in_both(suite)
    assert await aged[held].left(suite, sms_db) == aged[held].records  # the legal hold keeps them
    assert await aged[plain].left(suite, sms_db) == NOTHING

    released = await suite.subscription.delete(f"/v1/legal-holds/{held}", headers=OPERATOR)
    assert released.status_code == 204
    await eventually(lambda: holders_in_both(suite, sms_db, held, []))
    await retention_in_both(suite)
    assert await aged[held].left(suite, sms_db) == NOTHING


async def test_closing_one_of_two_complaints_keeps_the_records_for_the_other(
    suite: Suite, sms_db: asyncpg.Pool
) -> None:
    user = "8613760000063"
    [aged] = (await with_records(suite, sms_db, user)).values()
    billing = await open_complaint(suite, user, "billing")
    subscription = await open_complaint(suite, user, "subscription")
    content = await open_complaint(suite, user, "content")  # not a dispute about records: no hold
    first, second = f"complaint:{billing['id']}", f"complaint:{subscription['id']}"
    await eventually(lambda: holders_in_both(suite, sms_db, user, [first, second]))

    suite.clock.advance(SEVEN_MONTHS)
    await close(suite, billing["id"])
    await close(suite, content["id"])
    await eventually(lambda: holders_in_both(suite, sms_db, user, [second]))
    await retention_in_both(suite)
    assert await aged.left(suite, sms_db) == aged.records

    # Reopened, the closed complaint holds them again; once both are closed they go.
    await complaint_event(suite, billing["id"], "reopened")
    await eventually(lambda: holders_in_both(suite, sms_db, user, [first, second]))
    await close(suite, subscription["id"])
    await close(suite, billing["id"])
    await eventually(lambda: holders_in_both(suite, sms_db, user, []))
    await retention_in_both(suite)
    assert await aged.left(suite, sms_db) == NOTHING


async def charges(suite: Suite, msisdn: str) -> list[dict[str, Any]]:
    response = await suite.subscription.get(f"/v1/users/{msisdn}/charges", headers=OPERATOR)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["charges"]
    return found


async def answered(suite: Suite, complaint_id: str) -> dict[str, Any]:
    """The complaint's timeline once the subscription service's answer to its refund is on it."""
    view = await suite.complaints.get(f"/v1/complaints/{complaint_id}", headers=OPERATOR)
    assert view.status_code == 200, view.text
    kinds = [e["kind"] for e in view.json()["history"]]
    assert "refunded" in kinds or "refund_failed" in kinds, kinds
    return dict(view.json())


async def resolve_with_refund(suite: Suite, msisdn: str, charge_id: str, amount_fen: int) -> dict[str, Any]:
    complaint = await open_complaint(suite, msisdn, "billing")
    refund = {"charge_id": charge_id, "amount_fen": amount_fen, "reason": "投诉退款：重复扣费"}
    await complaint_event(suite, complaint["id"], "resolved", note="向用户退还多扣费用", refund=refund)
    return await eventually(lambda: answered(suite, complaint["id"]))


async def test_resolving_a_billing_complaint_with_a_refund_refunds_the_users_charge_once(
    suite: Suite, publisher: EventPublisher
) -> None:
    user, other = "8613760000071", "8613760000072"
    partner = await suite.partner()
    code = (await suite.product(partner, name="新闻早报", price_fen=500))["code"]
    for msisdn in (user, other):
        await subscribe(suite, msisdn, code)
    period = domain.period_of(suite.clock.now())
    run = await suite.subscription.post("/v1/billing/runs", json={"period": period}, headers=OPERATOR)
    assert run.status_code == 200, run.text
    [charge] = await charges(suite, user)
    [others] = await charges(suite, other)

    view = await resolve_with_refund(suite, user, charge["id"], 200)
    [refund] = [e for e in view["history"] if e["kind"] == "refunded"]
    assert (refund["actor"], refund["detail"]["amount_fen"], refund["detail"]["charge_id"]) == (
        "subscription",
        200,
        charge["id"],
    )
    assert view["complaint"]["status"] == "resolved"
    made = await charges(suite, user)
    assert [(c["amount_fen"], c["refund_of"]) for c in made] == [(500, None), (-200, charge["id"])]
    assert made[1]["id"] == refund["detail"]["refund_charge_id"]

    # The same request delivered twice more (at-least-once), then a second complaint's refund
    # of 1 fen behind it in the partition (both keyed by the number): once that one is on its
    # timeline, the repeats were handled, and refunded nothing.
    again = RefundRequested(
        payload=RefundRequest(
            request_id=uuid.UUID(refund["detail"]["request_id"]),
            complaint_id=uuid.UUID(view["complaint"]["id"]),
            msisdn=user,
            charge_id=uuid.UUID(charge["id"]),
            amount_fen=200,
            reason="投诉退款：重复扣费",
            occurred_at=suite.clock.now(),
        )
    )
    await publisher.publish(COMPLAINT_EVENTS, again)
    await publisher.publish(COMPLAINT_EVENTS, again)
    await resolve_with_refund(suite, user, charge["id"], 1)
    assert [c["amount_fen"] for c in await charges(suite, user)] == [500, -200, -1]
    refunds = [
        e for e in (await answered(suite, view["complaint"]["id"]))["history"] if e["kind"] == "refunded"
    ]
    assert len(refunds) == 1

    # A complaint of this user naming another user's charge: refused, and shown as refused.
    refused = await resolve_with_refund(suite, user, others["id"], 100)
    [failed] = [e for e in refused["history"] if e["kind"] == "refund_failed"]
    assert failed["detail"]["code"] == "charge_of_another_user"
    assert [c["amount_fen"] for c in await charges(suite, other)] == [500]
    # More than is left of the charge: refused with what is left.
    too_much = await resolve_with_refund(suite, user, charge["id"], 300)
    [failed] = [e for e in too_much["history"] if e["kind"] == "refund_failed"]
    assert (failed["detail"]["code"], failed["detail"]["refundable_fen"]) == ("refund_exceeds_charge", 299)
    assert [c["amount_fen"] for c in await charges(suite, user)] == [500, -200, -1]
