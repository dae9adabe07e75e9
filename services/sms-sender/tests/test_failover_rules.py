"""When the failover connector switches routes and what happens to a message being sent (pure
logic: the two routes are stubs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import pytest

from sms_sender.connectors import InboundHandler, OutboundSegment, QueryResult, Route, SubmitResult
from sms_sender.connectors.failover import FailoverConnector
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from vas_devstack.pytest_plugin import eventually


class _Route:
    """A connector whose binds the test sets and whose submits wait while `flowing` is clear."""

    def __init__(self, system_id: str) -> None:
        self.config = SmppBindConfig("10.0.0.1", 2775, system_id, "secret")
        self.binds = 0
        self.on_binds_changed: Any = None
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.sent: list[str] = []
        self.pause_after: int | None = None  # parts sent, then `flowing` is cleared
        self.waiting = 0
        self.queried: list[str] = []

    def set_binds(self, n: int) -> None:
        self.binds = n
        if self.on_binds_changed is not None:
            self.on_binds_changed()

    def connected_binds(self) -> int:
        return self.binds

    def bind_problem(self) -> str | None:
        return None if self.binds else "connect failed: refused"

    def login_problem(self) -> str | None:
        return None

    def metrics(self) -> list[Any]:
        return []

    async def start(self, _on_inbound: InboundHandler) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def query(self, smsc_message_id: str, _source_addr: str) -> QueryResult:
        self.queried.append(smsc_message_id)
        return QueryResult(answered=True, known=True, final=True, stat="DELIVRD")

    async def submit_message(self, segments: Sequence[OutboundSegment]) -> list[SubmitResult]:
        results = []
        for segment in segments:
            self.waiting += 1
            try:
                await self.flowing.wait()
            finally:
                self.waiting -= 1
            self.sent.append(f"{segment.message_id}/{segment.seq}")
            if len(self.sent) == self.pause_after:
                self.flowing.clear()
            results.append(SubmitResult(True, f"{self.config.system_id}-{len(self.sent)}", 0, "ESME_ROK", 1))
        return results


def _failover(after_s: float = 1.0, hold_s: float = 1.5) -> tuple[FailoverConnector, _Route, _Route]:
    primary, standby = _Route("main"), _Route("mirror")
    connector = FailoverConnector(
        cast(SmppConnector, primary),
        cast(SmppConnector, standby),
        standby_after_s=after_s,
        primary_hold_s=hold_s,
    )
    primary.on_binds_changed = connector._primary_changed  # as start() does
    return connector, primary, standby


def _long(message_id: str) -> list[OutboundSegment]:
    return [OutboundSegment(message_id, seq, "1069001", "8613800000001", b"part", 8, 0x40) for seq in (1, 2)]


async def test_the_standby_is_taken_only_after_n_seconds_and_only_with_a_bind_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connector, _primary, standby = _failover()
    connector._primary_down_since = 100.0
    assert connector._decide(500.0) is None  # the standby has no bind: nothing to gain
    assert connector.active is connector.primary
    assert connector.bind_problem() == (
        "primary main@10.0.0.1:2775: connect failed: refused; standby mirror@10.0.0.1:2775: connect failed: refused"
    )
    standby.binds = 2
    assert connector._decide(100.5) == 101.0  # look again when N s are up
    assert connector.active is connector.primary
    with caplog.at_level(logging.ERROR):
        assert connector._decide(101.0) is None
    assert connector.active is connector.standby
    [switch] = [r for r in caplog.records if r.name == "sms_sender.connectors.failover"]
    assert switch.levelno == logging.ERROR
    assert "every bind of the primary main@10.0.0.1:2775 has been down for 1.0s" in switch.getMessage()
    assert "(connect failed: refused)" in switch.getMessage()
    assert "secret" not in caplog.text
    assert connector.switches.labels(to="standby")._value.get() == 1
    assert connector.route_active.labels(route="standby")._value.get() == 1
    assert connector.route_active.labels(route="primary")._value.get() == 0
    assert (connector.describe_route() or "").startswith(
        "dispatching on the standby route mirror@10.0.0.1:2775"
    )


async def test_back_to_the_primary_after_the_hold_and_a_flap_starts_the_hold_again() -> None:
    connector, primary, standby = _failover(hold_s=1.5)
    connector.active = connector.standby
    standby.binds = 2
    assert connector._decide(10.0) is None  # the primary is down
    primary.set_binds(1)
    up_since = connector._primary_up_since
    assert up_since is not None
    assert connector._decide(up_since + 1.0) == up_since + 1.5
    primary.set_binds(0)  # a flap: the hold starts again when it is back
    primary.set_binds(1)
    again = connector._primary_up_since
    assert again is not None
    assert again >= up_since
    assert connector._decide(again + 1.4) == again + 1.5
    assert connector._decide(again + 1.5) is None
    assert connector.active is connector.primary
    assert connector.describe_route() is None


async def test_a_standby_that_loses_every_bind_hands_back_to_a_primary_that_is_up_at_once() -> None:
    connector, primary, standby = _failover(hold_s=60)
    connector.active = connector.standby
    primary.set_binds(2)
    standby.binds = 0
    assert connector._decide(0.0) is None
    assert connector.active is connector.primary


async def test_a_message_half_sent_on_a_failed_route_goes_again_whole_on_the_other() -> None:
    connector, primary, standby = _failover(after_s=0.05, hold_s=0.05)
    primary.binds = standby.binds = 2
    await connector.start(_no_inbound)
    try:
        primary.set_binds(2)
        # The primary takes part 1, then loses every bind before part 2.
        primary.pause_after = 1
        sending = asyncio.create_task(connector.submit_message(_long("m1")))
        await eventually(lambda: primary.sent == ["m1/1"] and primary.waiting, interval_s=0)
        primary.set_binds(0)
        results = await sending
        assert standby.sent == ["m1/1", "m1/2"]
        # Recorded under the standby's scope: its ids are its own, not the primary's.
        assert [r.smsc_message_id for r in results] == ["standby:mirror-1", "standby:mirror-2"]
        assert connector.moved.labels(to="standby")._value.get() == 1

        # A message being sent on the standby when dispatch returns to the primary, the standby
        # still up, is finished there: its parts never split between two SMSCs.
        standby.flowing.clear()
        waiting = asyncio.create_task(connector.submit_message(_long("m2")))
        await eventually(lambda: standby.waiting, interval_s=0)
        primary.pause_after = None
        primary.flowing.set()
        primary.set_binds(2)
        await eventually(lambda: connector.active is connector.primary)
        standby.flowing.set()
        assert [r.smsc_message_id for r in await waiting] == ["standby:mirror-3", "standby:mirror-4"]
        assert primary.sent == ["m1/1"]
        assert connector.moved.labels(to="primary")._value.get() == 0
    finally:
        await connector.stop()


async def _no_inbound(_batch: Any) -> None:
    return None


async def test_a_query_goes_to_the_route_that_took_the_segment() -> None:
    """Two SMSCs may give out the same id: the question goes where the segment went, whatever
    route is active now (a segment from before the standby was configured went to the primary)."""
    connector, primary, standby = _failover()
    await connector.query("standby:X-1", "10690019", Route.STANDBY)  # as the standby's id is recorded
    await connector.query("X-2", "10690019", Route.PRIMARY)
    await connector.query("X-3", "10690019", None)
    assert standby.queried == ["X-1"]  # the SMSC's own id
    assert primary.queried == ["X-2", "X-3"]
