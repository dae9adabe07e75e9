"""Availability, MTTR and MTBF of one service over one period, from impact intervals, by a
stated rule. Pure: the intervals come in, the figures and the intervals as counted go out, so
anyone can recompute them.

The rule (`AvailabilityRule.describe()` says it in words in every answer):
- The period is the month in Asia/Shanghai, up to now when the month is not over.
- Each instant of the period is down with a weight: 1 inside a full outage (or maintenance not
  announced on time), `partial_weight` (default 0.3, as Statuspage counts) inside a partial
  outage, the largest weight when intervals overlap, 0 elsewhere. An instant inside maintenance
  announced on time is excluded from the period altogether (when the rule excludes it; else it
  counts whole).
- A maintenance window counts from its start to its completion once it has run (a cancelled one
  or one still to come counts nothing). It was announced on time when it is not an emergency and
  a notice of the start it ran at went out at least the notice period (72 h) before it; then the
  time up to the end that notice gave is maintenance announced on time, and any time past that end
  (an extension announced late) is maintenance not announced on time. An emergency window is
  maintenance not announced on time from start to end: it counts as a full outage.
- availability = 1 - weighted down time / (period - excluded time).
- MTTR = mean(resolved - impact started) of the incidents resolved in the period.
- MTBF = (period - excluded - time down at any weight) / outages started in the period.
An interval's end is when its impact ended (mitigated, else resolved); an interval still going
counts up to the end of the period (or now).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class IntervalKind(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    MAINTENANCE = "maintenance"  # work that took the service down, not announced on time: counts whole
    MAINTENANCE_ON_TIME = "maintenance_on_time"  # announced 72 h ahead: excluded by default


@dataclass(frozen=True)
class AvailabilityRule:
    partial_weight: float = 0.3
    exclude_on_time_maintenance: bool = True
    notice_hours: float = 72.0  # "on time": the maintenance notice period, for the words

    def weight(self, kind: IntervalKind) -> float | None:
        """How much an instant of this kind is down; None: the instant is not counted at all."""
        if kind is IntervalKind.PARTIAL:
            return self.partial_weight
        if kind is IntervalKind.MAINTENANCE_ON_TIME and self.exclude_on_time_maintenance:
            return None
        return 1.0

    def describe(self) -> str:
        maintenance = (
            "maintenance announced on time is excluded from the period"
            if self.exclude_on_time_maintenance
            else "maintenance announced on time counts as a full outage"
        )
        return (
            "Period: the calendar month in Asia/Shanghai, up to now while it runs. Each instant is down "
            f"with weight 1 in a full outage or in maintenance not announced on time, {self.partial_weight:g} "
            f"in a partial outage, the largest weight where intervals overlap; {maintenance}. "
            "A maintenance window counts from its start to its completion once it has run; it was "
            "announced on time when it is not an emergency and users were told of the start it ran at "
            f"at least {self.notice_hours:g} h before it, up to the end they were told then (time past "
            "that end, and every emergency window, is maintenance not announced on time). "
            "availability = 1 - weighted down time / (period - excluded time). An incident's interval "
            "runs from impact started to mitigated (else resolved, else the end of the period). "
            "MTTR = mean(resolved - impact started) of incidents resolved in the period. "
            "MTBF = (period - excluded - time down at any weight) / outages started in the period."
        )


@dataclass(frozen=True)
class ImpactInterval:
    source: str  # "incident", "maintenance"
    source_id: UUID
    kind: IntervalKind
    start: datetime
    end: datetime | None  # None: still going
    resolved_at: datetime | None = None  # an incident's resolution (MTTR); None for maintenance


@dataclass(frozen=True)
class CountedInterval:
    interval: ImpactInterval
    start: datetime  # clipped to the period
    end: datetime
    seconds: float
    weight: float | None  # None: excluded


@dataclass(frozen=True)
class Figures:
    period_start: datetime
    period_end: datetime  # the end counted: the month's end, or now
    period_seconds: float
    excluded_seconds: float
    down_seconds: float  # at any weight
    weighted_down_seconds: float
    availability: float | None  # None when nothing of the period is counted
    mttr_seconds: float | None
    mtbf_seconds: float | None
    outages: int  # started in the period
    repairs: int  # incidents resolved in the period
    intervals: list[CountedInterval]


@dataclass(frozen=True)
class Announcement:
    """A notice that told users a maintenance window's times: when it went out, what it said."""

    published_at: datetime
    starts_at: datetime
    ends_at: datetime
    emergency: bool


