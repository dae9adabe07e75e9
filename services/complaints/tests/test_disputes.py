"""Disputes in the complaints service: an open billing or subscription complaint holds the user's
records (complaint.hold_placed when opened or reopened after closing, complaint.hold_released when
closed, once per transition), and resolving a billing complaint may ask for a refund
(complaint.refund_requested), whose answer from the subscription service lands on the timeline
once without moving the complaint's status or clocks. The rules first, then through the API on
the real database and broker."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from complaints.complaint.domain import Complaint, ComplaintEvent, ComplaintStatus
from complaints.holds import domain
from complaints.holds.domain import HoldStep, RefundAsk
from complaints.sla.domain import (
    STANDARD_TARGETS,
    Category,
    Channel,
    EventKind,
    HistoryEvent,
    Policy,
    compute_clocks,
)
from vas_common.events.subscription import RefundCharge, Refunded, RefundFailed, RefundFailure
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, problem_of

T0 = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def complaint(category: Category, status: ComplaintStatus = ComplaintStatus.OPEN) -> Complaint:
    return Complaint(
        uuid.uuid4(), "TS23456789AB", Channel.PHONE, category, "8613800001111", "x", status, T0, T0
    )


def event(kind: EventKind, detail: dict[str, Any] | None = None) -> ComplaintEvent:
    return ComplaintEvent(uuid.uuid4(), uuid.uuid4(), kind, T0, T0, "staff", "", detail)


@pytest.mark.parametrize(
    ("category", "status", "held", "step"),
    [
        (Category.BILLING, ComplaintStatus.OPEN, False, HoldStep.PLACE),
        (Category.SUBSCRIPTION, ComplaintStatus.WAITING_ON_USER, False, HoldStep.PLACE),
        (Category.BILLING, ComplaintStatus.OPEN, True, None),
        (Category.BILLING, ComplaintStatus.RESOLVED, True, None),  # resolved is not closed
        (Category.BILLING, ComplaintStatus.CLOSED, True, HoldStep.RELEASE),
        (Category.SUBSCRIPTION, ComplaintStatus.CLOSED, False, None),
        (Category.CONTENT, ComplaintStatus.OPEN, False, None),
        (Category.FEEDBACK, ComplaintStatus.OPEN, False, None),
    ],
)
def test_a_billing_or_subscription_complaint_holds_until_closed(
    category: Category, status: ComplaintStatus, held: bool, step: HoldStep | None
) -> None:
    assert domain.hold_step(complaint(category, status), held) is step


def test_only_resolving_a_billing_complaint_may_ask_for_a_refund() -> None:
    ask = RefundAsk(uuid.uuid4(), 500, "多扣费")
    resolved = event(EventKind.RESOLVED, ask.detail())
    assert domain.refund_asked(resolved) == ask
    assert domain.refund_asked(event(EventKind.RESOLVED)) is None
    assert domain.refund_refusal(complaint(Category.BILLING), resolved) is None
    assert domain.refund_refusal(complaint(Category.SUBSCRIPTION), resolved)
    assert domain.refund_refusal(complaint(Category.BILLING), event(EventKind.REPLIED, ask.detail()))
    # A retried request keeps its id (the subscription service refunds once per id).
    assert domain.refund_request_id(resolved) == domain.refund_request_id(dataclasses.replace(resolved))


def test_a_refunds_answer_moves_no_clock() -> None:
    policies = [
        Policy(uuid.uuid4(), clock, target, basis, channel, category, pausable=pausable)
        for clock, channel, category, target, basis, pausable, _ in STANDARD_TARGETS
        if basis.value == "calendar"
    ]
    subject = complaint(Category.BILLING).subject()
    history = [
        HistoryEvent(EventKind.CREATED, T0),
        HistoryEvent(EventKind.WAITING_ON_USER, T0 + timedelta(days=1)),
    ]
    with_answers = [
        *history,
        HistoryEvent(EventKind.REFUNDED, T0 + timedelta(minutes=5)),
        HistoryEvent(EventKind.REFUND_FAILED, T0 + timedelta(days=2)),
    ]
    calendar: Any = None  # calendar-time policies only
    assert compute_clocks(subject, policies, with_answers, calendar) == compute_clocks(
        subject, policies, history, calendar
    )


# -- through the API ----------------------------------------------------------------------------

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def msisdn() -> str:
    return f"86138{uuid.uuid4().int % 10**8:08d}"


async def open_complaint(client: httpx.AsyncClient, user: str, category: str) -> dict[str, Any]:
    made = await client.post(
        "/v1/complaints",
        json={"channel": "phone", "category": category, "msisdn": user, "summary": "扣费不明"},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def record(client: httpx.AsyncClient, complaint_id: str, kind: str, **body: Any) -> httpx.Response:
    return await client.post(
        f"/v1/complaints/{complaint_id}/events", json={"kind": kind, **body}, headers=OPERATOR
    )


async def events_of(bootstrap: str, user: str, wanted: int) -> list[dict[str, Any]]:
    """The dispute events (holds, refund requests) about this number on complaint.events, once
    `wanted` are there, and whatever follows them within half a second."""
    consumer = AIOKafkaConsumer("complaint.events", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[dict[str, Any]] = []

    async def read() -> bool:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for record in records:
                decoded = json.loads(record.value or b"{}")
                disputed = decoded["type"].startswith(("complaint.hold", "complaint.refund"))
                if disputed and decoded["payload"]["msisdn"] == user:
                    assert record.key == user.encode()
                    found.append(decoded)
        return len(found) >= wanted

    try:
        await eventually(read)
        await consumer.getmany(timeout_ms=500)
        await read()
    finally:
        await consumer.stop()
    return found


async def test_a_dispute_holds_the_users_records_until_closed_and_again_when_reopened(
    complaints: Any, kafka: Any
) -> None:
    client, user = complaints.client, msisdn()
    billing = await open_complaint(client, user, "billing")
    content = await open_complaint(client, user, "content")  # not a dispute about records: no hold
    for kind in ("resolved", "closed"):
        assert (await record(client, content["id"], kind)).status_code == 200
    for kind in ("resolved", "closed", "reopened", "contacted", "resolved", "closed"):
        assert (await record(client, billing["id"], kind)).status_code == 200, kind

    found = await events_of(kafka.bootstrap, user, 4)
    holder = f"complaint:{billing['id']}"
    assert [(e["type"], e["payload"]["holder"]) for e in found] == [
        ("complaint.hold_placed", holder),
        ("complaint.hold_released", holder),
        ("complaint.hold_placed", holder),  # reopened after closing
        ("complaint.hold_released", holder),
    ]
    assert billing["tracking_code"] in found[0]["payload"]["reason"]


async def test_resolving_with_a_refund_asks_for_it_and_its_answer_lands_on_the_timeline_once(
    complaints: Any, kafka: Any, publisher: EventPublisher
) -> None:
    client, user, charge_id = complaints.client, msisdn(), uuid.uuid4()
    refunded = await open_complaint(client, user, "billing")
    refused = await open_complaint(client, user, "billing")
    asked = {"charge_id": str(charge_id), "amount_fen": 300, "reason": "多扣的3元"}
    resolved = await record(client, refunded["id"], "resolved", note="退还多扣费用", refund=asked)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["history"][-1]["detail"] == {"refund": asked}
    other = {"charge_id": str(uuid.uuid4()), "amount_fen": 100, "reason": "退款"}
    assert (await record(client, refused["id"], "resolved", refund=other)).status_code == 200

    found = await events_of(kafka.bootstrap, user, 4)  # two holds placed, two refund requests
    requests = [e["payload"] for e in found if e["type"] == "complaint.refund_requested"]
    assert [(r["complaint_id"], r["charge_id"], r["amount_fen"], r["reason"]) for r in requests] == [
        (refunded["id"], str(charge_id), 300, "多扣的3元"),
        (refused["id"], other["charge_id"], 100, "退款"),
    ]
    first, second = (uuid.UUID(r["request_id"]) for r in requests)

    # The subscription service's answers: the refund twice (at-least-once), an answer to a
    # request made elsewhere, then the refusal of the other, behind them in the same partition.
    refund = Refunded(
        payload=RefundCharge(
            charge_id=uuid.uuid4(),
            msisdn=user,
            subscription_id=uuid.uuid4(),
            product_code="P1",
            amount_fen=-300,
            reason="多扣的3元",
            charged_at=complaints.clock.now(),
            refund_of=charge_id,
            request_id=first,
            complaint_id=uuid.UUID(refunded["id"]),
        )
    )
    stray = refund.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "payload": refund.payload.model_copy(update={"request_id": uuid.uuid4()}),
        }
    )
    failure = RefundFailed(
        payload=RefundFailure(
            request_id=second,
            complaint_id=uuid.UUID(refused["id"]),
            msisdn=user,
            charge_id=uuid.UUID(other["charge_id"]),
            amount_fen=100,
            code="charge_of_another_user",
            detail="not a charge of this user",
            occurred_at=complaints.clock.now(),
        )
    )
    for answer in (refund, refund, stray, failure):
        await publisher.publish(SUBSCRIPTION_EVENTS, answer)

    async def timeline(complaint_id: str) -> dict[str, Any]:
        response = await client.get(f"/v1/complaints/{complaint_id}", headers=OPERATOR)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def refusal_shown() -> bool:
        return "refund_failed" in [e["kind"] for e in (await timeline(refused["id"]))["history"]]

    await eventually(refusal_shown)
    view = await timeline(refunded["id"])
    answers = [e for e in view["history"] if e["kind"] in ("refunded", "refund_failed")]
    assert len(answers) == 1  # the same answer twice lands once
    [shown] = answers
    assert (shown["kind"], shown["actor"]) == ("refunded", "subscription")
    assert shown["detail"] == {
        "request_id": str(first),
        "charge_id": str(charge_id),
        "amount_fen": 300,
        "refund_charge_id": str(refund.payload.charge_id),
    }
    assert view["complaint"]["status"] == "resolved"  # the answer moves neither status nor clocks
    assert view["clocks"] == resolved.json()["clocks"]
    [failed] = [e for e in (await timeline(refused["id"]))["history"] if e["kind"] == "refund_failed"]
    assert failed["detail"]["code"] == "charge_of_another_user"
    assert "not a charge of this user" in failed["note"]


async def test_a_refund_only_by_resolving_a_billing_complaint_and_well_formed(complaints: Any) -> None:
    client, user = complaints.client, msisdn()
    billing = await open_complaint(client, user, "billing")
    subscription = await open_complaint(client, user, "subscription")
    good = {"charge_id": str(uuid.uuid4()), "amount_fen": 100, "reason": "退款"}

    refused = problem_of(
        await record(client, subscription["id"], "resolved", refund=good), 422, "refund_not_allowed"
    )
    assert refused["category"] == "subscription"
    problem_of(await record(client, billing["id"], "replied", refund=good), 422, "validation_failed")
    for bad in (
        {**good, "amount_fen": 0},
        {**good, "amount_fen": "100"},
        {**good, "amount_fen": 10_000_001},
        {**good, "reason": ""},
        {**good, "reason": "a\nb"},
        {**good, "charge_id": "not-a-uuid"},
        {"amount_fen": 100, "reason": "退款"},
    ):
        problem_of(await record(client, billing["id"], "resolved", refund=bad), 422, "validation_failed")
    for made in (billing, subscription):  # nothing was recorded by a refused request
        view = (await client.get(f"/v1/complaints/{made['id']}", headers=OPERATOR)).json()
        assert view["complaint"]["status"] == "open"
        assert [e["kind"] for e in view["history"]] == ["created"]
