"""How an MO is read and what the user is told back: users answer the way they talk (Y., ｙ, 是的,
确认, OK all confirm; 退订 and 取消 unsubscribe like TD), and a cancellation says what it did."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from subscription.domain import (
    BillingType,
    Menu,
    MenuPurpose,
    MoKind,
    Subscription,
    SubscriptionStatus,
    cancelled_text,
    list_text,
    opted_out_text,
    parse_mo,
    suspend_notice,
    waiting_text,
)


@pytest.mark.parametrize(
    "text",
    [
        "Y",
        "y",
        " Y ",
        "Y.",
        "y。",
        "ｙ",
        "Ｙ",
        "YES",
        "yes!",
        "OK",
        "ok",
        "是",
        "是的",
        "是的！",
        "确认",
        "确定",
        "好的",
    ],
)
def test_the_common_affirmatives_confirm(text: str) -> None:
    assert parse_mo(text).kind is MoKind.CONFIRM


@pytest.mark.parametrize(
    ("text", "number"), [("Y1", "1"), ("y 2", "2"), ("Ｙ３", "3"), ("Y01", "1"), ("Y12.", "12")]
)
def test_y_and_a_number_picks_a_waiting_order(text: str, number: str) -> None:
    command = parse_mo(text)
    assert (command.kind, command.argument) == (MoKind.CONFIRM_CHOICE, number)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("TD", None),
        ("td", None),
        ("退订", None),
        ("取消", None),
        ("取消。", None),
        ("TDNEWS", "NEWS"),
        ("退订NEWS", "NEWS"),
        ("取消 news", "NEWS"),
        ("ＴＤ", None),
    ],
)
def test_td_tuiding_and_quxiao_unsubscribe(text: str, code: str | None) -> None:
    command = parse_mo(text)
    assert (command.kind, command.argument) == (MoKind.UNSUBSCRIBE, code)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("0000", MoKind.LIST),
        ("００００", MoKind.LIST),
        ("00000", MoKind.UNSUBSCRIBE_ALL),
        ("2", MoKind.MENU_CHOICE),
        ("２", MoKind.MENU_CHOICE),
        ("0", MoKind.SUBSCRIBE),
        ("不要", MoKind.UNKNOWN),
        ("Y?!Y", MoKind.UNKNOWN),
    ],
)
def test_other_words(text: str, kind: MoKind) -> None:
    assert parse_mo(text).kind is kind


def test_a_menu_answers_only_numbers_of_its_own_purpose_within_its_length() -> None:
    items = [uuid.uuid4(), uuid.uuid4()]
    menu = Menu(MenuPurpose.CANCEL, items)
    assert menu.pick(MenuPurpose.CANCEL, 2) == items[1]
    assert menu.pick(MenuPurpose.CANCEL, 3) is None
    assert menu.pick(MenuPurpose.CANCEL, 0) is None
    assert menu.pick(MenuPurpose.CONFIRM, 1) is None


def sub(name: str, status: SubscriptionStatus, code: str = "NEWS") -> Subscription:
    at = datetime(2027, 1, 1, tzinfo=UTC)
    return Subscription(
        id=uuid.uuid4(), msisdn="8613800000000", product_id=uuid.uuid4(), product_code=code, product_name=name,
        price_fen=500, billing_type=BillingType.MONTHLY, partner_id=uuid.uuid4(), status=status, channel="sms",
        requested_at=at, confirm_by=at, confirmed_at=None, ended_at=None, end_channel=None, last_content_at=None,
    )  # fmt: skip


def test_cancelling_an_order_never_confirmed_is_not_called_unsubscribing() -> None:
    text = cancelled_text(
        "P", [sub("新闻", SubscriptionStatus.ACTIVE), sub("笑话", SubscriptionStatus.PENDING)]
    )
    assert "成功退订“新闻”" in text
    assert "取消尚未确认的订购“笑话”，未收取任何费用" in text
    assert "成功退订“笑话”" not in text
    assert "成功退订" not in cancelled_text("P", [sub("笑话", SubscriptionStatus.PENDING)])


def test_00000_says_it_opts_out_of_promotions() -> None:
    text = opted_out_text("P", [sub("新闻", SubscriptionStatus.SUSPENDED)])
    assert "成功退订“新闻”" in text
    assert "不再收到业务推广短信" in text
    assert "没有订购任何业务" in opted_out_text("P", [])
    assert "不再收到业务推广短信" in opted_out_text("P", [])


def test_the_list_shows_every_open_state() -> None:
    text = list_text(
        "P",
        [sub("新闻", SubscriptionStatus.ACTIVE), sub("笑话", SubscriptionStatus.PENDING),
         sub("彩铃", SubscriptionStatus.SUSPENDED)],
    )  # fmt: skip
    assert "1.新闻 5元/月；2.笑话 5元/月（待确认）；3.彩铃 5元/月（已暂停）" in text


def test_an_unreadable_answer_says_the_order_waits() -> None:
    assert "“新闻”还在等待您的确认：回复Y确认订购，回复TDNEWS取消" in waiting_text(
        "P", [sub("新闻", SubscriptionStatus.PENDING)]
    )
    assert "2个订购在等待您的确认" in waiting_text("P", [sub("a", SubscriptionStatus.PENDING)] * 2)


def test_a_suspension_notice_names_the_products_and_a_hotline() -> None:
    text = suspend_notice(
        "P",
        datetime(2027, 1, 2, 17, 0, tzinfo=UTC),
        "欠费",
        [sub("新闻", SubscriptionStatus.ACTIVE)],
        ["4001234567"],
    )
    assert "“新闻”将于2027年01月03日01:00（北京时间）暂停（欠费）" in text
    assert "4001234567" in text
