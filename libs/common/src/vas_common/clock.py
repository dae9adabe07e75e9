"""Time as a dependency: services read `clock.now()`, tests move a ManualClock forward
(24-hour confirmation windows, 30-day notices, 6-month retention) without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Real time plus an offset that tests move forward: time still flows (orderings by time
    stay meaningful), and a test can jump a day or a month ahead."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        self._offset += delta
        return self.now()
