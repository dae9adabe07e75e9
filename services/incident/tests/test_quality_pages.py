"""The quality report in a real browser (Debian's chromium, no JavaScript): the staff page with
its per-partner figures (Chinese, and English on request), the public version on the status page
without them, the SVG chart drawn by the server; the regulator's PDF in Chinese. Screenshots go
to test-artifacts/screenshots/."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pypdf
import pytest
from playwright.async_api import expect
from pydantic import SecretStr

from incident.main import create_app
from incident.quality.domain import PartnerName, SatisfactionReply
from incident.quality.service import Consumed, QualityService
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_common.events.sms_sender import MessageState, MessageStatus
from vas_common.staff import SESSION_COOKIE, Role, StaffTokens
from vas_devstack.browser import SCREENSHOTS, OpenPage
from vas_devstack.pytest_plugin import STAFF_TOKEN_KEY, serve_on_port, service_settings_kwargs

CJK_FONT = "WenQuanYi Micro Hei"
PARTNER = uuid.UUID("3f0b6a1e-7c2d-4e8f-9a10-2b3c4d5e6f70")


async def _traffic(quality: QualityService) -> None:
    """Ten days of May 2031: mostly quick, the 5th slow (an SMSC having a bad day)."""
    rng = random.Random(3)
    batch = []
    for day in range(1, 11):
        for n in range(200):
            at = datetime(2031, 5, day, 3, n % 60, tzinfo=UTC)
            delay = rng.lognormvariate(-1.2, 0.6) * (40 if day == 5 and n % 4 == 0 else 1)
            batch.append(
                MessageState(
                    message_id=uuid.uuid4(),
                    partner_id=PARTNER if n % 2 else None,
                    recipient="8613812345678",
                    status=MessageStatus.SUBMITTED,
                    segments_total=1,
                    segments=[],
                    accepted_at=at,
                    submitted_at=at + timedelta(seconds=delay),
                )
            )
    await quality.record("pages", "sms.status", 0, [Consumed(i, s) for i, s in enumerate(batch)])
    mo = [datetime(2031, 5, 2, 4, 0, i % 7, tzinfo=UTC) for i in range(30)]
    await quality.record("pages", "sms.mo", 0, [Consumed(i, at) for i, at in enumerate(mo)])
    # The partner's name from subscription.events: the newest revision, whatever the order.
    renamed = [PartnerName(PARTNER, "星河文化", 3), PartnerName(PARTNER, "旧名称", 1)]
    await quality.record("pages", "subscription.events", 0, [Consumed(i, n) for i, n in enumerate(renamed)])


async def test_the_quality_report_pages_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    clock = ManualClock()
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        provider_name="星辰短信",
        consumers_enabled=False,
    )
    app = create_app(settings, clock)
    async with serve_on_port(app) as client:
        await _traffic(app.state.quality_service)
        token = StaffTokens(SecretStr(STAFF_TOKEN_KEY), clock).issue(
            "id-1", "wangfang", "王芳", Role.AGENT, timedelta(hours=1)
        )
        shots = request.config.rootpath / SCREENSHOTS
        shots.mkdir(parents=True, exist_ok=True)

        opened = await open_page(
            f"{client.base_url}/staff/quality/2031-05",
            javascript=False,
            cookies={SESSION_COOKIE: token.token},
        )
        page = opened.page
        await expect(page.get_by_role("heading", level=1)).to_contain_text("服务质量报告 2031-05")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#promise-send_delay")).to_contain_text("短信发送时延")
        await expect(page.locator("#promise-send_delay")).to_contain_text("未达成")  # the slow day
        # Traffic below the promise says nothing of the capacity.
        await expect(page.locator("#promise-capacity")).to_contain_text("无法判定")
        await expect(page.locator("#delay-chart rect.breached")).to_have_count(1)
        await expect(page.locator("#delay-chart rect.ok")).to_have_count(9)
        await expect(page.locator("#promise-registration_success")).to_contain_text("订购成功率")
        await expect(page.locator("#promise-unsubscribe")).to_contain_text("退订便捷")
        await expect(page.locator("#promise-content_review")).to_contain_text("内容审核")
        await expect(page.locator("#promise-records_kept")).to_contain_text("记录保存6个月")
        await expect(page.get_by_role("link", name="SERVQUAL 差距分析")).to_have_attribute(
            "href", "/staff/quality/servqual/2031-05"
        )
        await expect(page.locator("#partners")).to_contain_text("星河文化")
        await expect(page.locator("#partners")).not_to_contain_text("旧名称")
        await expect(page.locator("#partners")).to_contain_text(str(PARTNER))
        await expect(page.locator("#partners")).to_contain_text("平台自有短信")
        fonts = await opened.fonts_of("h1")
        assert fonts.get(CJK_FONT, 0) >= 4, f"{fonts}: run `make browser` for the font"
        await page.screenshot(path=shots / f"{request.node.name}-staff.png", full_page=True)
        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        assert opened.problems() == []

        english = await open_page(
            f"{client.base_url}/staff/quality/2031-05?lang=en",
            javascript=False,
            cookies={SESSION_COOKIE: token.token},
        )
        await expect(english.page.get_by_role("heading", level=1)).to_contain_text("Service quality report")
        await expect(english.page.locator("#promise-send_delay")).to_contain_text("not met")

        public = await open_page(f"{client.base_url}/status/quality/2031-05", javascript=False)
        await expect(public.page.get_by_role("heading", level=1)).to_contain_text("服务质量通报 2031-05")
        await expect(public.page.locator("#promise-availability")).to_contain_text("系统可用率")
        await expect(public.page.locator("#delay-chart rect")).to_have_count(10)
        await expect(public.page.locator("#partners")).to_have_count(0)
        public_html = await public.page.content()
        assert str(PARTNER) not in public_html
        assert "8613812345678" not in public_html
        await public.page.screenshot(path=shots / f"{request.node.name}-public.png", full_page=True)
        assert public.problems() == []

        bad = await client.get("/status/quality/2031-13")
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("text/html")
        assert "invalid_period" in bad.text

        pdf = await client.get(
            "/staff/quality/2031-05.pdf", headers={"Authorization": f"Bearer {token.token}"}
        )
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        pages = pypdf.PdfReader(io.BytesIO(pdf.content)).pages
        text = "".join("".join(p.extract_text().split()) for p in pages)  # table cells wrap
        assert "服务质量报告" in text
        assert "短信发送时延" in text
        for name in ("订购成功率", "退订便捷", "内容审核", "记录保存6个月"):
            assert name in text
        assert str(PARTNER) not in text
        (shots / f"{request.node.name}.pdf").write_bytes(pdf.content)
        assert (await client.get("/staff/quality/2031-05.pdf")).status_code == 401


async def test_the_servqual_view_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    """One page per month: the three gaps now, their 6-month trend as server-drawn bars."""
    clock = ManualClock()
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        provider_name="星辰短信",
        consumers_enabled=False,
    )
    app = create_app(settings, clock)
    async with serve_on_port(app) as client:
        quality: QualityService = app.state.quality_service
        await _traffic(quality)
        # Satisfaction replies over five months: better each month, May reaching the expectation.
        replies = []
        for month, scores in (
            (1, (2, 3, 4)),
            (2, (3, 4, 4)),
            (3, (3, 4, 5, 5)),
            (5, (4, 5, 5, 5, 5, 5, 5, 5, 5, 4)),
        ):
            replies += [
                SatisfactionReply(score, datetime(2031, month, 10, 4, tzinfo=UTC)) for score in scores
            ]
        await quality.record(
            "servqual", "complaint.events", 0, [Consumed(i, r) for i, r in enumerate(replies)]
        )
        token = StaffTokens(SecretStr(STAFF_TOKEN_KEY), clock).issue(
            "id-1", "wangfang", "王芳", Role.AGENT, timedelta(hours=1)
        )
        shots = request.config.rootpath / SCREENSHOTS
        shots.mkdir(parents=True, exist_ok=True)
        opened = await open_page(
            f"{client.base_url}/staff/quality/servqual/2031-05",
            javascript=False,
            cookies={SESSION_COOKIE: token.token},
        )
        page = opened.page
        await expect(page.get_by_role("heading", level=1)).to_contain_text(
            "服务质量差距分析（SERVQUAL）2031-05"
        )
        await expect(page.locator("#gap3")).to_contain_text("短信发送时延")  # the slow day: not met, by name
        await expect(page.locator("#gap4-incidents")).to_have_text("0")
        await expect(page.locator("#gap5-replies")).to_contain_text("10")
        await expect(page.locator("#gap5-satisfied")).to_contain_text("100.000%")
        await expect(page.locator("#trend tbody tr")).to_have_count(6)
        await expect(page.locator("#trend-2030-12")).to_be_visible()
        await expect(page.locator("#gap5-chart rect.ok")).to_have_count(1)  # May
        await expect(page.locator("#gap5-chart rect.breached")).to_have_count(3)  # below 90 %
        await expect(page.locator("#gap3-chart rect.breached")).to_have_count(1)
        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        await page.screenshot(path=shots / f"{request.node.name}.png", full_page=True)
        assert opened.problems() == []

        english = await open_page(
            f"{client.base_url}/staff/quality/servqual/2031-05?lang=en",
            javascript=False,
            cookies={SESSION_COOKIE: token.token},
        )
        await expect(english.page.get_by_role("heading", level=1)).to_contain_text("Service quality gaps")
        await english.page.screenshot(path=shots / f"{request.node.name}-en.png", full_page=True)
        assert (await client.get("/staff/quality/servqual/2031-05")).status_code == 401
        bad = await client.get(
            "/staff/quality/servqual/2031-Q2", headers={"Authorization": f"Bearer {token.token}"}
        )
        assert bad.status_code == 422
        assert "invalid_month" in bad.text
