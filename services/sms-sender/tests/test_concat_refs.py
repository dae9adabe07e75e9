"""Concatenation references (issue #17): allocated per recipient when a long message is accepted,
stored with it, so concurrent long messages to one user never share one and a resend carries the
same UDH. On the real broker, PostgreSQL and the SMSC simulator."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from sms_sender.main import create_app
from vas_common.events.sms_sender import SubmitRequested
from vas_common.events.topics import SMS_SUBMIT_PRIORITY
from vas_common.smpp.text import encode_message, split_udh
from vas_devstack.pytest_plugin import eventually, read_events, serve
from vas_devstack.smsc import SmscSimulator

RECIPIENT = "8613800000042"
LONG = "移动增值业务服务质量承诺" * 8  # 96 characters with the signature: 2 UCS2 segments


def long_text(n: int) -> str:
    return f"{n:03d}{LONG}"


@pytest.fixture
def start_sender(database: str, kafka: Any, smsc: SmscSimulator, sms_settings: Any) -> Callable[..., Any]:
    def start(**overrides: Any) -> Any:
        settings = sms_settings(
            database,
            kafka,
            role="all",
            smsc_port=smsc.smpp_port,
            smsc_tps=0,
            default_rate_per_s=10_000,
            **overrides,
        )
        return serve(create_app(settings))

    return start


@pytest.fixture
async def sender(start_sender: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with start_sender() as client:
        await eventually(lambda: _ready(client))
        yield client


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def send_each(client: httpx.AsyncClient, partner: Any, texts: list[str]) -> list[str]:
    """One request per text to RECIPIENT, all at once (their accepts share transactions)."""

    async def one(text: str) -> str:
        response = await client.post(
            "/v1/messages",
            headers=partner.headers,
            json={"recipients": [RECIPIENT], "content": text, "category": "notice"},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["accepted"][0]["message_id"])

    return list(await asyncio.gather(*(one(t) for t in texts)))


async def stored_refs(database: str, ids: list[str]) -> dict[str, int | None]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT id, concat_ref FROM messages WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids]
        )
    finally:
        await conn.close()
    return {str(r["id"]): r["concat_ref"] for r in rows}


async def all_reassembled(smsc: SmscSimulator, count: int) -> bool:
    found = smsc.messages(destination=RECIPIENT)["messages"]
    assert len(found) <= count, f"{len(found)} messages"
    return len(found) == count and all(m["complete"] for m in found)


async def test_256_long_messages_at_once_to_one_user_never_share_an_8_bit_reference(
    sender: httpx.AsyncClient, database: str, smsc: SmscSimulator, make_partner: Any
) -> None:
    """With the last byte of the message id as the reference, 256 messages share one almost
    surely (and a handset mixes their parts); per recipient, 256 in a row cannot."""
    partner = await make_partner(sender)()
    ids = await send_each(sender, partner, [long_text(n) for n in range(256)])

    refs = await stored_refs(database, ids)
    assert sorted(r for r in refs.values() if r is not None) == list(range(256))  # a fresh counter
    await eventually(lambda: all_reassembled(smsc, 256))
    found = smsc.messages(destination=RECIPIENT)["messages"]
    assert {m["reference"] for m in found} == set(range(256))
    assert sorted(m["text"] for m in found) == sorted("【测试】" + long_text(n) for n in range(256))
    assert all(m["total"] == 2 and m["duplicates"] == 0 and m["in_order"] for m in found)


async def test_300_long_messages_to_one_user_get_300_16_bit_references_and_a_resend_is_byte_identical(
    start_sender: Callable[..., Any], database: str, kafka: Any, smsc: SmscSimulator, make_partner: Any
) -> None:
    async with start_sender(smsc_concat_16bit=True) as sender:
        await eventually(lambda: _ready(sender))
        partner = await make_partner(sender)()
        ids = await send_each(sender, partner, [long_text(n) for n in range(300)])
        await eventually(lambda: all_reassembled(smsc, 300))

    found = smsc.messages(destination=RECIPIENT)["messages"]
    assert len({m["reference"] for m in found}) == 300
    refs = await stored_refs(database, ids)
    assert sorted(r for r in refs.values() if r is not None) == list(range(300))

    # What was sent is what the stored event encodes to again: a resend is byte-identical.
    events = await read_events(
        kafka.bootstrap,
        SMS_SUBMIT_PRIORITY.name,
        lambda e: isinstance(e, SubmitRequested) and str(e.payload.message_id) in refs,
        300,
    )
    by_message = {
        (r.reference, r.sequence): r.udh + r.payload for r in smsc.book.records if r.destination == RECIPIENT
    }
    for event, _record in events:
        work = event.payload
        assert work.concat_ref == refs[str(work.message_id)]
        again = encode_message(work.text, work.concat_ref, reference_bits=16)
        assert len(again.segments) == 2
        for seq, short_message in enumerate(again.segments, start=1):
            assert short_message[:3] == bytes([0x06, 0x08, 0x04])  # IEI 0x08: a 16-bit reference
            assert split_udh(short_message, again.esm_class).reference == work.concat_ref
            assert by_message[(work.concat_ref, seq)] == short_message
