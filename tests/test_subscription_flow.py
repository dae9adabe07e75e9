"""Subscriptions end to end through the SMSC simulator: double confirmation by SMS, expiry,
one-step unsubscription (TD, 0000 + number, 00000), notices; the sms-sender follows every change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from subscription import domain
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # the `suite` fixture's object (tests/conftest.py)


async def content_status(suite: Suite, partner: dict[str, Any], msisdn: str, product_code: str) -> int:
    response = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={"recipients": [msisdn], "content": f"{product_code} 今日内容", "product_code": product_code},
    )
    return response.status_code


async def content_is(suite: Suite, partner: dict[str, Any], msisdn: str, code: str, status: int) -> bool:
    got = await content_status(suite, partner, msisdn, code)
    assert got == status, f"content for {code} to {msisdn}: {got}, waiting for {status}"
    return True


async def refused_as(
    suite: Suite, partner: dict[str, Any], msisdn: str, product_code: str, code: str
) -> bool:
    response = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={"recipients": [msisdn], "content": f"{product_code} 今日内容", "product_code": product_code},
    )
    assert response.status_code == 422, response.text
    assert [r["code"] for r in response.json()["rejected"]] == [code], response.text
    return True


async def sms_containing(suite: Suite, msisdn: str, *parts: str) -> str:
    async def found() -> str | None:
        for text in suite.texts_to(msisdn):
            if all(p in text for p in parts):
                return text
        return None

    text: str = await eventually(found)
    return text


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


async def subscription_status(suite: Suite, msisdn: str, code: str) -> str:
    return str(await suite.status_of(msisdn, code))


async def status_is(suite: Suite, msisdn: str, code: str, wanted: str) -> bool:
    return bool(await suite.status_is(msisdn, code, wanted))


async def test_double_confirmation_by_sms_and_expiry(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="天气预报", price_fen=300)
    code = product["code"]
    user, late = "8613710000001", "8613710000002"

    await suite.mo(user, code)
    confirmation = await sms_containing(suite, user, "回复Y")
    assert "【VAS】" in confirmation  # the provider
    assert "天气预报" in confirmation  # the product
    assert "3元/月" in confirmation  # the price
    assert await subscription_status(suite, user, code) == "pending"
    assert await content_status(suite, partner, user, code) == 422  # not before the Y

    await suite.mo(user, "y")
    await eventually(lambda: status_is(suite, user, code, "active"))
    await sms_containing(suite, user, "成功订购", "天气预报")
    await eventually(lambda: content_is(suite, partner, user, code, 202))  # the sms-sender learnt it

    # No Y for 24 hours: the order expires and content stays refused.
    await suite.mo(late, code)
    await sms_containing(suite, late, "回复Y")
    await eventually(lambda: confirmation_delivered(suite, late, code))
    suite.clock.advance(timedelta(hours=24, seconds=1))
    expired = await suite.subscription.post("/v1/jobs/expire-pending", headers=OPERATOR)
    assert expired.json()["affected"] == 1
    assert await subscription_status(suite, late, code) == "expired"
    assert await content_status(suite, partner, late, code) == 422
    await suite.mo(late, "是")  # too late: nothing to confirm
    await sms_containing(suite, late, "没有待确认")
    assert await subscription_status(suite, late, code) == "expired"

    success = (await suite.subscription.get("/v1/registration-success", headers=OPERATOR)).json()
    assert success["confirmed"] >= 1
    assert success["rate"] == 1.0


async def subscribe(suite: Suite, msisdn: str, code: str) -> None:
    await suite.mo(msisdn, code)
    await eventually(lambda: status_is(suite, msisdn, code, "pending"))
    await suite.mo(msisdn, "Y")
    await eventually(lambda: status_is(suite, msisdn, code, "active"))


async def test_0000_list_then_number_then_00000(suite: Suite) -> None:
    partner = await suite.partner()
    products = [
        await suite.product(partner, name=name, price_fen=price)
        for name, price in (("新闻早报", 500), ("笑话大全", 200), ("星座运势", 100))
    ]
    codes = [p["code"] for p in products]
    user = "8613720000001"
    for code in codes:
        await subscribe(suite, user, code)
    for code in codes:
        await eventually(lambda code=code: content_is(suite, partner, user, code, 202))

    await suite.mo(user, "0000")
    listing = await sms_containing(suite, user, "1.", "2.", "3.", "回复序号")
    assert "1.新闻早报 5元/月" in listing
    assert "2.笑话大全 2元/月" in listing
    assert "3.星座运势 1元/月" in listing

    await suite.mo(user, "2")
    await eventually(lambda: status_is(suite, user, codes[1], "cancelled"))
    await sms_containing(suite, user, "退订", "笑话大全")
    await eventually(lambda: content_is(suite, partner, user, codes[1], 422))
    assert await content_status(suite, partner, user, codes[0]) == 202

    await suite.mo(user, "00000")
    for code in (codes[0], codes[2]):
        await eventually(lambda code=code: status_is(suite, user, code, "cancelled"))
        await eventually(lambda code=code: content_is(suite, partner, user, code, 422))
    # 00000 is an opt-out: no content at all. The sms-sender refuses the user's content as opted
    # out (the reason ahead of not_subscribed); content without a product is refused as a whole.
    await eventually(lambda: refused_as(suite, partner, user, codes[0], "opted_out"))
    plain = await suite.sms_sender.post(
        "/v1/messages", headers=partner["headers"], json={"recipients": [user], "content": "促销"}
    )
    assert plain.status_code == 422
    assert plain.json()["code"] == "content_needs_product"


async def test_td_alone_cancels_the_only_product_and_td_code_cancels_that_one(suite: Suite) -> None:
    partner = await suite.partner()
    first, second = (
        (await suite.product(partner, name="甲"))["code"],
        (await suite.product(partner, name="乙"))["code"],
    )
    user = "8613730000001"
    await subscribe(suite, user, first)
    await suite.mo(user, "TD")
    await eventually(lambda: status_is(suite, user, first, "cancelled"))
    await subscribe(suite, user, first)
    await subscribe(suite, user, second)
    await suite.mo(user, f"TD{second}")
    await eventually(lambda: status_is(suite, user, second, "cancelled"))
    assert await subscription_status(suite, user, first) == "active"


async def test_discontinuation_needs_30_days_and_tells_every_subscriber(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="老业务")
    users = ["8613740000001", "8613740000002"]
    for user in users:
        await subscribe(suite, user, product["code"])
    path = f"/v1/products/{product['id']}/discontinuation"

    short = await suite.subscription.post(
        path,
        headers=partner["headers"],
        json={"effective_at": (suite.clock.now() + timedelta(days=29)).isoformat(), "reason": "业务调整"},
    )
    assert short.status_code == 422
    assert short.json()["code"] == "notice_too_short"

    effective = suite.clock.now() + timedelta(days=30, minutes=1)  # 30 days, as the request arrives
    ok = await suite.subscription.post(
        path, headers=partner["headers"], json={"effective_at": effective.isoformat(), "reason": "业务调整"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["subscribers_notified"] == 2
    for user in users:
        await sms_containing(suite, user, "老业务", "停止服务")
    catalogue = (await suite.subscription.get("/v1/catalogue")).json()
    assert [p["discontinue_at"] for p in catalogue if p["code"] == product["code"]] != [None]

    suite.clock.advance(timedelta(days=30, minutes=2))
    applied = await suite.subscription.post("/v1/jobs/scheduled-changes", headers=OPERATOR)
    assert applied.json()["affected"] == 1
    for user in users:
        assert await subscription_status(suite, user, product["code"]) == "ended"
        await eventually(lambda user=user: content_is(suite, partner, user, product["code"], 422))


async def test_suspension_needs_24_hours_notice(suite: Suite) -> None:
    partner = await suite.partner()
    code = (await suite.product(partner, name="围棋课堂"))["code"]
    user = "8613750000001"
    await subscribe(suite, user, code)
    too_soon = await suite.subscription.post(
        f"/v1/users/{user}/suspensions",
        headers=OPERATOR,
        json={"effective_at": (suite.clock.now() + timedelta(hours=23)).isoformat(), "reason": "欠费"},
    )
    assert too_soon.status_code == 422
    assert too_soon.json()["code"] == "notice_too_short"
    ok = await suite.subscription.post(
        f"/v1/users/{user}/suspensions",
        headers=OPERATOR,
        json={
            "effective_at": (suite.clock.now() + timedelta(hours=24, minutes=1)).isoformat(),
            "reason": "欠费",
        },
    )
    assert ok.status_code == 202
    assert ok.json()["active_subscriptions"] == 1
    await sms_containing(suite, user, "“围棋课堂”", "暂停", "4001234567")


async def test_catalogue_lists_only_complete_published_products(suite: Suite) -> None:
    partner = await suite.partner()
    draft = await suite.subscription.post(
        "/v1/products",
        headers=partner["headers"],
        json={"code": "INCOMPLETE1", "name": "缺信息", "billing_type": "per_message", "price_fen": 10},
    )
    assert draft.status_code == 201
    refused = await suite.subscription.post(
        f"/v1/products/{draft.json()['id']}/publication", headers=partner["headers"]
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "product_incomplete"
    assert "consult_hotline" in refused.json()["missing"]
    product = await suite.product(partner, name="图片彩信", billing_type="per_message", price_fen=10)
    listed = {p["code"]: p for p in (await suite.subscription.get("/v1/catalogue")).json()}
    assert "INCOMPLETE1" not in listed
    assert listed[product["code"]]["price"] == "0.1元/条"
    page = await suite.subscription.get("/catalogue")
    assert page.headers["content-type"].startswith("text/html")
    assert "图片彩信" in page.text
    assert "4001234567" in page.text


async def test_the_catalogue_tells_a_user_the_end_date_in_beijing_time_the_rules_and_the_provider(
    suite: Suite,
) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="周末影讯", first_month="free", last_month="none")
    # 17:00 UTC is 01:00 the next day in Beijing: the day a user is told is the later one.
    day = (suite.clock.now() + timedelta(days=40)).astimezone(UTC).date()
    effective = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)
    beijing_day = effective.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y年%m月%d日")
    ok = await suite.subscription.post(
        f"/v1/products/{product['id']}/discontinuation",
        headers=partner["headers"],
        json={"effective_at": effective.isoformat(), "reason": "业务调整"},
    )
    assert ok.status_code == 200, ok.text

    response = await suite.subscription.get("/v1/catalogue")
    assert partner["id"] not in response.text
    [entry] = [p for p in response.json() if p["code"] == product["code"]]
    assert "partner_id" not in entry
    assert entry["provider"] == partner["name"]
    assert entry["month_rules"] == "首月免费，退订当月不收费。" + domain.ONE_FEE_A_MONTH
    assert entry["discontinue_on"] == f"{beijing_day}（北京时间）"
    assert entry["discontinue_at"].endswith("+08:00")
    assert datetime.fromisoformat(entry["discontinue_at"]) == effective

    page = (await suite.subscription.get("/catalogue")).text
    section = page[page.index(product["code"]) :].split("</section>", 1)[0]
    assert f"{beijing_day}（北京时间）" in section
    assert effective.date().isoformat() not in section
    assert partner["name"] in section
    assert "首月免费，退订当月不收费" in section
    assert ">free<" not in section
    assert ">none<" not in section
    assert partner["id"] not in page


async def test_the_operator_cancels_only_the_subscription_of_the_user_named(suite: Suite) -> None:
    partner = await suite.partner()
    code = (await suite.product(partner, name="健康贴士", price_fen=200))["code"]
    user, someone_else = "8613710000041", "8613710000042"
    await subscribe(suite, user, code)
    [sub] = (await suite.subscription.get(f"/v1/users/{user}/subscriptions", headers=OPERATOR)).json()

    wrong = await suite.subscription.delete(
        f"/v1/users/{someone_else}/subscriptions/{sub['id']}", headers=OPERATOR
    )
    assert wrong.status_code == 404, wrong.text
    assert wrong.json()["code"] == "subscription_not_found"
    assert await subscription_status(suite, user, code) == "active"

    right = await suite.subscription.delete(f"/v1/users/{user}/subscriptions/{sub['id']}", headers=OPERATOR)
    assert right.status_code == 200, right.text
    assert right.json()["status"] == "cancelled"
