"""The public complaint pages (complaints/complaint/pages.py): the form a user fills in without
an account, and the page that follows the complaint with its tracking code and the number's last
four digits. Over HTTP first (what is stored and sent, errors as the form again), then in a real
browser (Debian's chromium, no JavaScript) with a screenshot of each page kept in
test-artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from playwright.async_api import expect

from complaints.main import create_app
from complaints.settings import ComplaintsSettings
from complaints.sla.domain import SHANGHAI
from vas_devstack.browser import OpenPage, screenshot, submit
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, read_events, serve_on_port, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)
CJK_FONT = "WenQuanYi Micro Hei"
CODE_ON_PAGE = re.compile(r"code=([A-Za-z0-9-]+)")


class FixedClock:
    def now(self) -> datetime:
        return NOW


def settings(database: str, kafka: Any) -> ComplaintsSettings:
    return ComplaintsSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        sla_tick_interval_s=3600,
        web_complaints_per_number_per_hour=2,
    )


async def acknowledgements(bootstrap: str, msisdn: str, count: int) -> list[str]:
    found = await read_events(
        bootstrap,
        "sms.send-requests",
        lambda e: (
            getattr(e.payload, "recipient", None) == msisdn
            and getattr(e.payload, "reason", "") == "complaints.ack"
        ),
        count,
    )
    return [event.payload.text for event, _ in found]


async def test_the_form_opens_a_complaint_the_user_can_follow(database: str, kafka: Any) -> None:
    async with serve_on_port(create_app(settings(database, kafka), FixedClock())) as client:
        form = await client.get("/complaints/new")
        assert form.status_code == 200
        assert '<html lang="zh-CN">' in form.text
        assert 'name="msisdn"' in form.text
        assert "扣费问题" in form.text
        assert form.headers["cache-control"] == "no-store"

        sent = await client.post(
            "/complaints/new",
            data={
                "msisdn": "+86 138 0000 4321",
                "category": "billing",
                "product_code": "news",
                "summary": "多扣5元",
            },
        )
        assert sent.status_code == 303, sent.text
        found = CODE_ON_PAGE.search(sent.headers["location"])
        assert found
        code = found.group(1)
        assert sent.headers["location"] == f"/complaints/track?code={code}&received=1"

        # stored as a web complaint of that number and product, and the SMS has the code
        queue = (await client.get("/v1/complaints", headers=OPERATOR)).json()
        mine = [item["complaint"] for item in queue if item["complaint"]["tracking_code"] == code]
        assert [(c["channel"], c["msisdn"], c["product_code"]) for c in mine] == [
            ("web", "8613800004321", "NEWS")
        ]
        texts = await acknowledgements(kafka.bootstrap, "8613800004321", 1)
        assert len(texts) == 1
        assert code in texts[0]

        received = await client.get(sent.headers["location"])
        assert "您的投诉已受理" in received.text
        assert code in received.text
        assert "8613800004321" not in received.text

        tracked = await client.get("/complaints/track", params={"code": code, "last4": "4321"})
        assert tracked.status_code == 200
        assert "处理中" in tracked.text
        assert "已受理" in tracked.text
        assert "2026-12-03 10:00" in tracked.text  # Beijing time
        assert "多扣5元" not in tracked.text  # the page shows the steps, not what was written

        wrong = await client.get("/complaints/track", params={"code": code, "last4": "0000"})
        unknown = await client.get("/complaints/track", params={"code": "TS0000000000", "last4": "4321"})
        broken = await client.get("/complaints/track", params={"code": "<script>", "last4": "43a1"})
        for answer in (wrong, unknown, broken):
            assert answer.status_code == 404
            assert "受理编号或手机号码后四位不正确" in answer.text
            assert "<script>" not in answer.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"msisdn": "12345", "category": "billing", "summary": "扣费"}, "请填写正确的11位手机号码"),
        ({"msisdn": "13800004321", "category": "billing", "summary": ""}, "请检查填写的内容"),
        ({"msisdn": "13800004321", "category": "lottery", "summary": "扣费"}, "请检查填写的内容"),
        (
            {"msisdn": "13800004321", "category": "billing", "summary": "x", "product_code": "a b"},
            "请检查填写的内容",
        ),
    ],
)
async def test_a_wrong_form_comes_back_with_what_to_correct(
    complaints: Any, fields: dict[str, str], message: str
) -> None:
    answer = await complaints.client.post("/complaints/new", data=fields)
    assert answer.status_code == 422
    assert message in answer.text
    assert f'value="{fields["msisdn"]}"' in answer.text  # what the user typed is kept
    assert (await complaints.client.get("/v1/complaints", headers=OPERATOR)).json() == []


async def test_the_form_is_limited_per_number_like_the_api(database: str, kafka: Any) -> None:
    async with serve_on_port(create_app(settings(database, kafka), FixedClock())) as client:
        fields = {"msisdn": "13800007777", "category": "service", "summary": "无法退订"}
        for _ in range(2):
            assert (await client.post("/complaints/new", data=fields)).status_code == 303
        refused = await client.post("/complaints/new", data=fields)
        assert refused.status_code == 429
        assert "提交次数过多" in refused.text
        assert "retry-after" in refused.headers
        api = await client.post("/v1/public/complaints", json=fields)
        assert api.status_code == 429  # one limit for the page and the API


# -- in the browser ---------------------------------------------------------------------------


async def test_a_user_complains_and_follows_it_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    async with serve_on_port(create_app(settings(database, kafka), FixedClock())) as client:
        opened = await open_page(f"{client.base_url}/complaints/new", javascript=False)
        page = opened.page
        await expect(page.get_by_role("heading", name="投诉与建议")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        fonts = await opened.fonts_of("h1")
        assert fonts.get(CJK_FONT, 0) >= 4, f"{fonts}: run `make browser` for the font"
        await page.fill("#msisdn", "13900002468")
        await page.select_option("#category", label="订购或退订")
        await page.fill("#product_code", "WEATHER")
        await page.fill("#summary", "我没有订购天气预报，却收到了扣费短信，请退订并退款。")
        await screenshot(page, request, "form")
        await submit(page, page.get_by_role("button", name="提交"))

        # the tracking code on the page, then the complaint with the number's last four digits
        status = page.get_by_role("status")
        await expect(status).to_contain_text("您的投诉已受理")
        code = (await status.locator("strong").inner_text()).strip()
        assert code
        await screenshot(page, request, "received")
        await page.fill("#last4", "2468")
        await submit(page, page.get_by_role("button", name="查询"))
        await expect(page.get_by_role("heading", name="查询投诉进度")).to_be_visible()
        facts = page.locator("table.facts")
        await expect(facts).to_contain_text(code)
        await expect(facts).to_contain_text("处理中")
        await expect(facts).to_contain_text("订购或退订")
        await expect(page.locator(".timeline li").first).to_contain_text("已受理")
        await screenshot(page, request, "tracked")

        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        assert opened.problems() == []
