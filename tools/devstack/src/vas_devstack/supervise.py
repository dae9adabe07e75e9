"""Restart crashed processes of `make run` with back-off, and say so.

Written here rather than taken from a process manager: circus (ZeroMQ, its own arbiter
daemon) and supervisord (an INI file, a daemon and its control socket) would each replace
the stack runner's start order, readiness waits and the stack.json that `make down` reads,
to gain what is below: a poll of the children, one back-off formula and a readiness check.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar


class Child(Protocol):
    """What the supervisor needs of a process: a `subprocess.Popen`, or the benchmark's
    wrapper of an asyncio child (`vas_bench.stack`)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


C = TypeVar("C", bound=Child)


@dataclass(frozen=True)
class RestartPolicy:
    """initial_s after the first crash, doubling up to max_s while the process keeps crashing;
    a run that lasted reset_after_s starts the count again."""

    initial_s: float = 1.0
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, crashes_in_a_row: int) -> float:
        """The wait before restarting after the n-th crash in a row (n >= 1)."""
        return float(min(self.max_s, self.initial_s * 2 ** max(0, crashes_in_a_row - 1)))


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"code {returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"code {returncode}"
    return f"code {returncode}"


@dataclass
class _Watched(Generic[C]):
    name: str
    launch: Callable[[], C]
    is_ready: Callable[[], bool] | None
    log: Path | None
    process: C
    started_at: float
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    restarted_at: float | None = None  # waiting for it to be ready again since then


class Supervisor(Generic[C]):
    """Call `tick()` every fraction of a second: it reports an exited process, restarts it
    when its back-off is over, and reports it ready again. The others keep running."""

    def __init__(
        self,
        policy: RestartPolicy,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._say = say
        self._clock = clock
        self._watched: dict[str, _Watched[C]] = {}

    def watch(
        self,
        name: str,
        process: C,
        launch: Callable[[], C],
        is_ready: Callable[[], bool] | None = None,
        log: Path | None = None,
    ) -> None:
        self._watched[name] = _Watched(name, launch, is_ready, log, process, self._clock())

    def forget(self) -> None:
        """Stop watching (the caller has stopped the processes)."""
        self._watched.clear()

    @property
    def processes(self) -> dict[str, C]:
        return {name: w.process for name, w in self._watched.items()}

    def tick(self) -> bool:
        """One round over the watched processes; True when one was started again (its pid changed)."""
        restarted = False
        for w in self._watched.values():
            now = self._clock()
            if w.restart_at is None:
                returncode = w.process.poll()
                if returncode is None:
                    if w.crashes_in_a_row and now - w.started_at >= self.policy.reset_after_s:
                        w.crashes_in_a_row = 0
                    self._check_ready(w, now)
                    continue
                w.crashes_in_a_row += 1
                delay = self.policy.delay(w.crashes_in_a_row)
                w.restart_at = now + delay
                w.restarted_at = None
                self._report(
                    f"{w.name} exited with {describe_exit(returncode)} after {now - w.started_at:.1f}s;"
                    f" restarting in {delay:g}s (crash {w.crashes_in_a_row} in a row"
                    + (f"; log {w.log}" if w.log else "")
                    + ")"
                )
            if now >= w.restart_at:
                w.process = w.launch()
                w.started_at = w.restarted_at = self._clock()
                w.restart_at = None
                restarted = True
                self._report(f"{w.name} restarted (pid {w.process.pid})")
        return restarted

    def _check_ready(self, w: _Watched[C], now: float) -> None:
        if w.restarted_at is None:
            return
        if w.is_ready is None or w.is_ready():
            self._report(f"{w.name} is ready again ({now - w.restarted_at:.1f}s after its restart)")
            w.restarted_at = None

    def _report(self, message: str) -> None:
        self._say(f"{datetime.now().strftime('%H:%M:%S')} {message}")
