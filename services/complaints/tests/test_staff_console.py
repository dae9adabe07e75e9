"""The staff console (complaints/staff/console.py): its pages over HTTP (sign-in, CSRF, roles,
errors as pages), then in a real browser (Debian's chromium, no JavaScript): sign in through the
form, the queue coloured by SLA state, a reply through the complaint's form, English, the
attainment chart, the calendar as an administrator. Each page's screenshot is kept in
test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import expect

from complaints.complaint.domain import ComplaintStatus
from complaints.main import create_app
from complaints.settings import ComplaintsSettings
from complaints.sla.domain import SHANGHAI, Category, Channel, ClockKind, ClockState, EventKind
from complaints.staff.console import _safe_next
from complaints.staff.domain import SlaLight
from complaints.staff.messages import MESSAGES
from vas_common.staff import Role
from vas_devstack.browser import OpenPage, screenshot, submit
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, serve, serve_on_port, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)
CJK_FONT = "WenQuanYi Micro Hei"
BREACHED_BG = "rgb(253, 231, 229)"  # --breached-bg in suite.css
WARNING_BG = "rgb(255, 243, 214)"
OK_BG = "rgb(229, 244, 232)"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@dataclass
class Console:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FixedClock

    async def account(self, login: str, role: str, name: str) -> None:
        created = await self.client.post(
            "/v1/staff/accounts",
            json={"login": login, "display_name": name, "role": role, "password": PASSWORD},
            headers=OPERATOR,
        )
        assert created.status_code == 201, created.text

    async def complaint(self, minutes_ago: int, **fields: Any) -> dict[str, Any]:
        body = {
            "channel": "web",
            "category": "billing",
            "msisdn": "13800001234",
            "summary": "扣费不明",
            "occurred_at": (self.clock.now() - timedelta(minutes=minutes_ago)).isoformat(),
            **fields,
        }
        made = await self.client.post("/v1/complaints", json=body, headers=OPERATOR)
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def history(self, complaint_id: str) -> list[dict[str, Any]]:
        found = await self.client.get(f"/v1/complaints/{complaint_id}", headers=OPERATOR)
        return list(found.json()["history"])

    @asynccontextmanager
    async def signed_in(self, login: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client of its own with the session cookie, like a browser."""
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=self.client.base_url) as client:
            session = await client.post("/v1/staff/sessions", json={"login": login, "password": PASSWORD})
            assert session.status_code == 201, session.text
            yield client


def settings(database: str, kafka: Any) -> ComplaintsSettings:
    return ComplaintsSettings(**service_settings_kwargs(database, kafka.bootstrap), sla_tick_interval_s=3600)


@pytest.fixture
async def console(database: str, kafka: Any) -> AsyncIterator[Console]:
    clock = FixedClock(NOW)
    app = create_app(settings(database, kafka), clock)
    async with serve(app) as client:
        yield Console(app, client, clock)


async def csrf_of(client: httpx.AsyncClient, page: str) -> str:
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    found = CSRF_INPUT.search(shown.text)
    assert found, shown.text
    return found.group(1)


@pytest.mark.parametrize("language", list(MESSAGES))
def test_every_state_kind_channel_and_category_has_its_words(language: Any) -> None:
    """A page names every value of these (StrictUndefined: a missing word is an error page)."""
    words = MESSAGES[language]
    wanted = (
        [f"kind_{k.value}" for k in EventKind]
        + [f"clock_{k.value}" for k in ClockKind]
        + [f"short_{k.value}" for k in ClockKind]
        + [f"state_{k.value}" for k in ClockState]
        + [f"status_{k.value}" for k in ComplaintStatus]
        + [f"channel_{k.value}" for k in Channel]
        + [f"category_{k.value}" for k in Category]
        + [f"light_{k.value}" for k in SlaLight]
        + [f"role_{k.value}" for k in Role]
    )
    assert [key for key in wanted if key not in words] == []


# -- over HTTP --------------------------------------------------------------------------------


async def test_a_staff_page_without_a_session_answers_401_with_the_sign_in_form(console: Console) -> None:
    page = await console.client.get("/staff/complaints?lang=en")
    assert page.status_code == 401
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'action="/staff/login' in page.text
    assert 'name="next" value="/staff/complaints?lang=en"' in page.text
    assert "Please sign in." in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["cache-control"] == "no-store"
    [nonce] = [c for c in page.headers.get_list("set-cookie") if c.startswith("vas_csrf=")]
    assert "HttpOnly" in nonce
    assert "SameSite=strict" in nonce


