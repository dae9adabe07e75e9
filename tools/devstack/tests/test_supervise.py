"""The stack's supervisor: a process that exits is reported and restarted after a back-off
that doubles while it keeps crashing and starts again once it stayed up; the others run on.
Real child processes; the clock is the test's, so the back-off schedule is exact."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vas_devstack.supervise import RestartPolicy, Supervisor

POLICY = RestartPolicy(initial_s=1.0, max_s=4.0, reset_after_s=60.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def launched() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def launcher(
    launched: list[subprocess.Popen[bytes]], code: str = "import time; time.sleep(600)"
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
    launched.append(proc)
    return proc


def crash(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_process_is_reported_and_restarted_after_a_doubling_back_off(
    launched: list[subprocess.Popen[bytes]],
) -> None:
    clock, said = Clock(), []
    ready = {"service": False}
    supervisor = Supervisor(POLICY, said.append, clock)
    supervisor.watch("service", launcher(launched), lambda: launcher(launched), lambda: ready["service"])
    supervisor.watch("other", launcher(launched), lambda: launcher(launched))
    other = supervisor.processes["other"]

    expected_delays = []
    for _ in range(4):
        first = supervisor.processes["service"]
        crash(first)
        clock.now += 5.0  # up for 5 s: less than reset_after_s, the crashes are "in a row"
        assert not supervisor.tick()
        delay = POLICY.delay(len(expected_delays) + 1)
        expected_delays.append(delay)
        assert f"service exited with code -9 (SIGKILL) after 5.0s; restarting in {delay:g}s" in said[-1]
        assert f"(crash {len(expected_delays)} in a row" in said[-1]

        clock.now += delay - 0.01
        assert not supervisor.tick()  # not before its back-off is over
        assert supervisor.processes["service"] is first
        clock.now += 0.01
        assert supervisor.tick()
        restarted = supervisor.processes["service"]
        assert restarted is not first
        assert restarted.poll() is None
        assert said[-1].endswith(f"service restarted (pid {restarted.pid})")
    assert expected_delays == [1.0, 2.0, 4.0, 4.0]

    # the other process never stopped and was never mentioned
    assert supervisor.processes["other"] is other
    assert other.poll() is None
    assert not any("other" in line for line in said)

    # ready again: said once, when the check passes
    count = len(said)
    supervisor.tick()
    assert len(said) == count
    ready["service"] = True
    supervisor.tick()
    assert said[-1].split(" ", 1)[1].startswith("service is ready again")
    supervisor.tick()
    assert len(said) == count + 1


def test_the_back_off_starts_again_once_a_process_stayed_up(launched: list[subprocess.Popen[bytes]]) -> None:
    clock, said = Clock(), []
    supervisor = Supervisor(POLICY, said.append, clock)
    supervisor.watch("service", launcher(launched), lambda: launcher(launched))
    for _ in range(2):
        crash(supervisor.processes["service"])
        supervisor.tick()
        clock.now += POLICY.max_s
        supervisor.tick()
    assert "(crash 2 in a row" in said[-2]

    clock.now += POLICY.reset_after_s
    supervisor.tick()  # it has been up for reset_after_s
    crash(supervisor.processes["service"])
    supervisor.tick()
    assert f"restarting in {POLICY.initial_s:g}s (crash 1 in a row" in said[-1]


def test_a_process_that_exits_at_once_keeps_being_restarted(launched: list[subprocess.Popen[bytes]]) -> None:
    clock, said = Clock(), []
    supervisor = Supervisor(POLICY, said.append, clock)

    def failing() -> subprocess.Popen[bytes]:
        return launcher(launched, "raise SystemExit(3)")

    supervisor.watch("broken", failing(), failing)
    for crashes in range(1, 6):
        supervisor.processes["broken"].wait()
        supervisor.tick()
        assert "broken exited with code 3" in said[-1]
        assert f"(crash {crashes} in a row" in said[-1]
        clock.now += POLICY.max_s
        assert supervisor.tick()
    assert len(launched) == 6


def test_policy_delays() -> None:
    policy = RestartPolicy(initial_s=1.0, max_s=30.0)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
