"""The fault library's building blocks on real processes: a pause stops and resumes them, also
when it is cancelled; `wait_until` waits on a condition and gives up after its timeout."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
from vas_bench.faults import FaultError, pause_processes, wait_until


@pytest.fixture
def sleeper() -> Iterator[psutil.Process]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield psutil.Process(proc.pid)
    finally:
        proc.kill()
        proc.wait()


async def test_a_paused_process_is_stopped_for_the_pause_and_running_after(sleeper: psutil.Process) -> None:
    pause = asyncio.create_task(pause_processes([sleeper.pid], 0.5))
    took = await wait_until(
        lambda: asyncio.sleep(0, result=sleeper.status() == psutil.STATUS_STOPPED), 5.0, "stopped"
    )
    assert took < 0.5
    started, ended = await pause
    assert ended - started >= 0.5
    assert sleeper.status() != psutil.STATUS_STOPPED


async def test_a_cancelled_pause_resumes_the_process(sleeper: psutil.Process) -> None:
    pause = asyncio.create_task(pause_processes([sleeper.pid], 60.0))
    await wait_until(
        lambda: asyncio.sleep(0, result=sleeper.status() == psutil.STATUS_STOPPED), 5.0, "stopped"
    )
    pause.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pause
    assert sleeper.status() != psutil.STATUS_STOPPED


async def test_wait_until_gives_up_with_what_it_waited_for() -> None:
    with pytest.raises(FaultError, match="the moon"):
        await wait_until(lambda: asyncio.sleep(0, result=False), 0.2, "the moon")
