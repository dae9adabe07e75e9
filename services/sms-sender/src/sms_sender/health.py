"""The dispatcher's health signals (`sms.health`), for the incident service to open and resolve
incidents by itself.

Each dispatcher process reports, every `interval_s`, three checks on what only it knows:
- `binds_down`: every bind to its SMSC has been down for longer than N s (`since` = when the
  last one went, as seen by the report loop);
- `send_delay`: accept -> submit_sm_resp p99 above the threshold (4 s, the promise) over the
  last M s, once the window holds enough messages (`since`: the first report that found it);
- `delivery_failure`: the share of final failures (refused by the SMSC, or a failed receipt),
  per segment, above a threshold over a window, once the window holds enough outcomes.

The hot path only counts: a delay or an outcome adds one to the current time slot (a window is
30 slots), so a report costs the same at 5 or 500 msg/s. p99 > T is decided exactly from the
count of delays over T (nearest rank: more than n - ceil(0.99 n) of them); the p99 value in the
evidence is an estimate from fixed buckets, capped by the largest delay seen. A report goes out
whatever the state (failing or not): a lost one is replaced by the next, and healthy reports are
what ends a fault. It is published directly, not through the outbox: it is no database change,
and the next report supersedes it.
"""

from __future__ import annotations

import bisect
import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from vas_common.clock import Clock
from vas_common.events.sms_sender import HealthCheck, HealthCheckResult, HealthReport

# Upper bounds (seconds) of the delay buckets the p99 estimate is read from.
_DELAY_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 16.0, 30.0, 60.0, math.inf)
_SLOTS_PER_WINDOW = 30


@dataclass(frozen=True)
class HealthRules:
    binds_down_after_s: float = 30.0
    send_delay_threshold_s: float = 4.0
    send_delay_quantile: float = 0.99
    send_delay_window_s: float = 300.0
    send_delay_min_samples: int = 20
    failure_rate_threshold: float = 0.2
    failure_window_s: float = 300.0
    failure_min_samples: int = 50


class _Slot:
    __slots__ = ("buckets", "failed", "index", "max_delay", "outcomes", "over", "sent")

    def __init__(self, index: int) -> None:
        self.index = index
        self.sent = 0
        self.over = 0  # delays above the threshold
        self.max_delay = 0.0
        self.buckets = [0] * len(_DELAY_BOUNDS)
        self.outcomes = 0
        self.failed = 0


@dataclass(frozen=True)
class DelayFigures:
    samples: int
    over: int
    p99_estimate: float | None


