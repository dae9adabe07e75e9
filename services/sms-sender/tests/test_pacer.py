"""The per-bind pacer: sends 1/TPS apart, priority sends ahead of waiting bulk sends."""

from __future__ import annotations

import asyncio
import itertools

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
    gaps = [b - a for a, b in itertools.pairwise(released)]
    assert min(gaps) >= 0.019  # never closer than 1/TPS (event-loop clock granularity aside)
