"""The regulator report's print view in a real browser (Debian's chromium, no JavaScript), opened
as a signed-in staff member (the session cookie): Chinese drawn with a CJK font, the five times
in Beijing time, the timeline, the overdue state; the screenshot is kept in
test-artifacts/screenshots/. Printed to PDF by the browser too, as a person would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import expect
from pydantic import SecretStr

from incident.incidents.domain import EntryKind, ImpactType, Severity
from incident.incidents.service import IncidentService, NewIncident
from incident.main import create_app
from incident.regulator_reports.service import RegulatorReportService
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_common.staff import SESSION_COOKIE, Role, StaffTokens
from vas_devstack.browser import SCREENSHOTS, OpenPage
from vas_devstack.pytest_plugin import STAFF_TOKEN_KEY, serve_on_port, service_settings_kwargs

CJK_FONT = "WenQuanYi Micro Hei"


async def test_the_report_print_view_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    clock = ManualClock()
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap), provider_name="星辰短信"
    )
    app = create_app(settings, clock)
    async with serve_on_port(app) as client:
        incidents: IncidentService = app.state.incident_service
        reports: RegulatorReportService = app.state.regulator_report_service
        now = clock.now()
        view = await incidents.open(
            NewIncident(
                title="短信网关全部中断",
                services=("sms-sender",),
                severity=Severity.MAJOR_OUTAGE,
                impact=ImpactType.FULL,
                summary="与运营商短信中心的全部连接断开，短信无法下发。",
                impact_started_at=now - timedelta(minutes=12),
                detected_at=now - timedelta(minutes=10),
                commander="王芳",
            ),
            "王芳 (wangfang)",
        )
        await incidents.add_entry(
            view.incident.id, EntryKind.STATUS_UPDATE, "短信发送中断，正在处理。", "王芳 (wangfang)"
        )
        [report] = await reports.reports(open_only=True, limit=10)
        await reports.edit(
            report.id,
            "运营商短信中心升级，未提前通知。",
            "切换至备用通道；与运营商建立升级通知机制。",
            "王芳",
        )
        clock.advance(timedelta(hours=2))  # the first report is overdue

        token = StaffTokens(SecretStr(STAFF_TOKEN_KEY), clock).issue(
            "id-1", "wangfang", "王芳", Role.SUPERVISOR, timedelta(hours=1)
        )
        opened = await open_page(
            f"{client.base_url}/staff/regulator-reports/{report.id}",
            javascript=False,
            cookies={SESSION_COOKIE: token.token},
        )
        page = opened.page
        await expect(page.get_by_role("heading", level=1)).to_contain_text(
            "重大通信故障报告：短信网关全部中断"
        )
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#report-state")).to_contain_text("已逾期")
        await expect(page.locator("#section-2")).to_contain_text("影响开始")
        await expect(page.locator("#section-2")).to_contain_text("影响持续时间")
        await expect(page.locator("#timeline")).to_contain_text("短信发送中断，正在处理。")
        await expect(page.locator("#cause")).to_contain_text("运营商短信中心升级")
        fonts = await opened.fonts_of("h1")
        assert fonts.get(CJK_FONT, 0) >= 4, f"{fonts}: run `make browser` for the font"
        path = request.config.rootpath / SCREENSHOTS / f"{request.node.name}-report.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=path, full_page=True)
        printed = await page.pdf(format="A4")  # the print stylesheet, as the browser prints it
        assert printed.startswith(b"%PDF-")
        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
        assert opened.problems() == []
