"""What the simulated SMSC saw: every accepted submit_sm, and the messages they reassemble into.

Each accepted submit_sm is a `SubmitRecord`. Records are grouped into messages as they arrive
(`MessageBook.add`, O(1) per segment): a concatenated segment by (destination, source, UDH
reference, total), a single-part message by (destination, source, payload), so a resent
segment or a resent single-part message shows as a duplicate. The summary counters are kept
up to date on every add, so `summary()` is O(1) however many messages were seen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vas_common.smpp.text import decode_payload

MessageKey = tuple[str, str, int, int] | tuple[str, str, bytes]


@dataclass(frozen=True, slots=True)
class SubmitRecord:
    """One accepted submit_sm."""

    message_id: str
    session_id: int
    system_id: str
    source: str
    destination: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    udh: bytes  # the user data header (with its length octet), b"" when there is none
    reference: int | None  # concatenation reference from the UDH, None for a single part
    total: int
    sequence: int
    payload: bytes  # short_message without the UDH
    received_monotonic: float  # time.monotonic(): comparable across processes on one host
    received_at: float  # time.time()


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="microseconds")


class AssembledMessage:
    """The segments of one message seen so far."""

    __slots__ = (
        "complete",
        "data_codings",
        "destination",
        "duplicates",
        "first_monotonic",
        "first_wall",
        "in_order",
        "last_monotonic",
        "last_wall",
        "max_sequence",
        "message_ids",
        "parts",
        "reference",
        "source",
        "total",
    )

    def __init__(self, record: SubmitRecord) -> None:
        self.destination = record.destination
        self.source = record.source
        self.reference = record.reference
        self.total = record.total
        self.parts: dict[int, tuple[bytes, int]] = {}
        self.data_codings: set[int] = set()
        self.duplicates = 0
        self.in_order = True
        self.complete = False
        self.max_sequence = 0
        self.message_ids: list[str] = []
        self.first_monotonic = record.received_monotonic
        self.first_wall = record.received_at
        self.last_monotonic = record.received_monotonic
        self.last_wall = record.received_at

    def text(self) -> str:
        ordered = [self.parts[seq] for seq in sorted(self.parts)]
        if len(self.data_codings) == 1:
            # decode the joined payloads: right also when a sender split a character across parts
            return decode_payload(b"".join(p for p, _ in ordered), next(iter(self.data_codings)))
        return "".join(decode_payload(payload, dc) for payload, dc in ordered)

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "source": self.source,
            "reference": self.reference,
            "total": self.total,
            "segments_received": len(self.parts),
            "complete": self.complete,
            "text": self.text(),
            "data_coding": sorted(self.data_codings),
            "in_order": self.in_order,
            "duplicates": self.duplicates,
            "message_ids": list(self.message_ids),
            "first_received_at": _iso(self.first_wall),
            "last_received_at": _iso(self.last_wall),
            "first_received_monotonic": self.first_monotonic,
            "last_received_monotonic": self.last_monotonic,
        }


class MessageBook:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.records: list[SubmitRecord] = []
        self._messages: dict[MessageKey, AssembledMessage] = {}
        self._by_destination: defaultdict[str, list[AssembledMessage]] = defaultdict(list)
        # What a handset would show, in order: a text each time one is completed, so the same
        # short text sent twice is there twice (messages() keeps it once, as one message).
        self._received: defaultdict[str, list[str]] = defaultdict(list)
        self.complete = 0
        self.duplicate_segments = 0
        self.out_of_order = 0

    def add(self, record: SubmitRecord) -> None:
        self.records.append(record)
        key: MessageKey
        if record.reference is None:
            key = (record.destination, record.source, record.payload)
        else:
            key = (record.destination, record.source, record.reference, record.total)
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = AssembledMessage(record)
            self._by_destination[record.destination].append(message)
        seq = record.sequence
        if seq in message.parts:
            message.duplicates += 1
            self.duplicate_segments += 1
            if message.total == 1:
                self._received[record.destination].append(message.text())
        else:
            # order is judged on first arrivals only: a resent segment is a duplicate, not disorder
            if seq < message.max_sequence and message.in_order:
                message.in_order = False
                self.out_of_order += 1
            message.max_sequence = max(message.max_sequence, seq)
            message.parts[seq] = (record.payload, record.data_coding)
            message.data_codings.add(record.data_coding)
            if (
                not message.complete
                and len(message.parts) >= message.total
                and all(s in message.parts for s in range(1, message.total + 1))
            ):
                message.complete = True
                self.complete += 1
                self._received[record.destination].append(message.text())
        message.message_ids.append(record.message_id)
        message.last_monotonic = record.received_monotonic
        message.last_wall = record.received_at

    def summary(self) -> dict[str, int]:
        return {
            "messages": len(self._messages),
            "complete": self.complete,
            "incomplete": len(self._messages) - self.complete,
            "duplicate_segments": self.duplicate_segments,
            "out_of_order": self.out_of_order,
            "submit_sm_accepted": len(self.records),
        }

    def messages(self, destination: str | None = None, limit: int | None = None) -> list[AssembledMessage]:
        """Messages in the order their first segment arrived (optionally of one destination)."""
        source = self._by_destination.get(destination, []) if destination else self._messages.values()
        out: list[AssembledMessage] = []
        for message in source:
            if limit is not None and len(out) >= limit:
                break
            out.append(message)
        return out

    def received(self, destination: str) -> list[str]:
        """The texts a handset got, in the order each was completed, repeats included."""
        return list(self._received.get(destination, ()))

    def count(self, destination: str | None = None) -> int:
        if destination:
            return len(self._by_destination.get(destination, ()))
        return len(self._messages)