class HealthWindow:
    """Counts per time slot of the last windows; `now` gives seconds (the service's clock)."""

    def __init__(self, rules: HealthRules, now: Callable[[], float]) -> None:
        self.rules = rules
        self._now = now
        self._longest = max(rules.send_delay_window_s, rules.failure_window_s)
        self._slot_s = max(0.05, min(rules.send_delay_window_s, rules.failure_window_s) / _SLOTS_PER_WINDOW)
        self._slots: deque[_Slot] = deque()

    def _current(self) -> _Slot:
        index = int(self._now() // self._slot_s)
        if self._slots and self._slots[-1].index == index:
            return self._slots[-1]
        slot = _Slot(index)
        self._slots.append(slot)
        oldest = index - int(self._longest / self._slot_s) - 1
        while self._slots and self._slots[0].index < oldest:
            self._slots.popleft()
        return slot

    def note_delay(self, seconds: float) -> None:
        slot = self._current()
        slot.sent += 1
        slot.buckets[bisect.bisect_left(_DELAY_BOUNDS, seconds)] += 1
        if seconds > self.rules.send_delay_threshold_s:
            slot.over += 1
        if seconds > slot.max_delay:
            slot.max_delay = seconds

    def note_outcome(self, failed: bool) -> None:
        slot = self._current()
        slot.outcomes += 1
        if failed:
            slot.failed += 1

    def _recent(self, window_s: float) -> list[_Slot]:
        first = int((self._now() - window_s) // self._slot_s) + 1
        return [s for s in self._slots if s.index >= first]

    def delays(self) -> DelayFigures:
        slots = self._recent(self.rules.send_delay_window_s)
        samples = sum(s.sent for s in slots)
        if not samples:
            return DelayFigures(0, 0, None)
        rank = math.ceil(self.rules.send_delay_quantile * samples)
        seen = 0
        estimate = math.inf
        for i, bound in enumerate(_DELAY_BOUNDS):
            seen += sum(s.buckets[i] for s in slots)
            if seen >= rank:
                estimate = bound
                break
        estimate = min(estimate, max(s.max_delay for s in slots))
        return DelayFigures(samples, sum(s.over for s in slots), estimate)

    def failures(self) -> tuple[int, int]:
        """(outcomes, failed) over the failure window."""
        slots = self._recent(self.rules.failure_window_s)
        return sum(s.outcomes for s in slots), sum(s.failed for s in slots)


def instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class HealthMonitor:
    """Decides the checks of one dispatcher; `report()` runs every report interval."""

    def __init__(
        self,
        clock: Clock,
        rules: HealthRules,
        *,
        smsc: str,
        binds_up: Callable[[], int],
        binds_configured: int,
        interval_s: float,
        instance: str | None = None,
        route: Callable[[], str | None] | None = None,
    ) -> None:
        self._clock = clock
        self.rules = rules
        self.smsc = smsc
        self._binds_up = binds_up
        self._binds_configured = binds_configured
        self._route = route  # the SMSC route in use, when there is a standby
        self.interval_s = interval_s
        self.instance = instance or instance_id()
        self.window = HealthWindow(rules, lambda: clock.now().timestamp())
        self._down_since: datetime | None = None
        self._failing_since: dict[HealthCheck, datetime] = {}

    def note_delay(self, seconds: float) -> None:
        self.window.note_delay(seconds)

    def note_outcome(self, failed: bool) -> None:
        self.window.note_outcome(failed)

    def report(self) -> HealthReport:
        now = self._clock.now()
        return HealthReport(
            instance_id=self.instance,
            smsc=self.smsc,
            observed_at=now,
            interval_s=self.interval_s,
            checks=[self._binds(now), self._delay(now), self._failures(now)],
        )

    def _since(self, check: HealthCheck, failing: bool, now: datetime) -> datetime | None:
        if not failing:
            self._failing_since.pop(check, None)
            return None
        return self._failing_since.setdefault(check, now)

    def _binds(self, now: datetime) -> HealthCheckResult:
        up = self._binds_up()
        if up:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = now
        down_for = (now - self._down_since).total_seconds() if self._down_since else 0.0
        failing = self._down_since is not None and down_for > self.rules.binds_down_after_s
        return HealthCheckResult(
            check=HealthCheck.BINDS_DOWN,
            subject=self.smsc,
            failing=failing,
            since=self._down_since if failing else None,
            value=round(down_for, 3),
            threshold=self.rules.binds_down_after_s,
            window_s=self.interval_s,
            detail={
                "binds_up": up,
                "binds_configured": self._binds_configured,
                # Which route the binds are of: on the standby, the primary may be down for good
                # while this check passes (the mirror carries the traffic).
                **({"route": self._route()} if self._route is not None else {}),
            },
        )

    def _delay(self, now: datetime) -> HealthCheckResult:
        rules = self.rules
        figures = self.window.delays()
        allowed_over = figures.samples - math.ceil(rules.send_delay_quantile * figures.samples)
        failing = figures.samples >= rules.send_delay_min_samples and figures.over > allowed_over
        since = self._since(HealthCheck.SEND_DELAY, failing, now)
        return HealthCheckResult(
            check=HealthCheck.SEND_DELAY,
            subject=self.smsc,
            failing=failing,
            since=since,
            value=figures.p99_estimate,
            threshold=rules.send_delay_threshold_s,
            window_s=rules.send_delay_window_s,
            samples=figures.samples,
            detail={
                "quantile": rules.send_delay_quantile,
                "over_threshold": figures.over,
                "min_samples": rules.send_delay_min_samples,
            },
        )

    def _failures(self, now: datetime) -> HealthCheckResult:
        rules = self.rules
        outcomes, failed = self.window.failures()
        share = failed / outcomes if outcomes else 0.0
        failing = outcomes >= rules.failure_min_samples and share > rules.failure_rate_threshold
        since = self._since(HealthCheck.DELIVERY_FAILURE, failing, now)
        return HealthCheckResult(
            check=HealthCheck.DELIVERY_FAILURE,
            subject=self.smsc,
            failing=failing,
            since=since,
            value=round(share, 6),
            threshold=rules.failure_rate_threshold,
            window_s=rules.failure_window_s,
            samples=outcomes,
            detail={"failed": failed, "min_samples": rules.failure_min_samples},
        )
