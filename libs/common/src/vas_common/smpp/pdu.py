"""SMPP 3.4 PDUs: framing, encoding and decoding of what the suite speaks."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from enum import IntEnum

import smpp34

HEADER = struct.Struct("!IIII")
MAX_PDU_LENGTH = 64 * 1024


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(IntEnum):
    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RMSGQFUL = 0x14
    ESME_RTHROTTLED = 0x58
    ESME_RQUERYFAIL = 0x67
    ESME_RUNKNOWNERR = 0xFF


class MessageState(IntEnum):
    """message_state of query_sm_resp and of the receipt TLV (SMPP 3.4 section 5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8

    @property
    def is_final(self) -> bool:
        return self not in (MessageState.ENROUTE, MessageState.ACCEPTED, MessageState.UNKNOWN)


# The stat a delivery receipt gives for each state (the text format's `stat:` field).
RECEIPT_STATS: dict[MessageState, str] = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


# Statuses after which the same PDU may succeed later: slow down and resend it.
TRANSIENT_STATUSES = frozenset({Status.ESME_RMSGQFUL, Status.ESME_RTHROTTLED, Status.ESME_RSYSERR})

BIND_COMMANDS = frozenset({Command.BIND_TRANSCEIVER, Command.BIND_TRANSMITTER, Command.BIND_RECEIVER})

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427

ESM_CLASS_UDHI = 0x40
ESM_CLASS_DELIVERY_RECEIPT = 0x04


def status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08X}"


@dataclass(frozen=True)
class ShortMessage:
    """The fields of submit_sm / deliver_sm the suite uses."""

    source_addr: str
    destination_addr: str
    short_message: bytes
    esm_class: int = 0
    data_coding: int = 0
    registered_delivery: int = 0
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, tag: int) -> bytes | None:
        for t, value in self.tlvs:
            if t == tag:
                return value
        return None


@dataclass(frozen=True)
class Pdu:
    command: Command
    sequence: int
    status: int = 0
    system_id: str = ""
    password: str = ""
    message_id: str = ""
    sm: ShortMessage | None = field(default=None)
    # query_sm: the message asked about is (message_id, source_addr); query_sm_resp answers
    # with its state, the time it became final ("" while it is not) and the network's error.
    source_addr: str = ""
    message_state: int = 0
    final_date: str = ""
    error_code: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.command & 0x80000000)


def _cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"


def _read_cstrs(body: bytes, count: int) -> list[str]:
    out: list[str] = []
    pos = 0
    for _ in range(count):
        end = body.find(b"\x00", pos)
        if end < 0:
            out.append(body[pos:].decode("latin-1"))
            pos = len(body)
        else:
            out.append(body[pos:end].decode("latin-1"))
            pos = end + 1
    return out


def encode(pdu: Pdu) -> bytes:
    command = pdu.command
    if command in (Command.SUBMIT_SM, Command.DELIVER_SM):
        sm = pdu.sm
        assert sm is not None
        cls = smpp34.SubmitSm if command == Command.SUBMIT_SM else smpp34.DeliverSm
        return cls(
            sm.source_addr,
            sm.destination_addr,
            sm.short_message,
            source_addr_ton=sm.source_addr_ton,
            source_addr_npi=sm.source_addr_npi,
            dest_addr_ton=sm.dest_addr_ton,
            dest_addr_npi=sm.dest_addr_npi,
            esm_class=sm.esm_class,
            data_coding=sm.data_coding,
            registered_delivery=sm.registered_delivery,
            tlvs=[smpp34.Tlv(tag, value) for tag, value in sm.tlvs],
            sequence_number=pdu.sequence,
        ).encode()
    if command in BIND_COMMANDS:
        body = _cstr(pdu.system_id) + _cstr(pdu.password) + _cstr("") + bytes([0x34, 0, 0]) + _cstr("")
    elif command in (
        Command.BIND_TRANSCEIVER_RESP,
        Command.BIND_TRANSMITTER_RESP,
        Command.BIND_RECEIVER_RESP,
    ):
        body = _cstr(pdu.system_id)
    elif command == Command.SUBMIT_SM_RESP:
        body = _cstr(pdu.message_id) if pdu.status == 0 else b""
    elif command == Command.DELIVER_SM_RESP:
        body = _cstr("")
    elif command == Command.QUERY_SM:
        body = _cstr(pdu.message_id) + bytes([0, 0]) + _cstr(pdu.source_addr)
    elif command == Command.QUERY_SM_RESP:
        body = (
            _cstr(pdu.message_id) + _cstr(pdu.final_date) + bytes([pdu.message_state, pdu.error_code])
            if pdu.status == 0
            else b""
        )
    else:
        body = b""
    return HEADER.pack(HEADER.size + len(body), command, pdu.status, pdu.sequence) + body


