"""Faults injected into a running benchmark stack (`stack.BenchStack`), one coroutine each.

Each fault returns a `FaultWindow`: when it began and when it was over, on CLOCK_MONOTONIC
(the clock of the load generator's and the simulator's records), so recovery is measured from
`ended`. A fault that holds something down undoes it however it ends (cancelled included): no
process is left stopped. Between steps it waits on conditions (`wait_until`), never for a
guessed time; the only sleeps are a fault's own deliberate duration.

- `pause_postgres`: every PostgreSQL process SIGSTOPped, then SIGCONTed (`EmbeddedPostgres.hung`);
- `pause_broker`: the broker (Tansu) SIGSTOPped, then SIGCONTed;
- `restart_broker`: the broker SIGKILLed and started again on its port. The dev broker keeps
  its records in memory only (`--storage-engine memory://`, the default): what it held and the
  consumer groups' offsets are gone after the restart;
- `flap_smsc`: the simulator drops every SMPP session (no unbind), several times, each drop
  once the binds are back;
- `kill_service`: an sms-sender process (API or dispatcher) SIGKILLed; `ended` is the kill,
  and the window notes when the stack's supervisor had it ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from vas_bench.stack import BenchStack


class FaultError(RuntimeError):
    pass


@dataclass
class FaultWindow:
    fault: str
    started: float  # time.monotonic() when the fault began
    ended: float  # ... and when it was over (a kill: the kill itself)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "started": self.started,
            "ended": self.ended,
            "held_s": round(self.ended - self.started, 2),
            **self.details,
        }


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str, interval_s: float = 0.05
) -> float:
    """Poll `condition` until it holds; returns how long that took. FaultError after timeout_s."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout_s:
            raise FaultError(f"not within {timeout_s:g}s: {what}")
        await asyncio.sleep(interval_s)
    return time.monotonic() - started


# -- pauses -----------------------------------------------------------------------------------


async def pause_postgres(stack: BenchStack, seconds: float) -> FaultWindow:
    """Every PostgreSQL process stopped for `seconds`: it takes connections into its socket's
    backlog and answers nothing, as a database that hangs."""
    assert stack.postgres is not None
    started = time.monotonic()
    with stack.postgres.hung():
        await asyncio.sleep(seconds)
    return FaultWindow("postgres-pause", started, time.monotonic(), {"seconds": seconds})


async def pause_processes(pids: list[int], seconds: float) -> tuple[float, float]:
    """SIGSTOP every process of `pids` (in that order), hold them `seconds`, SIGCONT them however
    this ends (cancelled included). Returns (stopped, resumed) on the monotonic clock."""
    stopped: list[psutil.Process] = []
    try:
        for pid in pids:
            process = psutil.Process(pid)
            process.suspend()
            stopped.append(process)
        started = time.monotonic()
        await asyncio.sleep(seconds)
    finally:
        for process in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()
    return started, time.monotonic()


async def pause_broker(stack: BenchStack, seconds: float) -> FaultWindow:
    """The broker stopped (SIGSTOP) for `seconds`, then resumed (SIGCONT)."""
    assert stack.broker is not None
    assert stack.broker.process is not None
    started, ended = await pause_processes([stack.broker.process.pid], seconds)
    return FaultWindow("broker-pause", started, ended, {"seconds": seconds})


# -- restarts and kills -------------------------------------------------------------------------


async def restart_broker(stack: BenchStack, seconds: float = 0.0) -> FaultWindow:
    """SIGKILL the broker, keep it down for `seconds`, start it again on the same port; `ended`
    is when it accepts connections again. Its memory-only storage is lost with it."""
    broker = stack.broker
    assert broker is not None
    assert broker.process is not None
    stack.expected_down.add("broker")
    try:
        started = time.monotonic()
        broker.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(broker.process.wait, 10)
        if seconds > 0:
            await asyncio.sleep(seconds)
        await asyncio.to_thread(broker.start)  # waits until the port answers
    finally:
        stack.expected_down.discard("broker")
    return FaultWindow(
        "broker-restart",
        started,
        time.monotonic(),
        {"seconds": seconds, "storage": "memory only: records and group offsets are lost"},
    )