def maintenance_intervals(
    window_id: UUID,
    started_at: datetime,
    ended_at: datetime | None,
    emergency: bool,
    announcements: Sequence[Announcement],
    notice_period: timedelta,
) -> list[ImpactInterval]:
    """A maintenance window that ran (from `started_at` to `ended_at`, None: still going) as the
    rule counts it: announced on time up to the end users were told on time, not on time after
    that; an emergency, or a start never announced on time, not on time throughout."""
    on_time = sorted(
        (
            a
            for a in announcements
            if not a.emergency and a.starts_at == started_at and a.published_at <= started_at - notice_period
        ),
        key=lambda a: a.published_at,
    )
    if emergency or not on_time:
        return [ImpactInterval("maintenance", window_id, IntervalKind.MAINTENANCE, started_at, ended_at)]
    told_end = on_time[-1].ends_at
    if ended_at is not None and ended_at <= told_end:
        return [
            ImpactInterval("maintenance", window_id, IntervalKind.MAINTENANCE_ON_TIME, started_at, ended_at)
        ]
    return [
        ImpactInterval("maintenance", window_id, IntervalKind.MAINTENANCE_ON_TIME, started_at, told_end),
        ImpactInterval("maintenance", window_id, IntervalKind.MAINTENANCE, told_end, ended_at),
    ]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a day in Asia/Shanghai."""
    first = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return first.astimezone(UTC), (first + timedelta(days=1)).astimezone(UTC)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a month "YYYY-MM" in Asia/Shanghai; ValueError when not one."""
    first = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.astimezone(UTC), following.astimezone(UTC)


def compute(
    intervals: list[ImpactInterval], start: datetime, end: datetime, now: datetime, rule: AvailabilityRule
) -> Figures:
    stop = min(end, max(now, start))
    counted: list[CountedInterval] = []
    for interval in intervals:
        a = max(interval.start, start)
        b = min(interval.end or stop, stop)
        if b > a:
            counted.append(
                CountedInterval(interval, a, b, (b - a).total_seconds(), rule.weight(interval.kind))
            )
    excluded = down = weighted = 0.0
    points = sorted({start, stop, *(c.start for c in counted), *(c.end for c in counted)})
    for a, b in itertools.pairwise(points):
        covering = [c.weight for c in counted if c.start <= a and c.end >= b]
        length = (b - a).total_seconds()
        if not covering:
            continue
        if any(w is None for w in covering):
            excluded += length
            continue
        worst = max(w for w in covering if w is not None)
        if worst > 0:
            down += length
            weighted += worst * length
    period = (stop - start).total_seconds()
    counted_period = period - excluded
    repairs = [
        (i.resolved_at - i.start).total_seconds()
        for i in intervals
        if i.resolved_at is not None and start <= i.resolved_at < stop and i.source == "incident"
    ]
    outages = sum(
        1
        for i in intervals
        if start <= i.start < stop and (rule.weight(i.kind) or 0) > 0 and i.source == "incident"
    )
    return Figures(
        period_start=start,
        period_end=stop,
        period_seconds=period,
        excluded_seconds=excluded,
        down_seconds=down,
        weighted_down_seconds=weighted,
        availability=1 - weighted / counted_period if counted_period > 0 else None,
        mttr_seconds=sum(repairs) / len(repairs) if repairs else None,
        mtbf_seconds=(counted_period - down) / outages if outages else None,
        outages=outages,
        repairs=len(repairs),
        intervals=counted,
    )
