"""The dispatcher's health checks (sms_sender.health), on a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from sms_sender.health import HealthMonitor, HealthRules
from vas_common.clock import ManualClock
from vas_common.events.sms_sender import HealthCheck, HealthCheckResult


def _monitor(clock: ManualClock, binds: list[int], **rules: float) -> HealthMonitor:
    return HealthMonitor(
        clock,
        HealthRules(**rules),  # type: ignore[arg-type]
        smsc="vas@smsc:2775",
        binds_up=lambda: binds[0],
        binds_configured=2,
        interval_s=1.0,
        instance="test",
    )


def _check(monitor: HealthMonitor, check: HealthCheck) -> HealthCheckResult:
    return next(c for c in monitor.report().checks if c.check == check)


def test_binds_down_fails_only_after_n_seconds_and_names_when_they_went() -> None:
    clock, binds = ManualClock(), [2]
    monitor = _monitor(clock, binds, binds_down_after_s=30)
    assert not _check(monitor, HealthCheck.BINDS_DOWN).failing
    binds[0] = 0
    went = clock.now()
    assert not _check(monitor, HealthCheck.BINDS_DOWN).failing
    clock.advance(timedelta(seconds=29))
    assert not _check(monitor, HealthCheck.BINDS_DOWN).failing
    clock.advance(timedelta(seconds=2))
    result = _check(monitor, HealthCheck.BINDS_DOWN)
    assert result.failing
    assert result.value is not None
    assert result.value > 30
    assert result.since is not None
    assert abs((result.since - went).total_seconds()) < 1
    binds[0] = 1
    assert not _check(monitor, HealthCheck.BINDS_DOWN).failing


def test_send_delay_p99_above_threshold_needs_more_than_one_percent_over() -> None:
    clock, binds = ManualClock(), [2]
    monitor = _monitor(clock, binds, send_delay_window_s=60, send_delay_min_samples=100)
    for _ in range(99):
        monitor.note_delay(0.2)
    monitor.note_delay(9.0)  # 1 of 100 over: p99 (nearest rank, the 99th) is still 0.2 s
    result = _check(monitor, HealthCheck.SEND_DELAY)
    assert not result.failing
    assert result.samples == 100
    assert result.value == 0.25
    monitor.note_delay(9.0)  # 2 of 101: the 100th is over
    result = _check(monitor, HealthCheck.SEND_DELAY)
    assert result.failing
    assert result.value == 9.0
    assert result.detail["over_threshold"] == 2
    clock.advance(timedelta(seconds=61))  # the window moved past them
    assert not _check(monitor, HealthCheck.SEND_DELAY).failing


def test_delivery_failure_share_over_the_window_with_a_minimum_of_outcomes() -> None:
    clock, binds = ManualClock(), [2]
    monitor = _monitor(clock, binds, failure_rate_threshold=0.2, failure_window_s=60, failure_min_samples=10)
    for _ in range(5):
        monitor.note_outcome(failed=True)
    assert not _check(monitor, HealthCheck.DELIVERY_FAILURE).failing  # too few to judge
    for _ in range(5):
        monitor.note_outcome(failed=False)
    result = _check(monitor, HealthCheck.DELIVERY_FAILURE)
    assert result.failing
    assert result.value == 0.5
    assert result.samples == 10
    for _ in range(20):
        monitor.note_outcome(failed=False)
    assert not _check(monitor, HealthCheck.DELIVERY_FAILURE).failing  # 5 of 30
