"""SMPP codec and short-message text: segments, encodings, receipts."""

from __future__ import annotations

import contextlib

import pytest

from vas_common.smpp.pdu import (
    RECEIPT_STATS,
    Command,
    MessageState,
    Pdu,
    ShortMessage,
    decode,
    encode,
    response_to,
)
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
        Pdu(Command.QUERY_SM, 9, message_id="5f3a", source_addr="1069001"),
        Pdu(
            Command.QUERY_SM_RESP,
            9,
            message_id="5f3a",
            final_date="261204041500000+",
            message_state=MessageState.DELIVERED,
        ),
        Pdu(Command.QUERY_SM_RESP, 10, message_id="5f3b", message_state=MessageState.ENROUTE),
        Pdu(Command.QUERY_SM_RESP, 11, status=0x67),  # ESME_RQUERYFAIL: no body
    ],
)
def test_pdu_round_trip(pdu: Pdu) -> None:
    assert decode(encode(pdu)) == pdu


def test_response_mirrors_the_request_sequence() -> None:
    answer = response_to(Pdu(Command.DELIVER_SM, 42, sm=ShortMessage("a", "b", b"")))
    assert (answer.command, answer.sequence) == (Command.DELIVER_SM_RESP, 42)


def payloads(text: str, reference_bits: int = 8) -> list[str]:
    message = encode_message(text, 7, reference_bits)
    return [
        decode_payload(split_udh(s, message.esm_class).payload, message.data_coding) for s in message.segments
    ]


THUMB_MEDIUM = "\U0001f44d\U0001f3fd"  # thumbs up + skin-tone modifier: 4 UTF-16 units, one cluster
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # a ZWJ sequence: 8 units, one cluster


@pytest.mark.parametrize(
    ("text", "cluster"),
    [
        # cutting at 67 units would leave the skin-tone modifier alone at the head of segment 2
        ("中" * 65 + THUMB_MEDIUM + "中" * 50, THUMB_MEDIUM),
        # ... or cut the family after the first ZWJ
        ("中" * 63 + FAMILY + "中" * 50, FAMILY),
        # ... or part a CJK character from its combining mark
        ("中" * 66 + "字\u0323" + "中" * 50, "字\u0323"),
    ],
)
def test_a_grapheme_cluster_at_a_segment_boundary_stays_in_one_segment(text: str, cluster: str) -> None:
    parts = payloads(text)
    assert len(parts) == count_segments(text)[1] == 2
    assert "".join(parts) == text
    assert parts[1].startswith(cluster)
    assert all(len(p.encode("utf-16-be")) <= 134 for p in parts)


def test_a_cluster_boundary_that_would_cost_a_segment_is_not_taken() -> None:
    """Two full segments with the emoji across the cut: kept whole it would need a third, so
    today's cut stands (at the last unit that fits, never inside a surrogate pair)."""
    text = "中" * 65 + THUMB_MEDIUM + "中" * 65
    parts = payloads(text)
    assert count_segments(text) == (Encoding.UCS2, 2)
    assert parts == ["中" * 65 + "\U0001f44d", "\U0001f3fd" + "中" * 65]


def test_texts_without_clusters_split_as_before() -> None:
    assert [len(p) for p in payloads(CHINESE_300)] == [67, 67, 67, 67, 32]
    assert [len(p) for p in payloads("a" * 400)] == [153, 153, 94]
    assert payloads("a" * 152 + "€" + "b" * 10) == ["a" * 152, "€" + "b" * 10]  # an escape is not split


def test_a_16_bit_reference_goes_behind_iei_8_and_leaves_a_unit_less_per_segment() -> None:
    message = encode_message("a" * 305, 0x1234, reference_bits=16)
    assert len(message.segments) == 3  # 152 septets a part; with an 8-bit reference 2 would do
    assert count_segments("a" * 305, reference_bits=16) == (Encoding.GSM7, 3)
    assert count_segments("a" * 305) == (Encoding.GSM7, 2)
    assert message.segments[0][:7] == bytes([0x06, 0x08, 0x04, 0x12, 0x34, 3, 1])
    parts = [split_udh(s, message.esm_class) for s in message.segments]
    assert {p.reference for p in parts} == {0x1234}
    assert [len(p.payload) for p in parts] == [152, 152, 1]
    ucs2 = encode_message(CHINESE_300, 0xBEEF, reference_bits=16)
    assert all(len(s) <= 140 for s in ucs2.segments)
    assert [len(split_udh(s, ucs2.esm_class).payload) // 2 for s in ucs2.segments] == [66, 66, 66, 66, 36]
    assert encode_message("a" * 305, 0x1234, 8).segments[0][:6] == bytes([0x05, 0x00, 0x03, 0x34, 2, 1])
    with pytest.raises(ValueError, match="8 or 16"):
        encode_message("a", 1, reference_bits=12)


def test_only_final_message_states_end_a_query() -> None:
    assert {s for s in MessageState if s.is_final} == {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.REJECTED,
    }


def test_every_message_state_has_its_receipt_stat() -> None:
    assert set(RECEIPT_STATS) == set(MessageState)
    assert RECEIPT_STATS[MessageState.UNDELIVERABLE] == "UNDELIV"
