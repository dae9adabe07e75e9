"""The public status page in a real browser (Debian's chromium, no JavaScript): Chinese drawn
with a CJK font, the suite's stylesheet, nothing from another host; the screenshot is kept in
test-artifacts/screenshots/. The catalogue is given to the service directly here; the way it
arrives through subscription.events is tests/test_status_page.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from incident.main import create_app
from incident.settings import IncidentSettings
from incident.status.service import StatusService
from vas_common.events.subscription import ProductListing
from vas_devstack.browser import SCREENSHOTS, OpenPage
from vas_devstack.pytest_plugin import serve_on_port, service_settings_kwargs

CJK_FONT = "WenQuanYi Micro Hei"


def listing(code: str, name: str, price: str, scope: str) -> ProductListing:
    return ProductListing(
        product_id=uuid.uuid4(),
        product_code=code,
        partner_id=uuid.uuid4(),
        name=name,
        provider="星辰文化传媒",
        billing_type="monthly",
        price_fen=int(float(price.removesuffix("元/月")) * 100),
        price=price,
        description="每天一条",
        availability=scope,
        how_to_cancel="回复TD加业务代码退订，免费",
        charge_rule="按月收费",
        month_rules="首月免费",
        fault_hotline="10086",
        consult_hotline="4001234567",
        occurred_at=datetime.now(UTC),
    )


async def shot(page: Page, request: pytest.FixtureRequest, name: str) -> Path:
    path = request.config.rootpath / SCREENSHOTS / f"{request.node.name}-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True)
    return path


async def test_the_status_page_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap), provider_name="星辰短信"
    )
    app = create_app(settings)
    async with serve_on_port(app) as client:
        status: StatusService = app.state.status_service
        weather = listing("TQYB", "天气预报", "3元/月", "广东省内移动用户")
        jokes = listing("XHJX", "笑话精选", "2元/月", "全国")
        for product in (weather, jokes):
            await status.note_listing(product)
        await status.note_discontinuation(
            jokes.product_id, datetime.now(UTC) + timedelta(days=31), "合作到期"
        )

        opened = await open_page(f"{client.base_url}/status", javascript=False)
        page = opened.page
        await expect(page.get_by_role("heading", name="服务状态与服务承诺")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#commitment-availability")).to_contain_text("99.6%")
        await expect(page.locator("#product-TQYB")).to_contain_text("3元/月")
        await expect(page.locator("#product-TQYB")).to_contain_text("广东省内移动用户")
        await expect(page.locator("#ending-XHJX")).to_contain_text("合作到期")
        fonts = await opened.fonts_of("h1")
        assert fonts.get(CJK_FONT, 0) >= 4, f"{fonts}: run `make browser` for the font"
        await shot(page, request, "status")
        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        assert opened.problems() == []
