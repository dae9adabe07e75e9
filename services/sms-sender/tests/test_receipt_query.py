"""query_sm through the SMPP connector against the simulator: what a segment whose receipt
never came can still learn from the SMSC (the first step of receipt reconciliation)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from sms_sender.connectors import Inbound, OutboundSegment
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from sms_sender.main import create_app
from sms_sender.repository.reconciliation import AwaitedSegment, ReconciliationRepository
from vas_common.clock import ManualClock
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, serve
from vas_devstack.smsc import SmscSimulator

SOURCE = "10690019"


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of the test's own: these tests count what the simulator saw (receipts dropped,
    queries), and a dispatcher on the shared topics also sends what other tests left there."""
    return own_broker


async def _no_inbound(_items: list[Inbound]) -> None:
    return None


@pytest.fixture
async def connector(smsc: SmscSimulator) -> AsyncIterator[SmppConnector]:
    connector = SmppConnector(
        SmppBindConfig(
            host="127.0.0.1",
            port=smsc.smpp_port,
            system_id="vas",
            password="vas-pass",
            binds=1,
            tps=0,
            response_timeout_s=2.0,
        )
    )
    await connector.start(_no_inbound)
    await connector.wait_connected(10)
    try:
        yield connector
    finally:
        await connector.stop()


async def _submit(connector: SmppConnector) -> str:
    result = await connector.submit(OutboundSegment("m-1", 1, SOURCE, "8613900000001", b"hi", 0, 0))
    assert result.accepted
    assert result.smsc_message_id is not None
    return result.smsc_message_id


async def test_a_dropped_receipt_s_outcome_is_learnt_by_query_sm(
    smsc: SmscSimulator, connector: SmppConnector
) -> None:
    smsc.update_config(drop_receipts=1.0, receipt_delay_ms=0, outcomes={"UNDELIV": 1.0})
    smsc_id = await _submit(connector)
    assert smsc.stats()["receipts_dropped"] == 1
    answer = await connector.query(smsc_id, SOURCE)
    assert (answer.answered, answer.known, answer.final, answer.stat) == (True, True, True, "UNDELIV")


async def test_a_message_still_on_its_way_and_an_unknown_one(
    smsc: SmscSimulator, connector: SmppConnector
) -> None:
    smsc.update_config(receipt_delay_ms=60_000)
    smsc_id = await _submit(connector)
    pending = await connector.query(smsc_id, SOURCE)
    assert (pending.answered, pending.known, pending.final, pending.stat) == (True, True, False, "ENROUTE")
    unknown = await connector.query("no-such-id", SOURCE)
    assert (unknown.answered, unknown.known, unknown.final) == (True, False, False)


async def test_no_answer_is_not_a_verdict(smsc: SmscSimulator, connector: SmppConnector) -> None:
    smsc.pause(10)
    answer = await connector.query("any", SOURCE)
    assert (answer.answered, answer.known) == (False, False)


async def _status(client: httpx.AsyncClient, partner: Any, message_id: str) -> dict[str, Any]:
    return dict((await client.get(f"/v1/messages/{message_id}", headers=partner.headers)).json())


async def test_segments_whose_receipt_never_comes_are_settled_by_query_sm(
    database: str, kafka: Any, smsc: SmscSimulator, sms_settings: Any, make_partner: Any, make_product: Any
) -> None:
    """A peer that drops every receipt: before, the messages stayed `submitted` for good."""
    clock = ManualClock()
    settings = sms_settings(
        database,
        kafka,
        role="all",
        smsc_port=smsc.smpp_port,
        smsc_tps=0,
        receipt_query_after_s=600,
        receipt_requery_after_s=600,
        receipt_query_interval_s=0.2,
    )
    smsc.update_config(drop_receipts=1.0, outcomes={"DELIVRD": 0.5, "UNDELIV": 0.5})
    async with serve(create_app(settings, clock=clock)) as client:
        await eventually(lambda: _ready(client))
        partner = await make_partner(client)()
        numbers = [f"1350000{i:04d}" for i in range(10)]
        product = await make_product(partner, numbers)
        response = await client.post(
            "/v1/messages",
            headers=partner.headers,
            json={"recipients": numbers, "content": "回执丢了", "product_code": product},
        )
        assert response.status_code == 202, response.text
        ids = [a["message_id"] for a in response.json()["accepted"]]

        async def all_in(wanted: set[str]) -> bool:
            found = {(await _status(client, partner, i))["status"] for i in ids}
            assert found <= wanted | {"accepted", "submitted"}, found
            return found <= wanted

        await eventually(lambda: all_in({"submitted"}))
        await eventually(lambda: smsc.stats()["receipts_dropped"] == 10)
        assert smsc.stats()["query_sm_received"] == 0  # not before query_after
        clock.advance(timedelta(seconds=601))
        await eventually(lambda: all_in({"delivered", "failed"}))
        failed = [i for i in ids if (await _status(client, partner, i))["status"] == "failed"]
        assert 0 < len(failed) < 10
        detail = await _status(client, partner, failed[0])
        assert detail["segments"][0]["receipt_stat"] == "UNDELIV"
        assert smsc.stats()["query_sm_received"] == 10
        metrics = (await client.get("/metrics")).text
        assert 'sms_receipt_queries_total{outcome="final"} 10.0' in metrics


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_a_segment_is_claimed_by_one_sweep_and_released_when_unanswered(pool: asyncpg.Pool) -> None:
    repository = ReconciliationRepository()
    now = datetime.now(UTC)
    message_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO messages (id, accepted_at, partner_id, recipient, source_addr, content,
                                  category, encoding, segments_total, status)
            VALUES ($1, $2, NULL, '8613900000000', '10690019', 'hi', 'notice', 'gsm', 1, 'submitted')
            """,
            message_id,
            now - timedelta(hours=1),
        )
        await conn.execute(
            "INSERT INTO segments (message_id, seq, accepted_at, status, smsc_message_id, submitted_at)"
            " VALUES ($1, 1, $2, 'submitted', 'S-1', $2)",
            message_id,
            now - timedelta(hours=1),
        )
        older, recent = now - timedelta(minutes=30), now - timedelta(minutes=30)
        claimed = await repository.claim_awaiting_receipt(conn, older, recent, 10, now)
        assert claimed == [AwaitedSegment("S-1", "10690019", None)]
        # another dispatcher's sweep a moment later: asked already
        assert await repository.claim_awaiting_receipt(conn, older, recent, 10, now) == []
        # not yet submitted long enough: not asked
        assert await repository.claim_awaiting_receipt(conn, now - timedelta(hours=2), now, 10, now) == []
        await repository.release(conn, ["S-1"])
        assert await repository.claim_awaiting_receipt(conn, older, recent, 10, now) == claimed


async def _send(client: httpx.AsyncClient, partner: Any, product: str, numbers: list[str]) -> list[str]:
    response = await client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": numbers, "content": "有效期", "product_code": product},
    )
    assert response.status_code == 202, response.text
    return [a["message_id"] for a in response.json()["accepted"]]


async def _final_events(client: httpx.AsyncClient, partner: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The final status events of these messages, as the pull API (and the callbacks) give them."""
    events = (await client.get("/v1/status-events", params={"limit": 1000}, headers=partner.headers)).json()
    return {
        e["message_id"]: e["body"]
        for e in events["items"]
        if e["message_id"] in ids and e["status"] in ("delivered", "failed")
    }


