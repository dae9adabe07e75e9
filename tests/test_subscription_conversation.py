"""The SMS conversation as a subscriber has it, through the SMSC simulator: a Y confirms the order
the user means, a number cancels what the user was shown, every open subscription (pending,
suspended) can be seen and cancelled, a discontinuation reaches waiting orders, the common
ways of saying yes and no are understood, and the registration success rate counts our
failures (issue #14)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # the `suite` fixture's object (tests/conftest.py)
Phone = Any  # suite.phone(msisdn)


async def confirmation_delivered(suite: Suite, msisdn: str, code: str) -> bool:
    """The user's latest order of the product knows its confirmation SMS was delivered (sms.status):
    an order that expires then was never answered, not late on our side."""
    subs = (await suite.subscription.get(f"/v1/users/{msisdn}/subscriptions", headers=OPERATOR)).json()
    mine = [s for s in subs if s["product_code"] == code]
    assert mine, f"no order of {code} for {msisdn}"
    assert mine[-1]["confirmation_sms"] == "delivered", (
        f"the confirmation to {msisdn}: {mine[-1]['confirmation_sms']}"
    )
    return True


async def subscribed(suite: Suite, phone: Phone, code: str) -> None:
    await phone.send(code, "回复Y")
    await phone.send("Y", "成功订购")
    await eventually(lambda: suite.status_is(phone.msisdn, code, "active"))


async def partner_orders(suite: Suite, partner: dict[str, Any], msisdn: str, code: str) -> dict[str, Any]:
    response = await suite.subscription.post(
        "/v1/subscriptions", headers=partner["headers"], json={"msisdn": msisdn, "product_code": code}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def test_a_y_confirms_only_the_order_the_user_means(suite: Suite) -> None:
    partner = await suite.partner()
    news = (await suite.product(partner, name="新闻头条"))["code"]
    wx = (await suite.product(partner, name="微信精选"))["code"]
    phone = suite.phone("8613760000001")

    await phone.send(news, "新闻头条", "回复Y")
    await partner_orders(suite, partner, phone.msisdn, wx)  # the partner slips in an order
    await phone.next_text("微信精选", "回复Y")
    question = await phone.send("Y", "2个待确认的订购", "1.新闻头条", "2.微信精选", "Y1")
    assert "成功订购" not in question
    assert await suite.status_of(phone.msisdn, news) == "pending"
    assert await suite.status_of(phone.msisdn, wx) == "pending"

    await phone.send("Y1", "成功订购“新闻头条”")
    await eventually(lambda: suite.status_is(phone.msisdn, news, "active"))
    assert await suite.status_of(phone.msisdn, wx) == "pending"
    # One order left: a Y is clear again (a partner-started order the user saw and answers).
    await phone.send("Y", "成功订购“微信精选”")
    await eventually(lambda: suite.status_is(phone.msisdn, wx, "active"))


async def test_two_ys_at_once_with_two_orders_waiting_activate_neither(suite: Suite) -> None:
    partner = await suite.partner()
    codes = [(await suite.product(partner, name=name))["code"] for name in ("甲业务", "乙业务")]
    phone = suite.phone("8613760000002")
    for code in codes:
        await phone.send(code, "回复Y")
    await asyncio.gather(suite.mo(phone.msisdn, "Y"), suite.mo(phone.msisdn, "y"))

    async def both_asked_which() -> bool:
        # As the handset sees them: the two identical long replies sent at once carry their own
        # concatenation references (allocated per recipient, issue #17), so they arrive as two
        # whole messages, not as one message with duplicate parts.
        asked = [
            m
            for m in suite.smsc.messages(destination=phone.msisdn)["messages"]
            if "2个待确认的订购" in m["text"]
        ]
        assert all(m["duplicates"] == 0 for m in asked)
        return len(asked) == 2 and all(m["complete"] and m["total"] > 1 for m in asked)

    await eventually(both_asked_which)
    for code in codes:
        assert await suite.status_of(phone.msisdn, code) == "pending"


async def test_a_number_cancels_what_the_last_list_showed_and_a_stale_one_gets_the_list(
    suite: Suite,
) -> None:
    partner = await suite.partner()
    other, jokes, ringtones = [
        (await suite.product(partner, name=name))["code"] for name in ("天气早知道", "每日笑话", "彩铃音乐")
    ]
    phone = suite.phone("8613760000003")
    for code in (other, jokes):
        await subscribed(suite, phone, code)
    await phone.send("0000", "1.天气早知道", "2.每日笑话")
    cancelled = await suite.subscription.get(f"/v1/users/{phone.msisdn}/subscriptions", headers=OPERATOR)
    [weather] = [s for s in cancelled.json() if s["product_code"] == other]
    by_partner = await suite.subscription.delete(
        f"/v1/subscriptions/{weather['id']}", headers=partner["headers"]
    )
    assert by_partner.status_code == 200, by_partner.text
    await phone.next_text("成功退订“天气早知道”")
    await subscribed(suite, phone, ringtones)

    # Ordering what the user has already answers with the list: that list is the menu now.
    await phone.send(jokes, "1.每日笑话", "2.彩铃音乐")
    await phone.send("2", "成功退订“彩铃音乐”")
    await eventually(lambda: suite.status_is(phone.msisdn, ringtones, "cancelled"))
    assert await suite.status_of(phone.msisdn, jokes) == "active"

    # A number that points at nothing open any more: the current list, never "nothing subscribed".
    stale = await phone.send("2", "1.每日笑话", "回复序号退订")
    assert "没有订购" not in stale
    assert await suite.status_of(phone.msisdn, jokes) == "active"
    await phone.send("7", "1.每日笑话")
    await phone.send("1", "成功退订“每日笑话”")


async def test_suspended_subscriptions_are_listed_and_cancelled_like_any_other(suite: Suite) -> None:
    partner = await suite.partner()
    first, second = [
        (await suite.product(partner, name=name, consult_hotline="4009998888"))["code"]
        for name in ("股市快讯", "英语每日一句")
    ]
    phone = suite.phone("8613760000004")
    for code in (first, second):
        await subscribed(suite, phone, code)
    when = suite.clock.now() + timedelta(hours=24, minutes=1)
    scheduled = await suite.subscription.post(
        f"/v1/users/{phone.msisdn}/suspensions",
        headers=OPERATOR,
        json={"effective_at": when.isoformat(), "reason": "欠费"},
    )
    assert scheduled.status_code == 202, scheduled.text
    await phone.next_text("“股市快讯”、“英语每日一句”", "暂停（欠费）", "4009998888")
    suite.clock.advance(timedelta(hours=25))
    await suite.subscription.post("/v1/jobs/scheduled-changes", headers=OPERATOR)
    await eventually(lambda: suite.status_is(phone.msisdn, second, "suspended"))

    await phone.send("0000", "1.股市快讯 5元/月（已暂停）", "2.英语每日一句 5元/月（已暂停）")
    await phone.send(f"TD{first}", "成功退订“股市快讯”")
    await eventually(lambda: suite.status_is(phone.msisdn, first, "cancelled"))
    await phone.send("00000", "成功退订“英语每日一句”", "不再收到业务推广短信")
    await eventually(lambda: suite.status_is(phone.msisdn, second, "cancelled"))


async def test_a_suspension_notice_goes_only_to_a_number_with_something_to_suspend(suite: Suite) -> None:
    nobody = "8613760000005"
    scheduled = await suite.subscription.post(
        f"/v1/users/{nobody}/suspensions",
        headers=OPERATOR,
        json={"effective_at": (suite.clock.now() + timedelta(days=2)).isoformat(), "reason": "欠费"},
    )
    assert scheduled.status_code == 202
    assert scheduled.json()["active_subscriptions"] == 0
    records = await suite.subscription.get(f"/v1/users/{nobody}/records", headers=OPERATOR)
    assert records.status_code == 200, records.text
    assert "suspend_notice" not in records.text
    no_zone = await suite.subscription.post(
        f"/v1/users/{nobody}/suspensions",
        headers=OPERATOR,
        json={"effective_at": "2030-01-01T00:00:00", "reason": "欠费"},
    )
    assert no_zone.status_code == 422


async def test_td_withdraws_a_waiting_order_and_a_later_y_finds_nothing(suite: Suite) -> None:
    partner = await suite.partner()
    code = (await suite.product(partner, name="美食推荐"))["code"]
    phone = suite.phone("8613760000006")
    await phone.send(code, "回复Y")
    reply = await phone.send(f"TD{code}", "取消尚未确认的订购“美食推荐”", "未收取任何费用")
    assert "成功退订" not in reply
    await eventually(lambda: suite.status_is(phone.msisdn, code, "cancelled"))
    await phone.send("Y", "没有待确认")
    assert await suite.status_of(phone.msisdn, code) == "cancelled"
    # 退订 and 取消 are TD too; 00000 with only a waiting order does not call it 成功退订.
    await phone.send(code, "回复Y")
    await phone.send("取消", "取消尚未确认的订购“美食推荐”")
    await phone.send(code, "回复Y")
    opted_out = await phone.send("00000", "取消尚未确认的订购“美食推荐”", "不再收到业务推广短信")
    assert "成功退订" not in opted_out


async def test_a_discontinuation_withdraws_waiting_orders_with_a_notice(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="旧版彩信")
    phone = suite.phone("8613760000007")
    await phone.send(product["code"], "回复Y")
    effective = suite.clock.now() + timedelta(days=31)
    ok = await suite.subscription.post(
        f"/v1/products/{product['id']}/discontinuation",
        headers=partner["headers"],
        json={"effective_at": effective.isoformat(), "reason": "业务调整"},
    )
    assert ok.status_code == 200, ok.text
    await phone.next_text("“旧版彩信”将于", "（北京时间）停止服务", "尚未确认的订购已取消")
    await eventually(lambda: suite.status_is(phone.msisdn, product["code"], "cancelled"))
    await phone.send("Y", "没有待确认")
    assert await suite.status_of(phone.msisdn, product["code"]) == "cancelled"


async def test_users_say_yes_as_they_talk_and_an_unreadable_answer_counts_against_us(suite: Suite) -> None:
    partner = await suite.partner()
    code = (await suite.product(partner, name="每日一诗"))["code"]
    answers = ["Y.", "ｙ", "是的", "确认", "OK", "好的", "Y。"]
    phones = [suite.phone(f"86137600001{i:02d}") for i in range(len(answers))]
    for phone, answer in zip(phones, answers, strict=True):
        await phone.send(code, "回复Y")
        await phone.send(answer, "成功订购“每日一诗”")
    for phone in phones:
        await eventually(lambda phone=phone: suite.status_is(phone.msisdn, code, "active"))

    unread, silent = suite.phone("8613760000201"), suite.phone("8613760000202")
    for phone in (unread, silent):
        await phone.send(code, "回复Y")
    await unread.send("嗯嗯", "“每日一诗”还在等待您的确认", f"回复TD{code}取消")
    await eventually(lambda: confirmation_delivered(suite, silent.msisdn, code))
    suite.clock.advance(timedelta(hours=24, seconds=1))
    expired = await suite.subscription.post("/v1/jobs/expire-pending", headers=OPERATOR)
    assert expired.json()["affected"] == 2

    success = (await suite.subscription.get("/v1/registration-success", headers=OPERATOR)).json()
    assert success["confirmed"] == len(answers)
    assert success["failed"] == 1  # the user who answered and was not understood
    assert success["never_answered"] == 1  # counted apart, not in the rate
    assert success["failed_by_reason"] == {
        "answer_unmatched": 1,
        "confirmation_undelivered": 0,
        "confirmation_late": 0,
    }
    assert success["rate"] == len(answers) / (len(answers) + 1)
    assert success["met"] is False
    assert success["attempts"] == {"confirmed": len(answers), "unrecognised": 1}
