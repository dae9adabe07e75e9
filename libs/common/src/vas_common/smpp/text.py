"""Short-message text: GSM 03.38 or UCS2, split into concatenated segments with a UDH.

The GSM 03.38 character table comes from the `gsm0338` codec (unpacked septets, one octet
each, the way SMPP carries data_coding 0). Segment sizes follow 3GPP TS 23.040: 160 septets
or 70 UCS2 characters alone; 153 / 67 per segment behind a 6-octet concatenation UDH (8-bit
reference), 152 / 66 behind a 7-octet one (16-bit reference). A long text is cut at grapheme-cluster
boundaries (an emoji with its skin-tone modifier or ZWJ sequence, a letter with its combining
marks stay in one segment) when that costs no extra segment; otherwise at the last code unit that
fits, never inside a surrogate pair or a GSM escape sequence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import regex

GSM_CODEC = "gsm03.38"
DATA_CODING_GSM = 0x00
DATA_CODING_UCS2 = 0x08

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE_UNITS, UCS2_PART_UNITS = 70, 67
# Behind the 7-octet UDH of a 16-bit reference (IEI 0x08): one septet / one UCS2 unit less.
GSM_PART_16, UCS2_PART_UNITS_16 = 152, 66
REFERENCE_BITS = (8, 16)
_GRAPHEME = regex.compile(r"\X")
_ESCAPE = 0x1B
# The highest code point in GSM 03.38 (basic table and extension), the euro sign.
GSM_HIGHEST = "\u20ac"


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"

    @property
    def data_coding(self) -> int:
        return DATA_CODING_GSM if self is Encoding.GSM7 else DATA_CODING_UCS2


def choose_encoding(text: str) -> Encoding:
    # Most text here is Chinese: ruled out in C before the codec (pure Python) walks it, which
    # was 2-4 % of the API's and the dispatchers' CPU.
    if text and max(text) > GSM_HIGHEST:
        return Encoding.UCS2
    try:
        text.encode(GSM_CODEC)
    except UnicodeEncodeError:
        return Encoding.UCS2
    return Encoding.GSM7


def _gsm_chunks(encoded: bytes, size: int) -> list[bytes]:
    chunks: list[bytes] = []
    start = 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        # never split an escape sequence (extension character) across two segments
        if end < len(encoded) and encoded[end - 1] == _ESCAPE:
            end -= 1
        chunks.append(encoded[start:end])
        start = end
    return chunks


def _ucs2_chunks(encoded: bytes, units: int) -> list[bytes]:
    chunks: list[bytes] = []
    start = 0
    size = units * 2
    while start < len(encoded):
        end = min(start + size, len(encoded))
        # never split a surrogate pair (characters outside the BMP, e.g. emoji)
        if end < len(encoded) and 0xD8 <= encoded[end - 2] <= 0xDB:
            end -= 2
        chunks.append(encoded[start:end])
        start = end
    return chunks


def _cluster_chunks(text: str, encode: Callable[[str], bytes], size: int) -> list[bytes] | None:
    """Whole grapheme clusters per segment, as many as fit (greedy); None when one cluster alone
    is longer than a segment."""
    chunks: list[bytes] = []
    current = bytearray()
    for cluster in _GRAPHEME.findall(text):
        encoded = encode(cluster)
        if len(encoded) > size:
            return None
        if len(current) + len(encoded) > size:
            chunks.append(bytes(current))
            current = bytearray()
        current += encoded
    if current:
        chunks.append(bytes(current))
    return chunks


def _encode_gsm(text: str) -> bytes:
    return text.encode(GSM_CODEC)


def _encode_ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def _split(text: str, encoding: Encoding, reference_bits: int) -> list[bytes]:
    """The payloads of the segments: one when the text fits a single message; else cut at
    grapheme-cluster boundaries unless that needs more segments than cutting where a segment is
    full (then the latter, as before: a cluster may then span two segments)."""
    if encoding is Encoding.GSM7:
        raw = _encode_gsm(text)
        if len(raw) <= GSM_SINGLE:
            return [raw]
        size = GSM_PART if reference_bits == 8 else GSM_PART_16
        plain = _gsm_chunks(raw, size)
        encode = _encode_gsm
    else:
        raw = _encode_ucs2(text)
        if len(raw) <= UCS2_SINGLE_UNITS * 2:
            return [raw]
        units = UCS2_PART_UNITS if reference_bits == 8 else UCS2_PART_UNITS_16
        plain = _ucs2_chunks(raw, units)
        size = units * 2
        encode = _encode_ucs2
    clustered = _cluster_chunks(text, encode, size)
    if clustered is None or len(clustered) > len(plain):
        return plain
    return clustered


@dataclass(frozen=True)
class EncodedMessage:
    encoding: Encoding
    # each entry is a complete short_message: UDH + payload when there is more than one
    segments: tuple[bytes, ...]

    @property
    def data_coding(self) -> int:
        return self.encoding.data_coding

    @property
    def esm_class(self) -> int:
        return 0x40 if len(self.segments) > 1 else 0x00


def count_segments(text: str, reference_bits: int = 8) -> tuple[Encoding, int]:
    encoding = choose_encoding(text)
    return encoding, len(_split(text, encoding, reference_bits))


def encode_message(text: str, reference: int, reference_bits: int = 8) -> EncodedMessage:
    """Encode and split. `reference` ties the parts of one message together: its low 8 bits
    behind IEI 0x00, or its low 16 bits behind IEI 0x08 when `reference_bits` is 16 (for an
    SMSC that accepts it). Store it with the message so that a resent message carries the same
    UDH: the same text, reference and width give the same bytes."""
    if reference_bits not in REFERENCE_BITS:
        raise ValueError(f"a concatenation reference has 8 or 16 bits, not {reference_bits}")
    encoding = choose_encoding(text)
    parts = _split(text, encoding, reference_bits)
    if len(parts) == 1:
        return EncodedMessage(encoding, (parts[0],))
    if len(parts) > 255:
        raise ValueError("message too long: more than 255 segments")
    total = len(parts)
    if reference_bits == 8:
        header = bytes([0x05, 0x00, 0x03, reference & 0xFF, total])
    else:
        header = bytes([0x06, 0x08, 0x04, (reference >> 8) & 0xFF, reference & 0xFF, total])
    return EncodedMessage(encoding, tuple(header + bytes([i + 1]) + part for i, part in enumerate(parts)))


@dataclass(frozen=True)
class Segment:
    reference: int | None
    total: int
    sequence: int
    payload: bytes


def split_udh(short_message: bytes, esm_class: int) -> Segment:
    """Read the concatenation header (8- or 16-bit reference) of a segment, if any."""
    if not esm_class & 0x40 or not short_message:
        return Segment(None, 1, 1, short_message)
    udh_len = short_message[0]
    udh = short_message[1 : 1 + udh_len]
    payload = short_message[1 + udh_len :]
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if iei == 0x00 and length == 3:
            return Segment(data[0], data[1], data[2], payload)
        if iei == 0x08 and length == 4:
            return Segment((data[0] << 8) | data[1], data[2], data[3], payload)
        pos += 2 + length
    return Segment(None, 1, 1, payload)


def decode_payload(payload: bytes, data_coding: int) -> str:
    if data_coding == DATA_CODING_UCS2:
        return payload.decode("utf-16-be", errors="replace")
    if data_coding == DATA_CODING_GSM:
        return payload.decode(GSM_CODEC, errors="replace")
    return payload.decode("latin-1")


# Delivery receipt text, SMPP 3.4 appendix B. The format is short and fixed, so a regular
# expression is the whole parser.
_RECEIPT = re.compile(
    r"id:(?P<id>\S+)\s+sub:(?P<sub>\d+)\s+dlvrd:(?P<dlvrd>\d+)\s+submit date:(?P<submit>\d+)\s+"
    r"done date:(?P<done>\d+)\s+stat:(?P<stat>\w+)\s+err:(?P<err>\w+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str
    err: str

    @property
    def delivered(self) -> bool:
        return self.stat.upper() == "DELIVRD"


FINAL_RECEIPT_STATS = frozenset({"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN"})


def format_receipt(message_id: str, stat: str, err: str, submit_date: str, done_date: str) -> bytes:
    dlvrd = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submit_date} done date:{done_date} "
        f"stat:{stat} err:{err} text:"
    ).encode("ascii")


def parse_receipt(short_message: bytes, receipted_message_id: bytes | None = None) -> Receipt | None:
    match = _RECEIPT.search(short_message.decode("latin-1"))
    if not match:
        return None
    message_id = match["id"]
    if receipted_message_id:
        message_id = receipted_message_id.rstrip(b"\x00").decode("latin-1")
    return Receipt(message_id=message_id, stat=match["stat"].upper(), err=match["err"])
