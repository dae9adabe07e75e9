"""The circuit breaker's states on a clock the test moves: closed, open for the cool-down, one
probe when it ends, closed again by the probe's success or reopened by its failure."""

from __future__ import annotations

from vas_common.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_lets_one_probe_through_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, cooldown_s=30.0, probe_wait_s=2.0, clock=clock)

    assert [breaker.failed("a.example") for _ in range(2)] == [False, False]
    assert breaker.wait_before_call("a.example") is None
    assert breaker.failed("a.example") is True
    assert breaker.wait_before_call("a.example") == 30.0
    assert breaker.wait_before_call("b.example") is None  # other hosts are not affected

    clock.now += 29.0
    assert breaker.wait_before_call("a.example") == 1.0
    clock.now += 1.0
    assert breaker.wait_before_call("a.example") is None  # the probe
    assert breaker.wait_before_call("a.example") == 2.0  # others wait for its outcome

    assert breaker.failed("a.example") is True  # the probe failed: open again
    assert breaker.wait_before_call("a.example") == 30.0
    clock.now += 30.0
    assert breaker.wait_before_call("a.example") is None
    breaker.succeeded("a.example")
    assert not breaker.is_open("a.example")
    assert breaker.wait_before_call("a.example") is None


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=10.0, clock=FakeClock())
    breaker.failed("a.example")
    breaker.succeeded("a.example")
    assert breaker.failed("a.example") is False
    assert breaker.failed("a.example") is True
