"""Availability, MTTR and MTBF by the stated rule (incident.availability.domain), case by case
and against a minute-by-minute count (hypothesis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.availability.domain import (
    AvailabilityRule,
    ImpactInterval,
    IntervalKind,
    compute,
    month_bounds,
)

START, END = month_bounds("2026-11")  # 30 days, Asia/Shanghai
MONTH_S = 30 * 86400.0
AFTER = END + timedelta(days=1)
RULE = AvailabilityRule()


def interval(
    kind: IntervalKind,
    start_h: float,
    hours: float | None,
    resolved_h: float | None = None,
    source: str = "incident",
) -> ImpactInterval:
    begin = START + timedelta(hours=start_h)
    return ImpactInterval(
        source=source,
        source_id=uuid.uuid4(),
        kind=kind,
        start=begin,
        end=None if hours is None else begin + timedelta(hours=hours),
        resolved_at=None if resolved_h is None else START + timedelta(hours=resolved_h),
    )


def test_the_month_is_the_shanghai_month() -> None:
    assert datetime(2026, 10, 31, 16, tzinfo=UTC) == START
    assert datetime(2026, 11, 30, 16, tzinfo=UTC) == END
    with pytest.raises(ValueError, match="does not match"):
        month_bounds("2026-13")


def test_a_full_outage_counts_whole_and_gives_mttr_and_mtbf() -> None:
    f = compute([interval(IntervalKind.FULL, 10, 2, resolved_h=12.5)], START, END, AFTER, RULE)
    assert f.weighted_down_seconds == 7200
    assert f.availability == pytest.approx(1 - 7200 / MONTH_S)
    assert f.mttr_seconds == 2.5 * 3600  # resolved - impact started
    assert f.mtbf_seconds == MONTH_S - 7200
    assert f.outages == 1
    assert f.repairs == 1


def test_a_partial_outage_is_weighted_and_overlaps_take_the_larger_weight() -> None:
    partial = interval(IntervalKind.PARTIAL, 0, 10)
    full = interval(IntervalKind.FULL, 5, 2)
    f = compute([partial, full], START, END, AFTER, RULE)
    assert f.down_seconds == 10 * 3600
    assert f.weighted_down_seconds == pytest.approx(8 * 3600 * 0.3 + 2 * 3600)
    half = compute([partial], START, END, AFTER, AvailabilityRule(partial_weight=0.5))
    assert half.weighted_down_seconds == 5 * 3600


def test_maintenance_announced_on_time_is_left_out_of_the_period_and_late_maintenance_counts() -> None:
    on_time = interval(IntervalKind.MAINTENANCE_ON_TIME, 20, 4, source="maintenance")
    f = compute([on_time], START, END, AFTER, RULE)
    assert f.excluded_seconds == 4 * 3600
    assert f.availability == 1.0
    assert f.outages == 0
    counted = compute([on_time], START, END, AFTER, AvailabilityRule(exclude_on_time_maintenance=False))
    assert counted.availability == pytest.approx(1 - 4 * 3600 / MONTH_S)
    late = compute([interval(IntervalKind.MAINTENANCE, 20, 4)], START, END, AFTER, RULE)
    assert late.weighted_down_seconds == 4 * 3600
    # an outage inside an on-time window: the instant is excluded
    both = compute([on_time, interval(IntervalKind.FULL, 21, 1)], START, END, AFTER, RULE)
    assert both.weighted_down_seconds == 0
    assert both.excluded_seconds == 4 * 3600


def test_intervals_are_clipped_to_the_month_and_an_ongoing_one_counts_up_to_now() -> None:
    before = interval(IntervalKind.FULL, -5, 6, resolved_h=2)  # began in October
    f = compute([before], START, END, AFTER, RULE)
    assert f.weighted_down_seconds == 3600
    assert f.outages == 0  # it started before the period
    assert f.repairs == 1
    now = START + timedelta(days=3)
    ongoing = compute([interval(IntervalKind.FULL, 48, None)], START, END, now, RULE)
    assert ongoing.period_seconds == 3 * 86400
    assert ongoing.weighted_down_seconds == 86400
    assert ongoing.mttr_seconds is None
    assert ongoing.intervals[0].end == now


def test_nothing_happened() -> None:
    f = compute([], START, END, AFTER, RULE)
    assert f.availability == 1.0
    assert f.mttr_seconds is None
    assert f.mtbf_seconds is None
    assert "0.3" in RULE.describe()


_kinds = st.sampled_from(list(IntervalKind))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(_kinds, st.integers(-100, 30 * 24 * 60 + 100), st.integers(1, 3000)),
        max_size=6,
    ),
    st.sampled_from([0.0, 0.3, 1.0]),
)
def test_the_figures_equal_a_minute_by_minute_count(
    spans: list[tuple[IntervalKind, int, int]], weight: float
) -> None:
    """Whole-minute intervals: each minute of the month is down by the largest weight covering
    it, or excluded; the sums must be what `compute` says."""
    rule = AvailabilityRule(partial_weight=weight)
    intervals = [
        ImpactInterval(
            "incident" if kind is not IntervalKind.MAINTENANCE_ON_TIME else "maintenance",
            uuid.uuid4(),
            kind,
            START + timedelta(minutes=begin),
            START + timedelta(minutes=begin + length),
        )
        for kind, begin, length in spans
    ]
    excluded = weighted = 0.0
    for minute in range(30 * 24 * 60):
        covering = [rule.weight(k) for k, b, n in spans if b <= minute < b + n]
        if any(w is None for w in covering):
            excluded += 60
        elif covering:
            weighted += 60 * max(w for w in covering if w is not None)
    f = compute(intervals, START, END, AFTER, rule)
    assert f.excluded_seconds == pytest.approx(excluded)
    assert f.weighted_down_seconds == pytest.approx(weighted)
    assert f.availability == pytest.approx(1 - weighted / (MONTH_S - excluded))
