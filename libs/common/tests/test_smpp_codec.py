"""SMPP codec and short-message text: segments, encodings, receipts."""

from __future__ import annotations

import contextlib

import pytest

from vas_common.smpp.pdu import Command, Pdu, ShortMessage, decode, encode, response_to
from vas_common.smpp.text import (
    GSM_CODEC,
    GSM_HIGHEST,
    Encoding,
    choose_encoding,
    count_segments,
    decode_payload,
    encode_message,
    format_receipt,
    parse_receipt,
    split_udh,
)

CHINESE_300 = ("移动增值业务服务质量承诺" * 30)[:300]


def reassemble(text: str, reference: int = 9) -> tuple[Encoding, list[bytes], str]:
    message = encode_message(text, reference)
    parts = [split_udh(s, message.esm_class) for s in message.segments]
    assert [p.sequence for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.total == len(parts) for p in parts)
    assert len({p.reference for p in parts}) == 1
    return (
        message.encoding,
        list(message.segments),
        "".join(decode_payload(p.payload, message.data_coding) for p in parts),
    )


def test_300_chinese_characters_are_5_ucs2_segments_that_reassemble() -> None:
    encoding, segments, text = reassemble(CHINESE_300)
    assert encoding is Encoding.UCS2
    assert len(segments) == 5
    assert all(len(s) <= 140 for s in segments)
    assert text == CHINESE_300


def test_no_gsm_character_is_above_the_euro_sign() -> None:
    """choose_encoding takes any text with a character above GSM_HIGHEST to be UCS2."""
    table: set[str] = set()
    for septets in [bytes([c]) for c in range(128) if c != 0x1B] + [bytes([0x1B, c]) for c in range(128)]:
        with contextlib.suppress(UnicodeDecodeError):  # an unassigned escape sequence
            table.update(septets.decode(GSM_CODEC))
    assert len(table) > 128
    assert max(table) == GSM_HIGHEST
    assert choose_encoding("Price 5€, Δ ok") is Encoding.GSM7
    assert choose_encoding("Price 5€ 中") is Encoding.UCS2
    assert choose_encoding("naïve") is Encoding.UCS2  # ï is below the euro sign, yet not GSM


def test_gsm_lengths() -> None:
    assert count_segments("a" * 160) == (Encoding.GSM7, 1)
    assert count_segments("a" * 161) == (Encoding.GSM7, 2)
    assert count_segments("a" * 306) == (Encoding.GSM7, 2)
    assert count_segments("a" * 307) == (Encoding.GSM7, 3)
    assert count_segments("€" * 80) == (Encoding.GSM7, 1)  # extension characters count twice
    assert count_segments("€" * 81) == (Encoding.GSM7, 2)
    assert count_segments("中" * 70) == (Encoding.UCS2, 1)
    assert count_segments("中" * 71) == (Encoding.UCS2, 2)


def test_split_never_cuts_an_escape_or_a_surrogate_pair() -> None:
    gsm = "a" * 152 + "€" + "b" * 20
    assert reassemble(gsm)[2] == gsm
    emoji = "中" * 66 + "😀" + "文" * 10
    assert reassemble(emoji)[2] == emoji


def test_single_segment_has_no_udh() -> None:
    message = encode_message("hello", 1)
    assert message.esm_class == 0
    assert message.segments == (b"hello",)


def test_receipt_round_trip_and_tlv_id_wins() -> None:
    raw = format_receipt("abc123", "UNDELIV", "001", "2611251530", "2611251531")
    receipt = parse_receipt(raw)
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.delivered) == ("abc123", "UNDELIV", False)
    assert parse_receipt(raw, b"xyz\x00").message_id == "xyz"  # type: ignore[union-attr]
    assert parse_receipt(b"TD") is None


@pytest.mark.parametrize(
    "pdu",
    [
        Pdu(Command.BIND_TRANSCEIVER, 1, system_id="vas", password="secret"),
        Pdu(Command.BIND_TRANSCEIVER_RESP, 1, system_id="SMSC"),
        Pdu(Command.SUBMIT_SM_RESP, 7, message_id="5f3a"),
        Pdu(Command.SUBMIT_SM_RESP, 8, status=0x58),
        Pdu(Command.ENQUIRE_LINK, 3),
        Pdu(Command.UNBIND_RESP, 4),
        Pdu(
            Command.SUBMIT_SM,
            5,
            sm=ShortMessage(
                "1069001",
                "8613812345678",
                b"\x05\x00\x03\x01\x02\x01hi",
                esm_class=0x40,
                data_coding=8,
                registered_delivery=1,
            ),
        ),
        Pdu(
            Command.DELIVER_SM,
            6,
            sm=ShortMessage("8613812345678", "10690011", b"TD", tlvs=((0x001E, b"x\x00"),)),
        ),
    ],
)
def test_pdu_round_trip(pdu: Pdu) -> None:
    assert decode(encode(pdu)) == pdu


def test_response_mirrors_the_request_sequence() -> None:
    answer = response_to(Pdu(Command.DELIVER_SM, 42, sm=ShortMessage("a", "b", b"")))
    assert (answer.command, answer.sequence) == (Command.DELIVER_SM_RESP, 42)
