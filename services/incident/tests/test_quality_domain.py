"""The quality rules without I/O: periods, the mergeable delay histogram's accuracy against the
exact percentiles, which status counts a message, busy hours."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from incident.quality import domain
from incident.quality.domain import Histogram


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]  # DDSketch's lower quantile rank


def test_periods_are_months_or_quarters_in_shanghai_time() -> None:
    month = domain.parse_period("2026-11")
    assert month.months == ("2026-11",)
    assert month.start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert len(month.days()) == 30
    quarter = domain.parse_period("2026-Q4")
    assert quarter.months == ("2026-10", "2026-11", "2026-12")
    assert quarter.end_day == date(2027, 1, 1)
    assert len(quarter.days()) == 92
    for bad in ("2026-13", "2026-Q5", "2026-1", "26-11", "2026-11-01", "", "2026-q4"):
        with pytest.raises(ValueError, match="neither a month"):
            domain.parse_period(bad)


def test_percentiles_from_merged_buckets_are_within_the_stated_accuracy() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-1.0, 0.8) for _ in range(20_000)] + [0.0, 0.0005, 12.5]
    parts = [Histogram() for _ in range(7)]
    for i, v in enumerate(values):
        parts[i % 7].add(v, 4.0)
    total = domain.merged(parts)
    assert total.messages == len(values)
    assert total.within_target == sum(v < 4.0 for v in values)  # exact
    assert total.max_s == 12.5
    for q in (0.5, 0.95, 0.99):
        got = total.quantile(q)
        assert got is not None
        assert abs(got - _exact(values, q)) <= domain.RELATIVE_ACCURACY * _exact(values, q) + 1e-9


def test_a_histogram_survives_its_stored_form() -> None:
    h = Histogram()
    for v in (0.0, 0.1, 0.1, 3.99, 4.0, 30.0):
        h.add(v, 4.0)
    keys, counts = h.buckets()
    again = Histogram.of(keys, counts, h.messages, h.within_target, h.sum_s, h.max_s)
    assert again == h
    assert again.within_target == 4
    assert Histogram().quantile(0.5) is None


def test_a_message_is_counted_from_one_status() -> None:
    t = datetime(2026, 11, 3, tzinfo=UTC)
    later = t + timedelta(seconds=5)
    assert domain.counted_once("submitted", t, None)
    assert not domain.counted_once("delivered", t, later)  # counted from its `submitted`
    assert domain.counted_once("delivered", t, t)  # submitted and delivered in one step
    assert not domain.counted_once("failed", None, later)
    assert not domain.counted_once("failed", t, later)


def test_the_busy_hour_is_the_days_busiest_clock_hour_in_shanghai() -> None:
    day_start = datetime(2026, 11, 2, tzinfo=domain.SHANGHAI).astimezone(UTC)
    hours = [(day_start + timedelta(hours=h), 1000 * (h % 5)) for h in range(48)]
    busy = domain.busy_hours(hours)
    assert set(busy) == {date(2026, 11, 2), date(2026, 11, 3)}
    first = busy[date(2026, 11, 2)]
    assert first.messages == 4000
    assert first.hour_start.hour == 4
    assert first.mean_per_second == pytest.approx(4000 / 3600)


def test_what_counts_as_an_unsubscription_request() -> None:
    for text in (
        "TD",
        "td",
        "TDNEWS",
        "TD NEWS",
        "ｔｄ ＮＥＷＳ",
        "退订",
        "退订NEWS",
        "取消 天气",
        "0000",
        "00000",
        " 00000 ",
    ):
        assert domain.is_unsubscribe_request(text), text
    for text in ("Y", "hello", "TD is too slow", "000", "000000", "2", "5", "订购NEWS"):
        assert not domain.is_unsubscribe_request(text), text


def test_a_charge_after_an_unsubscription_bills_something_after_it() -> None:
    cancelled = datetime(2031, 8, 12, 2, 0, tzinfo=UTC)  # August in Shanghai

    def charge(period: str | None, after: timedelta) -> domain.ChargeSeen:
        return domain.ChargeSeen(
            uuid.uuid4(), uuid.uuid4(), "8613900001111", "NEWS", period, None, cancelled + after
        )

    assert not domain.charge_after_unsubscription(
        charge("2031-08", timedelta(days=20)), cancelled
    )  # the tariff's
    assert domain.charge_after_unsubscription(charge("2031-09", timedelta(days=20)), cancelled)
    assert domain.charge_after_unsubscription(charge(None, timedelta(seconds=1)), cancelled)
    assert not domain.charge_after_unsubscription(charge(None, -timedelta(seconds=1)), cancelled)
    assert not domain.charge_after_unsubscription(charge("2031-09", -timedelta(seconds=1)), cancelled)
