"""query_sm through the SMPP connector against the simulator: what a segment whose receipt
never came can still learn from the SMSC (the first step of receipt reconciliation)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sms_sender.connectors import Inbound, OutboundSegment
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from vas_devstack.smsc import SmscSimulator

SOURCE = "10690019"


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