class PduError(ValueError):
    pass


def decode(frame: bytes) -> Pdu:
    if len(frame) < HEADER.size:
        raise PduError("frame shorter than a PDU header")
    _length, command_id, status, sequence = HEADER.unpack_from(frame)
    try:
        command = Command(command_id)
    except ValueError as exc:
        raise PduError(f"unsupported command_id 0x{command_id:08X}") from exc
    body = frame[HEADER.size :]
    if command in (Command.SUBMIT_SM, Command.DELIVER_SM):
        try:
            raw = smpp34.decode(frame)
        except smpp34.SmppError as exc:
            raise PduError(str(exc)) from exc
        assert isinstance(raw, smpp34.SubmitSm | smpp34.DeliverSm)
        return Pdu(
            command,
            sequence,
            status,
            sm=ShortMessage(
                source_addr=raw.source_addr,
                destination_addr=raw.destination_addr,
                short_message=raw.short_message,
                esm_class=raw.esm_class,
                data_coding=raw.data_coding,
                registered_delivery=raw.registered_delivery,
                source_addr_ton=raw.source_addr_ton,
                source_addr_npi=raw.source_addr_npi,
                dest_addr_ton=raw.dest_addr_ton,
                dest_addr_npi=raw.dest_addr_npi,
                tlvs=tuple((t.tag, t.value) for t in raw.tlvs),
            ),
        )
    if command in BIND_COMMANDS:
        system_id, password = _read_cstrs(body, 2)
        return Pdu(command, sequence, status, system_id=system_id, password=password)
    if command in (Command.BIND_TRANSCEIVER_RESP, Command.BIND_TRANSMITTER_RESP, Command.BIND_RECEIVER_RESP):
        return Pdu(command, sequence, status, system_id=_read_cstrs(body, 1)[0] if body else "")
    if command == Command.SUBMIT_SM_RESP:
        return Pdu(command, sequence, status, message_id=_read_cstrs(body, 1)[0] if body else "")
    if command == Command.QUERY_SM:
        message_id = _read_cstrs(body, 1)[0]
        rest = body[len(message_id.encode("latin-1")) + 1 + 2 :]  # past the source TON and NPI
        return Pdu(command, sequence, status, message_id=message_id, source_addr=_read_cstrs(rest, 1)[0])
    if command == Command.QUERY_SM_RESP and body:
        message_id, final_date = _read_cstrs(body, 2)
        tail = body[len(message_id.encode("latin-1")) + len(final_date.encode("latin-1")) + 2 :]
        if len(tail) < 2:
            raise PduError("query_sm_resp without message_state and error_code")
        return Pdu(
            command,
            sequence,
            status,
            message_id=message_id,
            final_date=final_date,
            message_state=tail[0],
            error_code=tail[1],
        )
    return Pdu(command, sequence, status)


def response_to(request: Pdu, status: int = 0, **fields: str) -> Pdu:
    command = (
        Command.GENERIC_NACK
        if request.command == Command.GENERIC_NACK
        else Command(request.command | 0x80000000)
    )
    return Pdu(command, request.sequence, status, **fields)  # type: ignore[arg-type]


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One whole PDU from the stream (raises IncompleteReadError at EOF)."""
    head = await reader.readexactly(4)
    (length,) = struct.unpack("!I", head)
    if length < HEADER.size or length > MAX_PDU_LENGTH:
        raise PduError(f"invalid command_length {length}")
    return head + await reader.readexactly(length - 4)
