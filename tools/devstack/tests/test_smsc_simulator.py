"""The SMSC simulator over real sockets: a tiny ESME (SmppSession) on one side, the control API
(httpx) on the other."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from vas_common.clock import ManualClock
from vas_common.smpp.pdu import (
    ESM_CLASS_DELIVERY_RECEIPT,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    Command,
    MessageState,
    Pdu,
    ShortMessage,
    Status,
    decode,
    encode,
    read_frame,
    response_to,
)
from vas_common.smpp.session import SmppSession
from vas_common.smpp.text import (
    DATA_CODING_GSM,
    DATA_CODING_UCS2,
    encode_message,
    parse_receipt,
    split_udh,
)
from vas_devstack.net import free_port
from vas_devstack.pytest_plugin import eventually
from vas_devstack.smsc import SmscSimulator

SP_NUMBER = "1065888800"
USER = "13800138000"
CHINESE_300 = (
    "您好，欢迎订阅天气预报服务，每天早上七点为您发送本地天气。回复TD退订，客服电话请拨打热线。" * 8
)[:300]


class Esme:
    """The smallest ESME: binds, submits, answers and collects every deliver_sm."""

    def __init__(self) -> None:
        self.delivers: list[Pdu] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.session: SmppSession

    @classmethod
    async def connect(
        cls,
        port: int,
        system_id: str = "vas",
        password: str = "vas-pass",
        bind: Command = Command.BIND_TRANSCEIVER,
    ) -> tuple[Esme, Pdu]:
        esme = cls()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        esme.session = SmppSession(reader, writer, esme._on_request, name="test-esme")
        esme.session.start()
        resp = await esme.session.request(Pdu(bind, 0, system_id=system_id, password=password), 5)
        return esme, resp

    def _on_request(self, session: SmppSession, pdu: Pdu) -> None:
        if pdu.command == Command.DELIVER_SM:
            self.delivers.append(pdu)
            task = asyncio.create_task(session.send(response_to(pdu)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def submit(self, sm: ShortMessage, timeout_s: float = 5.0) -> Pdu:
        return await self.session.request(Pdu(Command.SUBMIT_SM, 0, sm=sm), timeout_s)

    async def close(self) -> None:
        await self.session.unbind_and_close(1.0)


def text_sm(text: str = "hello", destination: str = USER, registered_delivery: int = 0) -> ShortMessage:
    encoded = encode_message(text, reference=0)
    assert len(encoded.segments) == 1
    return ShortMessage(
        SP_NUMBER,
        destination,
        encoded.segments[0],
        data_coding=encoded.data_coding,
        registered_delivery=registered_delivery,
    )


@pytest.fixture
async def api(smsc: SmscSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=smsc.http_url, timeout=10) as client:
        yield client


@pytest.fixture
async def esme(smsc: SmscSimulator) -> AsyncIterator[Esme]:
    client, resp = await Esme.connect(smsc.smpp_port)
    assert resp.status == Status.ESME_ROK
    yield client
    await client.close()


# -- binds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("vas", "wrong", Status.ESME_RINVPASWD), ("nobody", "vas-pass", Status.ESME_RINVSYSID)],
)
async def test_bind_with_wrong_credentials_is_refused_and_closed(
    smsc: SmscSimulator, system_id: str, password: str, status: Status
) -> None:
    client, resp = await Esme.connect(smsc.smpp_port, system_id, password)
    assert resp.command == Command.BIND_TRANSCEIVER_RESP
    assert resp.status == status
    await asyncio.wait_for(client.session.closed.wait(), 5)
    assert smsc.stats()["binds_refused"] == 1
    assert smsc.stats()["binds_active"] == 0


@pytest.mark.parametrize("bind", [Command.BIND_TRANSCEIVER, Command.BIND_TRANSMITTER, Command.BIND_RECEIVER])
async def test_bind_types_are_accepted_and_listed(
    smsc: SmscSimulator, api: httpx.AsyncClient, bind: Command
) -> None:
    client, resp = await Esme.connect(smsc.smpp_port, bind=bind)
    assert resp.command == Command(bind | 0x80000000)
    assert resp.status == Status.ESME_ROK
    assert resp.system_id == smsc.config.system_id
    stats = (await api.get("/stats")).json()
    assert [(b["system_id"], b["bind_type"]) for b in stats["binds"]] == [
        ("vas", bind.name.removeprefix("BIND_").lower())
    ]
    assert isinstance(stats["binds"][0]["session_id"], int)
    await client.close()


async def test_a_pdu_before_bind_gets_generic_nack(smsc: SmscSimulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.smpp_port)
    session = SmppSession(reader, writer, lambda _s, _p: None, name="unbound")
    session.start()
    resp = await session.request(Pdu(Command.SUBMIT_SM, 0, sm=text_sm()), 5)
    assert resp.command == Command.GENERIC_NACK
    assert resp.status == Status.ESME_RINVBNDSTS
    assert smsc.stats()["submit_sm_received"] == 0
    await session.abort()


# -- submit_sm ------------------------------------------------------------------------------


async def test_submit_gets_a_message_id_and_is_recorded(
    smsc: SmscSimulator, esme: Esme, api: httpx.AsyncClient
) -> None:
    first = await esme.submit(text_sm("hello"))
    second = await esme.submit(text_sm("hello again"))
    assert first.command == Command.SUBMIT_SM_RESP
    assert first.status == Status.ESME_ROK
    assert first.message_id
    assert len(first.message_id) <= 16
    assert second.message_id != first.message_id
    record = smsc.records[0]
    assert (record.destination, record.source, record.payload) == (USER, SP_NUMBER, b"hello")
    assert (record.esm_class, record.data_coding, record.udh) == (0, DATA_CODING_GSM, b"")
    assert record.message_id == first.message_id
    assert record.received_monotonic <= time.monotonic()
    stats = (await api.get("/stats")).json()
    assert stats["submit_sm_received"] == 2
    assert stats["submit_sm_accepted"] == 2


async def test_tps_limit_throttles_beyond_the_cap(smsc: SmscSimulator, esme: Esme) -> None:
    smsc.update_config(tps=5)
    results = await asyncio.gather(*(esme.submit(text_sm(f"m{i}")) for i in range(20)))
    statuses = [r.status for r in results]
    assert statuses.count(Status.ESME_ROK) == 5
    assert statuses.count(Status.ESME_RTHROTTLED) == 15
    assert all(not r.message_id for r in results if r.status == Status.ESME_RTHROTTLED)
    stats = smsc.stats()
    assert (stats["submit_sm_received"], stats["submit_sm_accepted"], stats["submit_sm_throttled"]) == (
        20,
        5,
        15,
    )
    assert len(smsc.records) == 5  # throttled ones are counted, not recorded

    async def refilled() -> bool:
        return (await esme.submit(text_sm("later"))).status == Status.ESME_ROK

    await eventually(refilled, timeout_s=5, interval_s=0.1)


async def test_submit_latency_delays_the_answer_but_not_the_throughput(
    smsc: SmscSimulator, esme: Esme
) -> None:
    smsc.update_config(submit_latency_ms=300)
    started = time.monotonic()
    results = await asyncio.gather(*(esme.submit(text_sm(f"m{i}")) for i in range(50)))
    elapsed = time.monotonic() - started
    assert all(r.status == Status.ESME_ROK for r in results)
    assert 0.3 <= elapsed < 3.0  # concurrently answered: not 50 x 0.3 s


# -- delivery receipts ----------------------------------------------------------------------


def receipts(esme: Esme) -> list[Pdu]:
    return [p for p in esme.delivers if p.sm is not None and p.sm.esm_class & ESM_CLASS_DELIVERY_RECEIPT]


@pytest.mark.parametrize(("stat", "state"), [("DELIVRD", 2), ("UNDELIV", 5), ("EXPIRED", 3), ("REJECTD", 8)])
async def test_receipt_carries_the_receipted_id_and_stat(
    smsc: SmscSimulator, esme: Esme, stat: str, state: int
) -> None:
    smsc.update_config(outcomes={stat: 1.0}, receipt_delay_ms=20)
    resp = await esme.submit(text_sm("hello", registered_delivery=1))
    [receipt] = await until(lambda: receipts(esme), 5)
    sm = receipt.sm
    assert sm is not None
    assert sm.esm_class == ESM_CLASS_DELIVERY_RECEIPT
    assert (sm.source_addr, sm.destination_addr) == (USER, SP_NUMBER)
    assert sm.tlv(TLV_RECEIPTED_MESSAGE_ID) == resp.message_id.encode() + b"\x00"
    assert sm.tlv(TLV_MESSAGE_STATE) == bytes([state])
    parsed = parse_receipt(sm.short_message, sm.tlv(TLV_RECEIPTED_MESSAGE_ID))
    assert parsed is not None
    assert (parsed.message_id, parsed.stat) == (resp.message_id, stat)
    assert resp.message_id in sm.short_message.decode()
    await until(lambda: smsc.stats()["receipts_sent"] == 1, 5)


async def test_no_receipt_unless_asked_for(smsc: SmscSimulator, esme: Esme) -> None:
    smsc.update_config(receipt_delay_ms=0)
    await esme.submit(text_sm("no receipt"))
    await esme.submit(text_sm("with receipt", registered_delivery=1))
    await until(lambda: receipts(esme), 5)
    assert len(receipts(esme)) == 1


async def test_outcome_mix_follows_the_weights_with_a_seeded_rng(smsc: SmscSimulator, esme: Esme) -> None:
    smsc.update_config(outcomes={"DELIVRD": 0.5, "UNDELIV": 0.5}, receipt_delay_ms=0)
    await asyncio.gather(*(esme.submit(text_sm(f"m{i}", registered_delivery=1)) for i in range(100)))
    await until(lambda: len(receipts(esme)) == 100, 10)
    stats = [parse_receipt(p.sm.short_message).stat for p in receipts(esme)]  # type: ignore[union-attr]
    assert 25 < stats.count("DELIVRD") < 75
    assert stats.count("DELIVRD") + stats.count("UNDELIV") == 100


async def test_dropped_receipts_are_never_sent_and_query_sm_still_tells_the_state(
    smsc: SmscSimulator, esme: Esme, api: httpx.AsyncClient
) -> None:
    """A peer that drops receipts: the ESME can only learn the outcome by query_sm."""
    assert (
        await api.put("/config", json={"drop_receipts": 1.0, "outcomes": {"UNDELIV": 1.0}})
    ).status_code == 200
    smsc.update_config(submit_latency_ms=0, receipt_delay_ms=0)
    resp = await esme.submit(text_sm("lost receipt", registered_delivery=1))
    await until(lambda: smsc.stats()["receipts_dropped"] == 1, 5)
    answer = await esme.session.request(
        Pdu(Command.QUERY_SM, 0, message_id=resp.message_id, source_addr=SP_NUMBER), 5
    )
    assert (answer.command, answer.status) == (Command.QUERY_SM_RESP, Status.ESME_ROK)
    assert (answer.message_id, answer.message_state) == (resp.message_id, MessageState.UNDELIVERABLE)
    assert len(answer.final_date) == 16
    assert answer.final_date.endswith("+")
    assert receipts(esme) == []
    unknown = await esme.session.request(
        Pdu(Command.QUERY_SM, 0, message_id="nope", source_addr=SP_NUMBER), 5
    )
    assert unknown.status == Status.ESME_RQUERYFAIL
    other_source = await esme.session.request(
        Pdu(Command.QUERY_SM, 0, message_id=resp.message_id, source_addr="10690000"), 5
    )
    assert other_source.status == Status.ESME_RQUERYFAIL  # a message is named by id and source
    assert smsc.stats()["query_sm_received"] == 3
    assert (await api.put("/config", json={"drop_receipts": 2})).status_code == 422


async def test_query_sm_of_a_message_whose_receipt_is_not_due_says_enroute(
    smsc: SmscSimulator, esme: Esme
) -> None:
    smsc.update_config(receipt_delay_ms=60_000)
    resp = await esme.submit(text_sm("pending", registered_delivery=1))
    answer = await esme.session.request(
        Pdu(Command.QUERY_SM, 0, message_id=resp.message_id, source_addr=SP_NUMBER), 5
    )
    assert (answer.message_state, answer.final_date) == (MessageState.ENROUTE, "")


async def test_receipt_before_resp_reaches_the_wire_first(smsc: SmscSimulator) -> None:
    """Raw socket, to see the exact order of the PDUs on the wire."""
    smsc.update_config(receipt_before_resp=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.smpp_port)
    try:
        writer.write(encode(Pdu(Command.BIND_TRANSCEIVER, 1, system_id="vas", password="vas-pass")))
        assert decode(await asyncio.wait_for(read_frame(reader), 5)).status == Status.ESME_ROK
        writer.write(encode(Pdu(Command.SUBMIT_SM, 2, sm=text_sm("race", registered_delivery=1))))
        first = decode(await asyncio.wait_for(read_frame(reader), 5))
        assert first.command == Command.DELIVER_SM
        writer.write(encode(response_to(first)))
        second = decode(await asyncio.wait_for(read_frame(reader), 5))
        assert second.command == Command.SUBMIT_SM_RESP
        assert second.sequence == 2
        assert first.sm is not None
        assert first.sm.tlv(TLV_RECEIPTED_MESSAGE_ID) == second.message_id.encode() + b"\x00"
    finally:
        writer.close()


async def test_receipt_goes_to_a_receiver_of_the_account_or_waits_for_one(smsc: SmscSimulator) -> None:
    smsc.update_config(receipt_delay_ms=0)
    transmitter, _ = await Esme.connect(smsc.smpp_port, bind=Command.BIND_TRANSMITTER)
    resp = await transmitter.submit(text_sm("via tx", registered_delivery=1))
    await until(lambda: smsc.stats()["deliver_sm_held"] == 1, 5)
    receiver, _ = await Esme.connect(smsc.smpp_port, bind=Command.BIND_RECEIVER)
    [receipt] = await until(lambda: receipts(receiver), 5)
    assert receipt.sm is not None
    assert receipt.sm.tlv(TLV_RECEIPTED_MESSAGE_ID) == resp.message_id.encode() + b"\x00"
    assert transmitter.delivers == []
    assert smsc.stats()["deliver_sm_held"] == 0
    await transmitter.close()
    await receiver.close()


# -- concatenated messages ------------------------------------------------------------------


def parts_of(text: str, reference: int, destination: str) -> list[ShortMessage]:
    encoded = encode_message(text, reference)
    return [
        ShortMessage(
            SP_NUMBER, destination, seg, esm_class=encoded.esm_class, data_coding=encoded.data_coding
        )
        for seg in encoded.segments
    ]


async def one_message(api: httpx.AsyncClient, destination: str) -> dict[str, Any]:
    body = (await api.get("/messages", params={"destination": destination})).json()
    assert body["total"] == 1, body
    message: dict[str, Any] = body["messages"][0]
    return message


async def test_a_long_chinese_text_is_reassembled_complete_and_in_order(
    smsc: SmscSimulator, esme: Esme, api: httpx.AsyncClient
) -> None:
    parts = parts_of(CHINESE_300, 42, USER)
    assert len(parts) == 5
    assert all(p.data_coding == DATA_CODING_UCS2 for p in parts)
    ids = [(await esme.submit(p)).message_id for p in parts]

    message = await one_message(api, USER)
    assert message["text"] == CHINESE_300
    assert (message["reference"], message["total"], message["segments_received"]) == (42, 5, 5)
    assert message["complete"] is True
    assert message["in_order"] is True
    assert message["duplicates"] == 0
    assert message["message_ids"] == ids
    assert (message["destination"], message["source"]) == (USER, SP_NUMBER)
    assert message["first_received_at"] <= message["last_received_at"]
    assert [r.udh for r in smsc.records] == [p.short_message[:6] for p in parts]
    assert [r.sequence for r in smsc.records] == [1, 2, 3, 4, 5]
    summary = (await api.get("/messages/summary")).json()
    assert summary == {
        "messages": 1,
        "complete": 1,
        "incomplete": 0,
        "duplicate_segments": 0,
        "out_of_order": 0,
        "submit_sm_accepted": 5,
    }

    # the same segment once more: a duplicate, nothing else changes
    await esme.submit(parts[2])
    message = await one_message(api, USER)
    assert message["duplicates"] == 1
    assert message["segments_received"] == 5
    assert message["complete"] is True
    assert message["in_order"] is True
    assert message["text"] == CHINESE_300
    summary = (await api.get("/messages/summary")).json()
    assert (summary["messages"], summary["duplicate_segments"], summary["submit_sm_accepted"]) == (1, 1, 6)


async def test_segments_out_of_order_and_missing_ones_are_reported(
    esme: Esme, api: httpx.AsyncClient
) -> None:
    parts = parts_of(CHINESE_300, 7, "13900139000")
    for index in (1, 0, 2, 3, 4):
        await esme.submit(parts[index])
    message = await one_message(api, "13900139000")
    assert message["in_order"] is False
    assert message["complete"] is True
    assert message["text"] == CHINESE_300

    others = parts_of(CHINESE_300, 8, "13700137000")
    for part in others[:3]:
        await esme.submit(part)
    message = await one_message(api, "13700137000")
    assert (message["complete"], message["segments_received"], message["in_order"]) == (False, 3, True)
    summary = (await api.get("/messages/summary")).json()
    assert summary == {
        "messages": 2,
        "complete": 1,
        "incomplete": 1,
        "duplicate_segments": 0,
        "out_of_order": 1,
        "submit_sm_accepted": 8,
    }

    assert (await api.delete("/messages")).status_code == 200
    summary = (await api.get("/messages/summary")).json()
    assert summary["messages"] == summary["submit_sm_accepted"] == 0
    assert (await api.get("/stats")).json()["submit_sm_received"] == 0


async def test_a_resent_single_part_message_is_a_duplicate(esme: Esme, api: httpx.AsyncClient) -> None:
    await esme.submit(text_sm("same text"))
    await esme.submit(text_sm("same text"))
    await esme.submit(text_sm("other text"))
    body = (await api.get("/messages", params={"destination": USER, "limit": 1})).json()
    assert body["total"] == 2
    [message] = body["messages"]
    assert (message["text"], message["duplicates"], message["total"]) == ("same text", 1, 1)
    assert message["reference"] is None
    assert len(message["message_ids"]) == 2


# -- MO -------------------------------------------------------------------------------------


async def test_mo_injection_arrives_as_deliver_sm(esme: Esme, api: httpx.AsyncClient) -> None:
    resp = await api.post("/mo", json={"source": USER, "destination": "10658888001", "text": "TD"})
    assert resp.json() == {"parts": 1}
    [mo] = await until(lambda: esme.delivers, 5)
    assert mo.sm is not None
    assert (mo.sm.source_addr, mo.sm.destination_addr) == (USER, "10658888001")
    assert (mo.sm.esm_class, mo.sm.data_coding, mo.sm.short_message) == (0, DATA_CODING_GSM, b"TD")
    await eventually(lambda: _async_json(api, "/stats", "mo_sent", 1), timeout_s=5)


async def test_a_batch_of_mo_arrives_one_deliver_sm_each(esme: Esme, api: httpx.AsyncClient) -> None:
    users = [f"8613900000{i:03d}" for i in range(20)]
    resp = await api.post(
        "/mo/batch",
        json={"messages": [{"source": u, "destination": "10658888", "text": "0000"} for u in users]},
    )
    assert resp.json() == {"parts": 20, "messages": 20}
    delivered = await until(lambda: len(esme.delivers) == 20 and esme.delivers, 5)
    assert sorted(p.sm.source_addr for p in delivered if p.sm is not None) == users


async def test_an_empty_mo_batch_is_refused(api: httpx.AsyncClient) -> None:
    resp = await api.post("/mo/batch", json={"messages": []})
    assert resp.status_code == 422


@pytest.mark.parametrize("text", ["A" * 200, CHINESE_300])
async def test_a_long_mo_arrives_as_concatenated_parts(esme: Esme, api: httpx.AsyncClient, text: str) -> None:
    resp = await api.post("/mo", json={"source": USER, "destination": "10658888", "text": text})
    parts = resp.json()["parts"]
    assert parts > 1
    delivered = await until(lambda: len(esme.delivers) == parts and esme.delivers, 5)
    sms = [p.sm for p in delivered]
    assert all(sm is not None and sm.esm_class == 0x40 for sm in sms)
    reference = split_udh(sms[0].short_message, 0x40).reference  # type: ignore[union-attr]
    expected = encode_message(text, reference or 0)
    assert [sm.short_message for sm in sms] == list(expected.segments)  # type: ignore[union-attr]
    assert {sm.data_coding for sm in sms} == {expected.data_coding}  # type: ignore[union-attr]


async def test_mo_waits_for_a_receiver_to_bind(smsc: SmscSimulator) -> None:
    assert smsc.inject_mo(USER, "10658888", "hello") == 1
    assert smsc.stats()["deliver_sm_held"] == 1
    client, _ = await Esme.connect(smsc.smpp_port)
    await until(lambda: client.delivers, 5)
    await client.close()


# -- faults ---------------------------------------------------------------------------------


async def test_drop_binds_closes_every_session(smsc: SmscSimulator, api: httpx.AsyncClient) -> None:
    first, _ = await Esme.connect(smsc.smpp_port)
    second, _ = await Esme.connect(smsc.smpp_port, bind=Command.BIND_RECEIVER)
    assert (await api.post("/faults/drop-binds")).json() == {"dropped": 2}
    await asyncio.wait_for(first.session.closed.wait(), 5)
    await asyncio.wait_for(second.session.closed.wait(), 5)
    assert (await api.get("/stats")).json()["binds_active"] == 0
    again, resp = await Esme.connect(smsc.smpp_port)
    assert resp.status == Status.ESME_ROK
    await again.close()


async def test_refuse_binds_drops_them_and_refuses_new_ones_until_the_clock_passes(
    smsc: SmscSimulator, api: httpx.AsyncClient
) -> None:
    first, _ = await Esme.connect(smsc.smpp_port)
    clock = ManualClock()
    await smsc.refuse_binds(90, clock)
    await asyncio.wait_for(first.session.closed.wait(), 5)
    refused, resp = await Esme.connect(smsc.smpp_port)
    assert resp.status == Status.ESME_RBINDFAIL
    assert (await api.get("/stats")).json()["binds_refused_until"]
    await refused.close()
    clock.advance(timedelta(seconds=91))
    again, resp = await Esme.connect(smsc.smpp_port)
    assert resp.status == Status.ESME_ROK
    await again.close()
    assert (await api.post("/faults/refuse-binds", json={"seconds": 0.2})).status_code == 200
    assert smsc.refusing_binds


async def test_pause_answers_nothing_then_answers_again(
    smsc: SmscSimulator, esme: Esme, api: httpx.AsyncClient
) -> None:
    resp = await api.post("/faults/pause", json={"seconds": 1.0})
    assert resp.status_code == 200
    assert resp.json()["paused_until"]
    stats = (await api.get("/stats")).json()
    assert stats["paused"] is True
    during = asyncio.create_task(esme.submit(text_sm("during pause"), timeout_s=30))
    enquire = asyncio.create_task(esme.session.request(Pdu(Command.ENQUIRE_LINK, 0), 30))

    await eventually(lambda: _async_json(api, "/stats", "paused", False), timeout_s=10)
    assert not during.done(), "submit_sm answered during the pause"
    assert not enquire.done(), "enquire_link answered during the pause"

    after = await esme.submit(text_sm("after pause"))
    assert after.status == Status.ESME_ROK
    assert (await esme.session.request(Pdu(Command.ENQUIRE_LINK, 0), 5)).status == Status.ESME_ROK
    assert not during.done(), "a PDU received during the pause must never be answered"
    assert [r.payload for r in smsc.records] == [b"after pause"]
    during.cancel()
    enquire.cancel()
    await asyncio.gather(during, enquire, return_exceptions=True)


# -- control API ----------------------------------------------------------------------------


async def test_config_can_be_read_and_changed(api: httpx.AsyncClient) -> None:
    config = (await api.get("/config")).json()
    assert config["outcomes"] == {"DELIVRD": 1.0}
    changed = await api.put("/config", json={"tps": 50, "outcomes": {"DELIVRD": 0.9, "UNDELIV": 0.1}})
    assert changed.status_code == 200
    assert changed.json()["tps"] == 50
    assert changed.json()["outcomes"] == {"DELIVRD": 0.9, "UNDELIV": 0.1}
    assert changed.json()["receipt_delay_ms"] == config["receipt_delay_ms"]
    assert (await api.put("/config", json={"outcomes": {"LOST": 1}})).status_code == 422
    assert (await api.put("/config", json={"tps": -1})).status_code == 422
    assert (await api.get("/healthz")).status_code == 200


# -- the CLI --------------------------------------------------------------------------------


@pytest.mark.e2e
async def test_cli_prints_ready_serves_and_stops_on_sigterm() -> None:
    smpp_port, http_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vas_devstack.smsc",
        "--smpp-port",
        str(smpp_port),
        "--http-port",
        str(http_port),
        "--outcomes",
        "DELIVRD=0.9,UNDELIV=0.05,EXPIRED=0.05",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.fullmatch(r"smsc ready smpp=127\.0\.0\.1:(\d+) http=(http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        assert (int(match[1]), int(match[3])) == (smpp_port, http_port)
        async with httpx.AsyncClient(base_url=match[2]) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/config")).json()["outcomes"] == {
                "DELIVRD": 0.9,
                "UNDELIV": 0.05,
                "EXPIRED": 0.05,
            }
        client_esme, resp = await Esme.connect(smpp_port)
        assert resp.status == Status.ESME_ROK
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        await asyncio.wait_for(client_esme.session.closed.wait(), 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def until(condition: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    """Wait until `condition()` is truthy and return it."""

    async def check() -> Any:
        return condition()

    return await eventually(check, timeout_s)


async def _async_json(api: httpx.AsyncClient, path: str, key: str, expected: Any) -> bool:
    value: Any = (await api.get(path)).json()[key]
    return bool(value == expected)
