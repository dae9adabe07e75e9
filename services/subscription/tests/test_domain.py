"""Billing periods, the monthly fee rule, per-message fees, refunds and the retention horizon:
pure rules, months counted in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subscription.domain import (
    SHANGHAI,
    BillingType,
    message_charge,
    monthly_charge,
    period_bounds,
    period_of,
    refundable,
    retention_cutoff,
    shift_period,
)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_period_bounds_are_shanghai_months_and_december_rolls_over() -> None:
    start, end = period_bounds("2026-11")
    assert start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert period_bounds("2026-12") == (cst(2026, 12, 1), cst(2027, 1, 1))
    assert period_bounds("2027-01") == (cst(2027, 1, 1), cst(2027, 2, 1))


def test_period_of_an_instant_is_its_shanghai_month() -> None:
    assert period_of(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)) == "2026-11"
    assert period_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"
    assert period_of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == "2027-01"


@pytest.mark.parametrize(
    ("period", "months", "expected"),
    [
        ("2026-11", -1, "2026-10"),
        ("2026-01", -1, "2025-12"),
        ("2026-11", 2, "2027-01"),
        ("2026-11", -6, "2026-05"),
    ],
)
def test_shift_period(period: str, months: int, expected: str) -> None:
    assert shift_period(period, months) == expected


NOV = "2026-11"
BEFORE = cst(2026, 9, 15)
IN_NOV = cst(2026, 11, 10)


def fee(
    confirmed_at: datetime | None,
    ended_at: datetime | None = None,
    first: str = "full",
    last: str = "full",
    period: str = NOV,
    price: int = 500,
) -> int | None:
    return monthly_charge(confirmed_at, ended_at, price, first, last, period)


def test_an_active_subscription_owes_the_month() -> None:
    assert fee(BEFORE) == 500
    assert fee(BEFORE, ended_at=cst(2027, 2, 1)) == 500


def test_nothing_before_confirmation_or_after_the_end() -> None:
    assert fee(None) is None  # never confirmed: pending or expired
    assert fee(cst(2026, 12, 1)) is None  # confirmed after the month
    assert fee(BEFORE, ended_at=cst(2026, 10, 20)) is None  # ended before it
    assert fee(BEFORE, ended_at=cst(2026, 11, 1)) is None  # ended the instant it began


def test_first_month_full_or_free() -> None:
    assert fee(IN_NOV, first="full") == 500
    assert fee(IN_NOV, first="free") is None
    assert fee(IN_NOV, first="free", period="2026-12") == 500  # only the first month is free


def test_last_month_full_or_none() -> None:
    ended = cst(2026, 11, 20)
    assert fee(BEFORE, ended_at=ended, last="full") == 500
    assert fee(BEFORE, ended_at=ended, last="none") is None


def test_signing_up_and_cancelling_in_one_month_follows_the_first_month_rule() -> None:
    # Otherwise a user could subscribe and cancel within a month and never pay.
    ended = cst(2026, 11, 20)
    assert fee(IN_NOV, ended_at=ended, first="full", last="none") == 500
    assert fee(IN_NOV, ended_at=ended, first="free", last="full") is None


def test_the_month_boundary_is_shanghai_midnight() -> None:
    # 2026-10-31 16:30 UTC is 1 November 00:30 in Shanghai: the first month is November.
    confirmed = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
    assert fee(confirmed, period="2026-10") is None
    assert fee(confirmed, first="free") is None
    assert fee(confirmed, first="free", period="2026-12") == 500


def test_a_free_product_owes_nothing() -> None:
    assert fee(BEFORE, price=0) is None


def test_message_charge_only_for_per_message_products() -> None:
    assert message_charge(BillingType.PER_MESSAGE, 10) == 10
    assert message_charge(BillingType.MONTHLY, 500) is None
    assert message_charge(BillingType.PER_MESSAGE, 0) is None


def test_refunds_stay_within_the_charge() -> None:
    assert refundable(500, 0) == 500
    assert refundable(500, 200) == 300
    assert refundable(500, 500) == 0


def test_retention_keeps_at_least_six_whole_shanghai_months() -> None:
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert retention_cutoff(now, 6) == cst(2026, 5, 1)
    # 1 December 01:00 in Shanghai is still 30 November in UTC
    assert retention_cutoff(datetime(2026, 11, 30, 17, 0, tzinfo=UTC), 6) == cst(2026, 6, 1)
    assert retention_cutoff(cst(2026, 1, 1), 6) == cst(2025, 7, 1)
    first_of_month = cst(2026, 12, 1)
    assert first_of_month - retention_cutoff(first_of_month, 6) >= timedelta(days=181)
