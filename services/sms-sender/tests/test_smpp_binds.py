"""How the SMPP connector shares submits between its binds (pure logic: sessions stubbed)."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

from sms_sender.connectors import OutboundSegment
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from vas_common.smpp.pdu import Status


class _Session:
    """Answers every submit_sm at once, except the first, which stays in flight until released."""

    def __init__(
        self, name: str, log: list[str], three_sent: asyncio.Event, hold_first: asyncio.Event | None = None
    ) -> None:
        self._name, self._log, self._three_sent, self._hold = name, log, three_sent, hold_first

    async def request(self, _pdu: Any) -> SimpleNamespace:
        self._log.append(self._name)
        if len(self._log) >= 3:
            self._three_sent.set()
        if self._hold is not None:
            hold, self._hold = self._hold, None
            await hold.wait()
        await asyncio.sleep(0)
        return SimpleNamespace(status=Status.ESME_ROK, message_id=f"{self._name}-{len(self._log)}")

    async def unbind_and_close(self) -> None:
        return None


def segment(n: int) -> OutboundSegment:
    return OutboundSegment(f"m-{n}", 1, "10690019", f"86139{n:08d}", b"hi", 0, 0)


async def test_submits_waiting_at_a_bind_count_toward_its_share() -> None:
    """Under a backlog, submits wait at each bind's pacer. A batch arrives in one event-loop
    turn; picking the bind with the fewest submits in flight sent all of it to the bind whose
    one submit had just been answered. At the 100 TPS/bind cap the other bind then idled once
    its own queue ran out: a replica did 150-190 a second of its 200."""
    connector = SmppConnector(SmppBindConfig("127.0.0.1", 1, "vas", "vas-pass", binds=2, tps=500))
    log: list[str] = []
    held, three_sent = asyncio.Event(), asyncio.Event()
    sessions = [_Session("a", log, three_sent, held), _Session("b", log, three_sent)]
    for bind, session in zip(connector._binds, sessions, strict=True):
        bind.session = session  # type: ignore[assignment]
        bind.ready.set()

    first = asyncio.create_task(connector.submit(segment(0)))  # in flight on bind a until released
    backlog = [asyncio.create_task(connector.submit(segment(n))) for n in range(1, 11)]
    await three_sent.wait()  # both binds are sending; a submit of the backlog was answered on b
    batch = [asyncio.create_task(connector.submit(segment(n))) for n in range(11, 51)]
    await asyncio.sleep(0)  # the batch's submits have picked their binds
    held.set()
    results = await asyncio.gather(first, *backlog, *batch)
    await connector.stop()

    assert all(r.accepted for r in results)
    per_bind = Counter(log)
    assert abs(per_bind["a"] - per_bind["b"]) <= 2, per_bind