@pytest.mark.parametrize(
    ("smsc_outcome", "expected"),
    [
        # the SMSC answers query_sm: it gave the message up at the end of its validity
        ("EXPIRED", "expired"),
        # the SMSC still says "on its way" at every question (its receipt is hours off, then lost)
        (None, "unknown"),
    ],
)
async def test_a_segment_without_a_final_answer_ends_expired_or_unknown(
    database: str,
    kafka: Any,
    smsc: SmscSimulator,
    sms_settings: Any,
    make_partner: Any,
    make_product: Any,
    smsc_outcome: str | None,
    expected: str,
) -> None:
    """Was: a segment whose receipt never came stayed `submitted` for good; the partner was
    never told, and an EXPIRED answer read as a plain failure."""
    clock = ManualClock()
    settings = sms_settings(
        database,
        kafka,
        role="all",
        smsc_port=smsc.smpp_port,
        smsc_tps=0,
        receipt_query_after_s=600,
        receipt_requery_after_s=600,
        receipt_query_interval_s=0.2,
        smsc_validity_s=3600,
    )
    if smsc_outcome is None:
        smsc.update_config(drop_receipts=1.0, receipt_delay_ms=3_600_000.0)
    else:
        smsc.update_config(drop_receipts=1.0, outcomes={smsc_outcome: 1.0})
    async with serve(create_app(settings, clock=clock)) as client:
        await eventually(lambda: _ready(client))
        partner = await make_partner(client)()
        numbers = [f"1350001{i:04d}" for i in range(5)]
        product = await make_product(partner, numbers)
        ids = await _send(client, partner, product, numbers)

        async def statuses() -> set[str]:
            return {(await _status(client, partner, i))["status"] for i in ids}

        await eventually(lambda: _all(statuses, {"submitted"}))
        if smsc_outcome is not None:  # final at the SMSC (its receipt due and dropped) before asked
            await eventually(lambda: smsc.stats()["receipts_dropped"] == 5)
        clock.advance(timedelta(seconds=601))  # asked: a final answer, or "on its way"
        await eventually(lambda: smsc.stats()["query_sm_received"] >= 5)
        if smsc_outcome is None:
            assert await statuses() == {"submitted"}
            clock.advance(timedelta(seconds=3600 + 600))  # validity over, and one more question
        await eventually(lambda: _all(statuses, {"failed"}))
        for message_id in ids:
            message = await _status(client, partner, message_id)
            assert message["outcome"] == expected
            assert message["segments"][0]["receipt_stat"] == (smsc_outcome or "UNKNOWN")
        listed = (await client.get("/v1/messages", params={"limit": 100}, headers=partner.headers)).json()
        assert {m["outcome"] for m in listed["items"] if m["id"] in ids} == {expected}
        events = await _final_events(client, partner, ids)
        assert {body["outcome"] for body in events.values()} == {expected}
        assert len(events) == len(ids)
        metrics = (await client.get("/metrics")).text
        given_up = 5.0 if smsc_outcome is None else 0.0
        assert f"sms_segments_given_up_total {given_up}" in metrics


async def _all(statuses: Any, wanted: set[str]) -> bool:
    return bool(await statuses() == wanted)
