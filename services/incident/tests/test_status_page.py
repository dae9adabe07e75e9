"""The public status page in a real browser (Debian's chromium, no JavaScript): each service's
state, a current incident with its public updates, maintenance to come, the 90 days' bars (an
outage day, a maintenance day; a bar leads to its day's record), the commitments and the
catalogue; Chinese drawn with a CJK font, the suite's stylesheet, nothing from another host; the
screenshot is kept in test-artifacts/screenshots/. Incidents and maintenance are made through
the API on a clock the test moves; the catalogue is given to the service directly here (the way
it arrives through subscription.events is tests/test_status_page.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from incident.main import create_app
from incident.settings import IncidentSettings
from incident.status.service import StatusService
from vas_common.clock import ManualClock
from vas_common.events.subscription import ProductListing
from vas_devstack.browser import SCREENSHOTS, OpenPage
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, serve_on_port, service_settings_kwargs

CJK_FONT = "WenQuanYi Micro Hei"
SHANGHAI = ZoneInfo("Asia/Shanghai")
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
H = timedelta(hours=1)


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


async def call(client: Any, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.request(method, path, json=body, headers=OPERATOR)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def beijing_at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


async def history(client: Any, clock: ManualClock) -> tuple[str, str, str]:
    """About a week ago a maintenance announced on time ran 02:00-04:00 (Beijing) on SMS
    sending, and the day before a partial outage of the subscription service went on 3 h; now
    SMS sending is down (full impact, since an hour or since midnight) with two public updates
    and an internal note, and maintenance is scheduled 73 h ahead. Returns (the outage's id, the
    window's id, the past maintenance's day)."""
    started = beijing_at((clock.now() + 72 * H).astimezone(SHANGHAI).date() + timedelta(days=1), 2)
    await call(
        client,
        "POST",
        "/v1/maintenance-windows",
        {
            "services": ["sms-sender"],
            "starts_at": started.isoformat(),
            "ends_at": (started + 2 * H).isoformat(),
            "text_zh": "短信网关例行维护。",
        },
    )
    clock.advance(started - clock.now() + timedelta(minutes=1))
    await call(client, "POST", "/v1/jobs/maintenance-tick", {})
    clock.advance(2 * H)
    await call(client, "POST", "/v1/jobs/maintenance-tick", {})
    day_before = beijing_at(started.date() - timedelta(days=1), 10)
    past = (
        await call(
            client,
            "POST",
            "/v1/incidents",
            {
                "title": "部分用户订购失败",
                "severity": "major",
                "impact": "partial",
                "services": ["subscription"],
                "impact_started_at": day_before.isoformat(),
                "detected_at": day_before.isoformat(),
            },
        )
    )["incident"]["id"]
    await call(
        client, "POST", f"/v1/incidents/{past}/resolve", {"resolved_at": (day_before + 3 * H).isoformat()}
    )
    clock.advance(7 * 24 * H)
    now = clock.now()
    since = max(now - H, beijing_at(now.astimezone(SHANGHAI).date(), 0))
    outage = (
        await call(
            client,
            "POST",
            "/v1/incidents",
            {
                "title": "短信发送中断",
                "severity": "critical",
                "impact": "full",
                "services": ["sms-sender"],
                "impact_started_at": since.isoformat(),
                "detected_at": since.isoformat(),
            },
        )
    )["incident"]["id"]
    for text in ("短信发送中断，正在切换备用通道。", "备用通道已接管，部分短信仍有延迟。"):
        await call(
            client, "POST", f"/v1/incidents/{outage}/timeline", {"kind": "status_update", "text": text}
        )
    await call(
        client, "POST", f"/v1/incidents/{outage}/timeline", {"kind": "note", "text": "内部：SMSC-2 硬件故障"}
    )
    coming = await call(
        client,
        "POST",
        "/v1/maintenance-windows",
        {
            "services": ["sms-sender", "subscription"],
            "product_codes": ["TQYB"],
            "starts_at": (clock.now() + 73 * H).isoformat(),
            "ends_at": (clock.now() + 75 * H).isoformat(),
            "text_zh": "核心数据库升级，期间订购和短信发送暂停。",
        },
    )
    return outage, coming["id"], started.date().isoformat()


async def test_the_status_page_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        provider_name="星辰短信",
        maintenance_tick_interval_s=3600,  # the test ticks by hand
    )
    clock = ManualClock()
    app = create_app(settings, clock)
    async with serve_on_port(app) as client:
        outage, coming, maintenance_day = await history(client, clock)
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
        # Each service's state now.
        await expect(page.locator("#overall")).to_contain_text("部分服务受到影响")
        await expect(page.locator("#service-sms-sender .state")).to_have_text("服务中断")
        await expect(page.locator("#service-subscription .state")).to_have_text("正常运行")
        # The current incident with its public updates, newest first; nothing internal.
        current = page.locator(f"#current-{outage}")
        await expect(current).to_contain_text("短信发送中断")
        await expect(current.locator(".timeline li")).to_have_count(2)
        await expect(current.locator(".timeline li").first).to_contain_text("备用通道已接管")
        await expect(page.locator("main")).not_to_contain_text("内部：SMSC-2")
        # Maintenance to come, in Beijing time.
        window = page.locator(f"#maintenance-{coming}")
        await expect(window).to_contain_text("核心数据库升级")
        await expect(window).to_contain_text("（北京时间）")
        await expect(window).to_contain_text("TQYB")
        # 90 bars a service; the maintenance day and the outage's day coloured; a bar leads to
        # its day's record.
        bars = page.locator("#service-sms-sender svg rect")
        await expect(bars).to_have_count(90)
        await expect(page.locator("#service-sms-sender rect.maintenance")).to_have_count(1)
        await expect(page.locator("#service-subscription rect.breached")).to_have_count(1)
        await expect(page.locator("#service-sms-sender rect.breached")).to_have_count(1)  # today
        await page.locator(f'#service-sms-sender a[href="#day-{maintenance_day}"] rect').click()
        assert page.url.endswith(f"#day-{maintenance_day}")
        await expect(page.locator(f"#day-{maintenance_day}")).to_be_visible()
        fonts = await opened.fonts_of("h1")
        assert fonts.get(CJK_FONT, 0) >= 4, f"{fonts}: run `make browser` for the font"
        await shot(page, request, "status")
        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        assert opened.problems() == []
