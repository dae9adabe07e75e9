"""The public catalogue page in a real browser (Debian's chromium): Chinese a user can read, the
suite's stylesheet, no JavaScript, nothing from another host. Its screenshot is kept in
test-artifacts/screenshots/ to look at."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import expect

from subscription.main import create_app
from subscription.settings import SubscriptionSettings
from vas_devstack.browser import OpenPage
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, read_events, serve_on_port, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
BRAND_BLUE = "rgb(31, 78, 121)"  # header.site in suite.css
CJK_FONT = "WenQuanYi Micro Hei"  # fonts-wqy-microhei, installed by `make browser`


async def published_product(client: httpx.AsyncClient, partner_name: str, **fields: Any) -> dict[str, Any]:
    created = await client.post("/v1/partners", json={"name": partner_name}, headers=OPERATOR)
    assert created.status_code == 201, created.text
    headers = {"X-API-Key": created.json()["api_key"]}
    body = {
        "code": "P" + uuid.uuid4().hex[:6].upper(),
        "billing_type": "monthly",
        "price_fen": 300,
        "description": "每天早上七点发送当地天气预报",
        "availability": "全国",
        "how_to_cancel": "回复TD加业务代码，或回复0000按序号退订，免费",
        "charge_rule": "按月收费，订购成功当月收取",
        "fault_hotline": "10086",
        "consult_hotline": "4001234567",
        **fields,
    }
    product = await client.post("/v1/products", json=body, headers=headers)
    assert product.status_code == 201, product.text
    published = await client.post(f"/v1/products/{product.json()['id']}/publication", headers=headers)
    assert published.status_code == 200, published.text
    return {**published.json(), "api_key": headers["X-API-Key"]}


async def test_a_user_reads_the_catalogue_in_chinese_without_javascript(
    database: str, kafka: Any, open_page: OpenPage
) -> None:
    settings = SubscriptionSettings(**service_settings_kwargs(database, kafka.bootstrap), provider_name="VAS")
    async with serve_on_port(create_app(settings)) as client:
        product = await published_product(client, "星辰文化传媒", name="天气预报", first_month="free")

        opened = await open_page(f"{client.base_url}/catalogue", javascript=False)
        page = opened.page

        await expect(page.get_by_role("heading", name="业务与资费")).to_be_visible()
        section = page.locator(f"#product-{product['code']}")
        await expect(section.get_by_role("heading", name="天气预报")).to_be_visible()
        await expect(section.get_by_text("星辰文化传媒")).to_be_visible()
        await expect(section.get_by_text("3元/月")).to_be_visible()
        await expect(section.get_by_text("首月免费")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

        # suite.css loaded from the service itself, and applies
        assert f"{client.base_url}/static/suite/suite.css" in opened.requests
        await expect(page.locator("header.site")).to_have_css("background-color", BRAND_BLUE)

        # the Chinese is drawn with a CJK font, not as boxes
        fonts = await opened.fonts_of(f"#product-{product['code']} h2")
        assert fonts.get(CJK_FONT, 0) >= len("天气预报"), f"{fonts}: run `make browser` for the font"

        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        assert opened.screenshot.is_file()
        assert opened.screenshot.stat().st_size > 10_000


async def test_the_page_has_the_suites_security_headers(subscription_client: httpx.AsyncClient) -> None:
    page = await subscription_client.get("/catalogue")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "暂无在售业务" in page.text  # a fresh database: nothing on sale yet
    css = await subscription_client.get("/static/suite/suite.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_a_product_going_on_sale_is_announced_once_with_its_terms(database: str, kafka: Any) -> None:
    settings = SubscriptionSettings(**service_settings_kwargs(database, kafka.bootstrap), provider_name="VAS")
    async with serve_on_port(create_app(settings)) as client:
        product = await published_product(client, "晨光资讯", name="早间新闻", price_fen=500)
        repeated = await client.post(
            f"/v1/products/{product['id']}/publication", headers={"X-API-Key": product["api_key"]}
        )
        assert repeated.status_code == 200, repeated.text
        found = await read_events(
            kafka.bootstrap,
            "subscription.events",
            lambda e: e.type == "product.published" and e.payload.product_code == product["code"],
            1,
        )
    assert len(found) == 1  # publishing it again announces nothing more
    listing = found[0][0].payload
    assert (listing.name, listing.provider, listing.price, listing.availability) == (
        "早间新闻",
        "晨光资讯",
        "5元/月",
        "全国",
    )
    assert listing.how_to_cancel.startswith("回复TD")