async def test_a_form_without_or_with_a_wrong_csrf_token_is_refused_and_not_recorded(
    console: Console,
) -> None:
    await console.account("wangfang", "agent", "王芳")
    complaint = await console.complaint(5)
    page = f"/staff/complaints/{complaint['id']}"
    async with console.signed_in("wangfang") as browser:
        token = await csrf_of(browser, page)
        for sent in (
            {"kind": "replied", "note": "没有令牌"},
            {"kind": "replied", "note": "错", "csrf_token": "forged"},
        ):
            refused = await browser.post(f"{page}/events", data=sent)
            assert refused.status_code == 403
            assert "text/html" in refused.headers["content-type"]
            assert "表单已过期或来源不明" in refused.text
        assert [e["kind"] for e in await console.history(complaint["id"])] == ["created"]

        # a token of another session (another person's page) does not serve either
        await console.account("lisi", "agent", "李四")
        async with console.signed_in("lisi") as other:
            theirs = await csrf_of(other, page)
        refused = await browser.post(f"{page}/events", data={"kind": "replied", "csrf_token": theirs})
        assert refused.status_code == 403

        done = await browser.post(
            f"{page}/events", data={"kind": "replied", "note": "已答复", "csrf_token": token}
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"{page}?recorded=replied#timeline"
        history = await console.history(complaint["id"])
        assert [(e["kind"], e["actor"], e["note"]) for e in history][-1] == (
            "replied",
            "王芳 (wangfang)",
            "已答复",
        )

    # a bearer token is never sent by a browser on its own: no CSRF token needed
    by_operator = await console.client.post(f"{page}/events", data={"kind": "contacted"}, headers=OPERATOR)
    assert by_operator.status_code == 303


async def test_the_sign_in_form_needs_its_csrf_token_and_goes_back_to_the_page(console: Console) -> None:
    await console.account("wangfang", "agent", "王芳")
    client = console.client
    refused = await client.post("/staff/login", data={"login": "wangfang", "password": PASSWORD})
    assert refused.status_code == 403
    assert "vas_staff" not in refused.headers.get("set-cookie", "")
    token = await csrf_of(client, "/staff/login")
    wrong = await client.post(
        "/staff/login", data={"login": "wangfang", "password": "nope nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "登录名或密码错误" in wrong.text
    form = {
        "login": "wangfang",
        "password": PASSWORD,
        "csrf_token": token,
        "next": "/staff/calendar?year=2026",
    }
    signed = await client.post("/staff/login", data=form)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/staff/calendar?year=2026"
    assert "HttpOnly" in signed.headers["set-cookie"]
    # the page now knows the member; the old form token was for no session, a new one is needed
    calendar = await client.get("/staff/calendar?year=2026")
    assert "王芳" in calendar.text
    out_token = CSRF_INPUT.search(calendar.text)
    assert out_token
    assert out_token.group(1) != token
    out = await client.post("/staff/logout", data={"csrf_token": out_token.group(1)})
    assert out.status_code == 303
    assert (await client.get("/staff/complaints")).status_code == 401


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/staff/complaints/1?lang=en", "/staff/complaints/1?lang=en"),
        ("//evil.example/staff/", "/staff/complaints"),
        ("https://evil.example/staff/", "/staff/complaints"),
        ("/staff/..//evil", "/staff/complaints"),
        ("/staff/\\evil", "/staff/complaints"),
        ("/staff/login", "/staff/complaints"),
        ("/v1/staff/accounts", "/staff/complaints"),
    ],
)
def test_the_page_to_go_back_to_is_always_a_console_page(target: str, safe: str) -> None:
    assert _safe_next(target) == safe


async def test_roles_on_the_pages(console: Console) -> None:
    await console.account("agent1", "agent", "李四")
    async with console.signed_in("agent1") as agent:
        assert (await agent.get("/staff/complaints")).status_code == 200
        calendar = await agent.get("/staff/calendar?year=2026")
        assert calendar.status_code == 200
        assert "只有管理员可以修改日历" in calendar.text
        assert "国庆节" in calendar.text
        assert "National Day" not in calendar.text
        assert 'action="/staff/calendar/overrides"' not in calendar.text
        token = CSRF_INPUT.search(calendar.text)
        assert token
        changed = await agent.post(
            "/staff/calendar/overrides",
            data={"day": "2026-12-24", "kind": "holiday", "csrf_token": token.group(1)},
        )
        assert changed.status_code == 403
        assert "您的角色无权进行此操作" in changed.text
        assert (await agent.get("/staff/attainment")).status_code == 403
        assert "时限达成" not in (await agent.get("/staff/complaints")).text  # no link to it
        in_english = await agent.get("/staff/calendar?year=2026&lang=en")
        assert "National Day" in in_english.text
        assert "国庆节" not in in_english.text
    year = (await console.client.get("/v1/calendar?year=2026", headers=OPERATOR)).json()
    assert "2026-12-24" not in [d["day"] for d in year["days"]]


async def test_errors_are_shown_on_the_page(console: Console) -> None:
    complaint = await console.complaint(5)
    page = f"/staff/complaints/{complaint['id']}"
    client = console.client
    resolved = await client.post(f"{page}/events", data={"kind": "resolved"}, headers=OPERATOR)
    assert resolved.status_code == 303
    again = await client.post(f"{page}/events", data={"kind": "resolved"}, headers=OPERATOR)
    assert again.status_code == 409
    assert "投诉当前状态下不能进行此操作" in again.text
    future = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    late = await client.post(
        f"{page}/events", data={"kind": "reopened", "occurred_at": future}, headers=OPERATOR
    )
    assert late.status_code == 422
    assert "时间不能晚于现在" in late.text
    bad = await client.post(f"{page}/events", data={"kind": "exploded"}, headers=OPERATOR)
    assert bad.status_code == 422
    assert "填写有误：kind" in bad.text
    missing = await client.get("/staff/complaints/00000000-0000-4000-8000-000000000000", headers=OPERATOR)
    assert missing.status_code == 404
    assert "没有这个投诉" in missing.text
    not_uuid = await client.get("/staff/complaints/nope", headers=OPERATOR)
    assert not_uuid.status_code == 422
    assert "text/html" in not_uuid.headers["content-type"]
    period = await client.get("/staff/attainment?from=2026-12-05&to=2026-12-01", headers=OPERATOR)
    assert period.status_code == 422
    assert "统计期不正确" in period.text
    not_utf8 = await client.post(
        f"{page}/events",
        content=b"kind=%FF%FE",
        headers={**OPERATOR, "content-type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 400


# -- in the browser ---------------------------------------------------------------------------


async def test_staff_work_the_queue_in_the_browser(
    database: str, kafka: Any, open_page: OpenPage, request: pytest.FixtureRequest
) -> None:
    clock = FixedClock(NOW)
    async with serve_on_port(create_app(settings(database, kafka), clock)) as client:
        console = Console(FastAPI(), client, clock)
        await console.account("wangfang", "admin", "王芳")
        breached = await console.complaint(60, channel="phone", summary="电话投诉：话费多扣了十元")
        warning = await console.complaint(150, category="content", summary="订阅的内容与描述不符")
        fresh = await console.complaint(
            10, category="service", summary="网站无法退订，请尽快处理", msisdn="13912345678"
        )
        met = await console.complaint(200, category="feedback", summary="建议增加夜间模式")
        for kind in ("replied", "resolved"):  # met on time: out of the queue, into the figures
            done = await client.post(
                f"/v1/complaints/{met['id']}/events",
                json={"kind": kind, "note": "感谢建议"},
                headers=OPERATOR,
            )
            assert done.status_code == 200, done.text

        # sign in through the form; back to the page asked for
        opened = await open_page(f"{client.base_url}/staff/login?next=/staff/complaints", javascript=False)
        page = opened.page
        await expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
        await page.fill("#login", "wangfang")
        await page.fill("#password", PASSWORD)
        await submit(page, page.get_by_role("button", name="登录"))
        await expect(page).to_have_url(f"{client.base_url}/staff/complaints")

        # the queue: due first at the top, coloured by SLA state, times in Beijing time
        await expect(page.get_by_role("heading", name="投诉队列")).to_be_visible()
        rows = page.locator("table.queue tbody tr")
        await expect(rows).to_have_count(3)
        codes = [breached["tracking_code"], warning["tracking_code"], fresh["tracking_code"]]
        for i, (code, light, colour) in enumerate(
            zip(codes, ["breached", "warning", "ok"], [BREACHED_BG, WARNING_BG, OK_BG], strict=True)
        ):
            row = rows.nth(i)
            await expect(row).to_contain_text(code)
            await expect(row).to_have_attribute("data-sla", light)
            await expect(row).to_have_css("background-color", colour)
        await expect(rows.nth(0)).to_contain_text("已超时")
        await expect(rows.nth(0)).to_contain_text("2026-12-03 09:15")  # 15 min after 09:00, Beijing time
        await expect(rows.nth(2)).to_contain_text("还剩")
        fonts = await opened.fonts_of("h1")
        assert fonts.get(CJK_FONT, 0) >= 4, f"{fonts}: run `make browser` for the font"
        await screenshot(page, request, "queue")

        # a complaint: reply through its form, and see it on the timeline
        await submit(page, page.get_by_role("link", name=fresh["tracking_code"]))
        await expect(page.get_by_role("heading", name=f"投诉 {fresh['tracking_code']}")).to_be_visible()
        await page.fill("#reply-note", "您好，已为您办理退订，费用将在3个工作日内退回。")
        await submit(page, page.get_by_role("button", name="记录答复"))
        await expect(page.get_by_role("status")).to_contain_text("已记录：答复用户")
        timeline = page.locator("#timeline li")
        await expect(timeline.last).to_contain_text("答复用户")
        await expect(timeline.last).to_contain_text("王芳 (wangfang)")
        await expect(timeline.last).to_contain_text("费用将在3个工作日内退回")

        # log a call made half an hour ago: it lands where it happened, marked as logged late
        await page.fill("#call-when", "2026-12-03T09:55")
        await page.fill("#call-note", "回拨用户，已确认")
        await submit(page, page.get_by_role("button", name="登记通话"))
        await expect(page.locator("#timeline li.event-contacted")).to_contain_text("2026-12-03 09:55")
        await expect(page.locator("#timeline li.event-contacted")).to_contain_text("补录于 2026-12-03 10:00")
        await screenshot(page, request, "complaint")

        # English, kept for the next pages
        await submit(page, page.get_by_role("link", name="English"))
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
        await submit(page, page.get_by_role("link", name="Queue", exact=True))
        await expect(page.get_by_role("heading", name="Complaint queue")).to_be_visible()
        await expect(page.locator("table.queue tbody tr").first).to_contain_text("breached")
        await screenshot(page, request, "queue-en")

        # attainment with its chart, drawn on the server
        await submit(page, page.get_by_role("link", name="Attainment", exact=True))
        await expect(page.get_by_role("heading", name="SLA attainment")).to_be_visible()
        chart = page.locator("figure.chart svg")
        await expect(chart).to_be_visible()
        # the deadlines due so far this month and decided: the phone solution and first replies
        assert await chart.locator("rect.bar").count() == 2
        await expect(chart.locator("line.target")).to_have_count(1)
        await expect(chart).to_contain_text("target 95.0%")
        await submit(page, page.get_by_role("link", name="中文"))
        await expect(page.get_by_role("heading", name="时限达成情况")).to_be_visible()
        await expect(page.locator("figure.chart svg")).to_contain_text("首次答复")
        await screenshot(page, request, "attainment")

        # the calendar as an administrator: add an override, see it, remove it
        await submit(page, page.get_by_role("link", name="工作日历", exact=True))
        await expect(page.get_by_role("heading", name="工作日历 2026")).to_be_visible()
        await expect(page.locator("table.calendar")).to_contain_text("2026-10-01")
        await page.fill("#day", "2026-12-24")
        await page.select_option("#kind", "holiday")
        await page.fill("#note", "公司年会放假")
        await submit(page, page.get_by_role("button", name="保存"))
        row = page.locator("table.calendar tr", has_text="2026-12-24")
        await expect(row).to_contain_text("人工调整")
        await expect(row).to_contain_text("王芳 (wangfang)")
        await screenshot(page, request, "calendar")
        await submit(page, row.get_by_role("button", name="撤销调整"))
        await expect(page.locator("table.calendar tr", has_text="2026-12-24")).to_have_count(0)

        html = await page.content()
        assert "<script" not in html
        assert "style=" not in html
