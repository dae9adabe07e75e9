"""The suite's page frame (vas_common.pages): one layout and stylesheet, the language rule, the
security headers; and a staff page in a real browser, switching to English without JavaScript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from playwright.async_api import expect

from vas_common.pages import STATIC, TEMPLATES, Language, Messages, Pages, mount_static, staff_language
from vas_devstack.browser import OpenPage
from vas_devstack.pytest_plugin import serve_http

HERE = Path(__file__).parent
CONSOLE_MESSAGES: Messages = {
    Language.ZH_CN: {
        "console_title": "投诉处理",
        "console_open": "未结投诉",
        "console_case": "投诉单",
        "console_state": "时限",
        "console_left": "剩余分钟",
        "console_chart": "本月首次答复用时",
        "console_target": "目标",
        "console_reply": "答复内容",
        "console_send": "发送",
        "sla_ok": "正常",
        "sla_warning": "即将超时",
        "sla_breached": "已超时",
    },
    Language.EN: {
        "console_title": "Complaints",
        "console_open": "Open complaints",
        "console_case": "Complaint",
        "console_state": "Deadline",
        "console_left": "Minutes left",
        "console_chart": "First reply times this month",
        "console_target": "target",
        "console_reply": "Reply",
        "console_send": "Send",
        "sla_ok": "on time",
        "sla_warning": "due soon",
        "sla_breached": "breached",
    },
}
CASES = [
    {"id": "C-1001", "state": "ok", "left": 212},
    {"id": "C-1002", "state": "warning", "left": 9},
    {"id": "C-1003", "state": "breached", "left": -40},
]


def console_app(pages: Pages) -> FastAPI:
    app = FastAPI()
    mount_static(app)

    @app.get("/console", response_class=HTMLResponse)
    async def console(request: Request) -> HTMLResponse:
        context = {"cases": CASES, "note": "<script>alert(1)</script>"}
        return pages.render(
            request, "console.html", context, language=staff_language(request), offer_languages=True
        )

    @app.get("/plain", response_class=HTMLResponse)
    async def plain(request: Request) -> HTMLResponse:
        return pages.render(request, "missing_word.html", language=Language.ZH_CN)

    return app


@pytest.fixture
def pages() -> Pages:
    return Pages(HERE / "pages_templates", CONSOLE_MESSAGES, site_name="星辰增值业务")


@pytest.fixture
async def client(pages: Pages) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=console_app(pages))
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as client:
        yield client


async def test_a_page_is_chinese_by_default_with_the_security_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'self';")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert '<html lang="zh-CN">' in page.text
    assert "<title>投诉处理 · 星辰增值业务</title>" in page.text
    assert '<link rel="stylesheet" href="/static/suite/suite.css">' in page.text
    assert "set-cookie" not in page.headers  # nothing chosen, nothing kept


async def test_context_values_are_escaped(client: httpx.AsyncClient) -> None:
    page = (await client.get("/console")).text
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("query", "cookie", "language"),
    [
        ("", None, "zh-CN"),
        ("?lang=en", None, "en"),
        ("", "en", "en"),
        ("?lang=zh-CN", "en", "zh-CN"),  # the query wins over the cookie
        ("?lang=fr", "en", "en"),  # a language we do not have is ignored
        ("?lang=EN", None, "zh-CN"),
    ],
)
async def test_a_staff_page_is_in_the_language_asked_for_then_the_one_kept(
    client: httpx.AsyncClient, query: str, cookie: str | None, language: str
) -> None:
    headers = {"Cookie": f"lang={cookie}"} if cookie else {}
    page = await client.get(f"/console{query}", headers=headers)
    assert f'<html lang="{language}">' in page.text


async def test_choosing_a_language_keeps_it_in_a_cookie_and_the_links_keep_the_query(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/console?view=open&lang=en")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("lang=en;")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert '<a href="/console?view=open&amp;lang=zh-CN" hreflang="zh-CN" lang="zh-CN">中文</a>' in page.text
    assert '<span aria-current="true" lang="en">English</span>' in page.text


async def test_a_missing_word_is_an_error_not_a_gap(client: httpx.AsyncClient) -> None:
    with pytest.raises(jinja2.UndefinedError, match="missing_word"):
        await client.get("/plain")


def test_every_language_of_a_template_set_has_every_word() -> None:
    with pytest.raises(ValueError, match="console_send"):
        Pages(
            HERE / "pages_templates",
            {Language.ZH_CN: {"console_send": "发送"}, Language.EN: {}},
        )


def test_a_set_only_in_chinese_renders_only_in_chinese() -> None:
    pages = Pages(HERE / "pages_templates", {Language.ZH_CN: CONSOLE_MESSAGES[Language.ZH_CN]})
    request = Request({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []})
    with pytest.raises(ValueError, match="no messages in en"):
        pages.render(request, "console.html", {"cases": [], "note": ""}, language=Language.EN)
    with pytest.raises(ValueError, match="offers every language"):
        pages.render(
            request, "console.html", {"cases": [], "note": ""}, language=Language.ZH_CN, offer_languages=True
        )


def test_a_services_template_comes_before_the_shared_one_of_the_same_name() -> None:
    own = Pages(HERE / "pages_override")
    rendered = own.env.get_template("layout.html").render(language="zh-CN")
    assert rendered.strip() == '<p lang="zh-CN">the service\'s own layout</p>'


def test_the_shared_files_are_in_the_package() -> None:
    assert (TEMPLATES / "layout.html").is_file()
    assert (STATIC / "suite.css").is_file()
    css = (STATIC / "suite.css").read_text()
    for needed in (".ok", ".warning", ".breached", ".chart", "@media print", "@media (max-width"):
        assert needed in css
    assert "http" not in css.replace('a[href^="http"]', "")  # nothing from another host


async def test_the_stylesheet_is_served(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/suite/suite.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_staff_switch_to_english_with_a_link_and_keep_it_without_javascript(
    pages: Pages, open_page: OpenPage
) -> None:
    async with serve_http(console_app(pages)) as origin:
        opened = await open_page(f"{origin}/console", javascript=False)
        page = opened.page
        await expect(page.get_by_role("heading", name="投诉处理")).to_be_visible()
        await expect(page.locator("tr.breached .sla")).to_have_text("已超时")
        await expect(page.locator("header.site")).to_have_css("background-color", "rgb(31, 78, 121)")
        fonts = await opened.fonts_of("h1")
        assert fonts.get("WenQuanYi Micro Hei", 0) == len("投诉处理"), fonts

        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.get_by_role("heading", name="Complaints")).to_be_visible()
        await page.goto(f"{origin}/console")  # the cookie keeps the choice
        await expect(page.get_by_role("heading", name="Complaints")).to_be_visible()
        await expect(page.locator("tr.warning .sla")).to_have_text("due soon")
        await page.screenshot(
            path=opened.screenshot.with_name(opened.screenshot.stem + "-en.png"), full_page=True
        )


async def test_a_page_error_goes_to_the_renderer_of_the_longest_matching_prefix() -> None:
    from fastapi.responses import PlainTextResponse

    from vas_common.access import Audience
    from vas_common.errors import AppError, NotFound
    from vas_common.pages import add_page_errors, page_router

    app = FastAPI()
    pages = page_router(Audience.PUBLIC)

    @pages.get("/{path:path}")
    async def missing(path: str) -> HTMLResponse:
        raise NotFound(f"no page {path}")

    app.include_router(pages)

    def renderer(name: str) -> Any:
        async def render(_request: Request, error: AppError) -> PlainTextResponse:
            return PlainTextResponse(name, status_code=error.status)

        return render

    add_page_errors(app, "/staff/", renderer("staff"))
    add_page_errors(app, "/staff/reports/", renderer("reports"))
    add_page_errors(app, "/complaints/", renderer("users"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as client:
        answers = {
            path: await client.get(path) for path in ("/staff/x", "/staff/reports/1", "/complaints/new")
        }
        assert {path: (a.status_code, a.text) for path, a in answers.items()} == {
            "/staff/x": (404, "staff"),
            "/staff/reports/1": (404, "reports"),
            "/complaints/new": (404, "users"),
        }
    # a page no prefix matches leaves the error to the app's problem+json handler
    strict = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pages")
    async with strict:
        with pytest.raises(NotFound):
            await strict.get("/other")
