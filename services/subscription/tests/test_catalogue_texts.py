"""What the catalogue tells a user, in words: the first/last-month rules and dates in Beijing time
(as the notices by SMS give them)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from subscription.domain import (
    ONE_FEE_A_MONTH,
    BillingType,
    catalogue_month_rules,
    discontinue_notice,
    first_month_text,
    last_month_text,
    monthly_charge,
    shanghai_date_text,
    suspend_notice,
)


def test_each_month_rule_reads_as_words() -> None:
    assert first_month_text("full") == "首月全额收费"
    assert first_month_text("free") == "首月免费"
    assert last_month_text("full") == "退订当月全额收费"
    assert last_month_text("none") == "退订当月不收费"


@pytest.mark.parametrize(
    ("first", "last", "text"),
    [("full", "full", "首月全额收费，退订当月全额收费。"), ("free", "none", "首月免费，退订当月不收费。")],
)
def test_rules_that_agree_are_stated_as_they_are(first: str, last: str, text: str) -> None:
    assert catalogue_month_rules(BillingType.MONTHLY, first, last) == text + ONE_FEE_A_MONTH


@pytest.mark.parametrize(("first", "last"), [("full", "none"), ("free", "full")])
def test_rules_that_disagree_also_say_what_billing_charges_when_both_apply(first: str, last: str) -> None:
    ordered, cancelled = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    charged = monthly_charge(ordered, cancelled, 500, first, last, "2026-11") is not None
    text = catalogue_month_rules(BillingType.MONTHLY, first, last)
    assert text.startswith(f"{first_month_text(first)}，{last_month_text(last)}；当月订购又当月退订的，")
    assert text.endswith(("按月全额收费。" if charged else "当月不收费。") + ONE_FEE_A_MONTH)


def test_a_per_message_product_has_no_month_rules() -> None:
    assert catalogue_month_rules(BillingType.PER_MESSAGE, "free", "none") == "按条收费，不收月功能费"


def test_an_unknown_rule_is_an_error_not_a_raw_word() -> None:
    with pytest.raises(ValueError, match="none"):
        first_month_text("none")


def test_a_date_is_the_beijing_day_and_says_so() -> None:
    late_evening_utc = datetime(2027, 1, 2, 17, 0, tzinfo=UTC)
    assert shanghai_date_text(late_evening_utc) == "2027年01月03日（北京时间）"
    assert shanghai_date_text(datetime(2027, 1, 2, 15, 59, tzinfo=UTC)) == "2027年01月02日（北京时间）"


def test_the_notices_by_sms_give_the_same_labelled_beijing_time() -> None:
    late_evening_utc = datetime(2027, 1, 2, 17, 0, tzinfo=UTC)
    assert "将于2027年01月03日（北京时间）停止服务" in discontinue_notice(
        "运营商", "周末影讯", late_evening_utc
    )
    assert "将于2027年01月03日01:00（北京时间）暂停" in suspend_notice(
        "运营商", late_evening_utc, "欠费", [], []
    )