async def kill_service(stack: BenchStack, name: str, ready_timeout_s: float = 60.0) -> FaultWindow:
    """SIGKILL one sms-sender process ("api-1", "dispatcher-2" ...): no shutdown hook, no unbind,
    no offset commit. The stack's supervisor (`BenchStack.supervise`) starts it again; the
    window ends at the kill and notes when the new process answered /readyz."""
    if stack.supervisor is None or name not in stack.supervisor.processes:
        raise FaultError(f"{name} is not supervised: nothing would restart it")
    service = stack.service(name)
    assert service.process is not None
    old_pid = service.process.pid
    started = time.monotonic()
    await service.kill()
    killed = time.monotonic()
    client = httpx.AsyncClient(timeout=1.0)

    async def ready_again() -> bool:
        process = service.process
        if process is None or process.pid == old_pid or process.returncode is not None:
            return False
        try:
            return (await client.get(service.url + "/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        took = await wait_until(ready_again, ready_timeout_s, f"{name} restarted and ready", 0.1)
    finally:
        await client.aclose()
    return FaultWindow(
        f"{name.split('-')[0]}-kill",
        started,
        killed,
        {"process": name, "signal": "SIGKILL", "ready_again_after_s": round(took + killed - started, 2)},
    )


# -- the SMSC ---------------------------------------------------------------------------------


async def flap_smsc(stack: BenchStack, seconds: float, drops: int = 4) -> FaultWindow:
    """The simulator drops every SMPP session (`POST /faults/drop-binds`) `drops` times over
    `seconds`, each drop once the binds are all back; `ended` is when they are back after the last."""
    expected = stack.dispatch.replicas * stack.dispatch.binds
    client = httpx.AsyncClient(base_url=stack.smsc_url, timeout=5.0)

    async def all_bound() -> bool:
        return int((await client.get("/stats")).json()["binds_active"]) >= expected

    rebinds: list[float] = []
    started = time.monotonic()
    try:
        for i in range(drops):
            due = started + i * seconds / max(drops, 1)
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            await wait_until(all_bound, 60.0, f"{expected} binds back before drop {i + 1}")
            (await client.post("/faults/drop-binds")).raise_for_status()
            rebinds.append(round(await wait_until(all_bound, 60.0, f"{expected} binds back after a drop"), 2))
    finally:
        await client.aclose()
    return FaultWindow("smsc-flap", started, time.monotonic(), {"drops": drops, "rebound_after_s": rebinds})


# -- the catalogue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # one line for the table
    inject: Callable[[BenchStack, float], Awaitable[FaultWindow]]
    # what the API must do meanwhile, and what else is expected
    cannot_store: bool = False  # the API cannot store: it must answer 503 + Retry-After
    no_api: bool = False  # no API process: requests fail to connect (not answered)
    kills: int = 0  # processes the supervisor must restart (no more)


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "postgres-pause",
            "PostgreSQL paused (SIGSTOP/SIGCONT of every process)",
            pause_postgres,
            cannot_store=True,
        ),
        Fault("broker-pause", "broker paused (SIGSTOP/SIGCONT of Tansu)", pause_broker),
        Fault("broker-restart", "broker SIGKILLed and started again (memory-only: empty)", restart_broker),
        Fault("smsc-flap", "SMSC drops every SMPP session, 4 times", flap_smsc),
        Fault(
            "dispatcher-kill",
            "a dispatcher SIGKILLed, restarted by the supervisor",
            lambda stack, _s: kill_service(stack, "dispatcher-1"),
            kills=1,
        ),
        Fault(
            "api-kill",
            "the API process SIGKILLed, restarted by the supervisor",
            lambda stack, _s: kill_service(stack, "api-1"),
            no_api=True,
            kills=1,
        ),
    )
}
