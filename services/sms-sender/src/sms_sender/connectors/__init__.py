"""How the sms-sender reaches an operator's SMS centre. SMPP 3.4 today; CMPP comes next behind
the same interface."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from vas_common.telemetry import span


class Route(StrEnum):
    """An SMSC route of a connector with a standby (connectors.failover)."""

    PRIMARY = "primary"
    STANDBY = "standby"


@dataclass(frozen=True)
class OutboundSegment:
    message_id: str
    seq: int
    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int
    esm_class: int
    priority: bool = False


@dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    smsc_message_id: str | None
    status: int  # the protocol's status code of the final answer
    status_name: str
    attempts: int
    route: Route | None = None  # which SMSC route took it, when there are two


@dataclass(frozen=True)
class Inbound:
    """A deliver_sm from the SMSC: a delivery receipt or a user's (MO) message."""

    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int
    esm_class: int
    receipted_message_id: bytes | None
    route: Route | None = None  # which SMSC route it came in on, when there are two


@dataclass(frozen=True)
class QueryResult:
    """What the SMSC says of a message it accepted (query_sm), in receipt terms."""

    answered: bool  # False: no answer (no bind, timeout, connection lost): ask again later
    known: bool  # False: the SMSC does not know the message (any more)
    final: bool
    stat: str  # DELIVRD, UNDELIV, EXPIRED, DELETED, REJECTD, ACCEPTD, UNKNOWN, ENROUTE or ""
    err: str = ""


InboundHandler = Callable[[list[Inbound]], Awaitable[None]]

_STANDBY_ID_PREFIX = "standby:"


def route_scoped_id(route: Route | None, smsc_message_id: str) -> str:
    """The id a segment is recorded under, and its receipts matched by: the SMSC's own on the
    primary route (and with a single route, so stored ids stay as they were), prefixed on the
    standby. Two SMSCs hand out ids independently: unscoped, a receipt from one could mark a
    segment the other took."""
    return _STANDBY_ID_PREFIX + smsc_message_id if route is Route.STANDBY else smsc_message_id


def smsc_own_id(route: Route | None, recorded_id: str) -> str:
    """The SMSC's own id of a recorded one (what a query_sm to that SMSC names)."""
    if route is Route.STANDBY:
        return recorded_id.removeprefix(_STANDBY_ID_PREFIX)
    return recorded_id


class SmscConnector(Protocol):
    async def start(self, on_inbound: InboundHandler) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, segment: OutboundSegment) -> SubmitResult:
        """Send one segment; transient refusals (throttling, queue full, lost binds) are retried
        inside, so the result is final: accepted, or refused for good."""
        ...

    async def submit_message(self, segments: Sequence[OutboundSegment]) -> list[SubmitResult]:
        """Send the segments of one message in order, all on one route (submit_in_order); the
        results stop at the first refusal (the later segments are not sent)."""
        ...

    async def query(self, smsc_message_id: str, source_addr: str, route: Route | None = None) -> QueryResult:
        """Ask the SMSC where a message it accepted stands (for a receipt that never came); with
        a standby, the route that took it (two SMSCs may give out the same id)."""
        ...

    def connected_binds(self) -> int: ...


async def submit_in_order(
    submit: Callable[[OutboundSegment], Awaitable[SubmitResult]], segments: Sequence[OutboundSegment]
) -> list[SubmitResult]:
    """One message's segments one after the other, a `submit_sm` span each; stops at the first
    refusal: the message has failed and its later segments are not sent."""
    results: list[SubmitResult] = []
    for segment in segments:
        with span("submit_sm") as current:
            current.set_attribute("vas.segment", segment.seq)
            result = await submit(segment)
            current.set_attribute("smpp.command_status", result.status)
            current.set_attribute("smpp.attempts", result.attempts)
        results.append(result)
        if not result.accepted:
            break
    return results
