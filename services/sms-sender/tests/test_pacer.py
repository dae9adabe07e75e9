"""The per-bind pacer: sends 1/TPS apart, priority sends ahead of waiting bulk sends."""

from __future__ import annotations

import asyncio

import pytest

from sms_sender.connectors.smpp import _Pacer


async def test_sends_are_spaced_and_priority_goes_first() -> None:
    pacer = _Pacer(tps=50)  # 20 ms apart
    order: list[str] = []
    released: list[float] = []
    loop = asyncio.get_running_loop()

    async def send(name: str, priority: bool = False) -> None:
        await pacer.wait(priority)
        order.append(name)
        released.append(loop.time())

    # Ten bulk sends are waiting (the first goes at once) when the verification code comes.
    await asyncio.gather(*(send(f"bulk-{i}") for i in range(10)), send("code", priority=True))
    await pacer.close()

    assert order[:2] == ["bulk-0", "code"]
    assert order[2:] == [f"bulk-{i}" for i in range(1, 10)]  # bulk keeps its own order
    # Slots lie on the 1/TPS grid: the k-th send is never earlier than k slots after the first
    # (event-loop clock granularity aside). Two sends may be closer than 1/TPS when the first
    # was granted late (a busy loop), so the gap between neighbours is not the promise.
    early = [k for k, at in enumerate(released) if at - released[0] < k * 0.020 - 0.001]
    assert early == []


def test_late_grants_do_not_lower_the_rate() -> None:
    """A busy event loop wakes the releaser a little late for every slot; the slots stay on
    the 1/TPS grid, so a bind capped at 100 TPS still sends 100 a second (it was ~90 when each
    slot was counted from the late grant)."""
    pacer = _Pacer(tps=100, catch_up_s=0.05)
    granted: list[float] = []
    for _ in range(1000):
        now = max(pacer._next, granted[-1] if granted else 0.0) + 0.0015  # 1.5 ms late, every time
        granted.append(now)
        pacer.take_slot(now)
    rate = (len(granted) - 1) / (granted[-1] - granted[0])
    assert rate == pytest.approx(100.0, rel=0.001)


def test_an_idle_bind_does_not_catch_up() -> None:
    """After an idle spell the grid starts anew: the slot after the first send is one interval on."""
    pacer = _Pacer(tps=100, catch_up_s=0.05)
    pacer.take_slot(0.0)
    pacer.take_slot(10.0)  # idle for 10 s
    assert pacer._next == pytest.approx(10.01)


def test_catch_up_is_bounded() -> None:
    """Slots granted late catch up on the grid, but no more than `catch_up_s` of them."""
    pacer = _Pacer(tps=100, catch_up_s=0.05)
    pacer.take_slot(0.0)
    pacer.take_slot(0.04)  # 30 ms late: the grid holds, the next slot is already due
    assert pacer._next == pytest.approx(0.02)
    pacer.take_slot(0.09)  # 70 ms late: beyond the catch-up, a new grid
    assert pacer._next == pytest.approx(0.10)
