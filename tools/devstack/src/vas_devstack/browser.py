"""pytest fixtures for page tests in a real browser: Debian's chromium driven by Playwright.

Loaded by `vas_devstack.pytest_plugin`. `browser` is one headless chromium for the session (the
system's, through `executable_path`; Playwright never downloads one: `make browser` installs
chromium and a CJK font with apt). `open_page(url)` opens a page in a fresh context, waits for
it to load, fails the test on any console error (a CSP violation included) or any request to a
host other than the page's own, and keeps a full-page screenshot in
test-artifacts/screenshots/<test name>.png to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Route

SCREENSHOTS = Path("test-artifacts") / "screenshots"  # under pytest's rootdir: the repository

# The machine's network is closed: without these, chromium's own background connections
# (updates, sync, safe browsing) are refused, over and over, while a test runs.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

OpenPage = Callable[..., Awaitable["OpenedPage"]]


async def screenshot(page: Page, request: pytest.FixtureRequest, name: str) -> Path:
    """A full-page screenshot of the page as it is now, kept as
    test-artifacts/screenshots/<test name>-<name>.png (open_page keeps one of the page as opened)."""
    path = request.config.rootpath / SCREENSHOTS / f"{request.node.name}-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True)
    return path


async def submit(page: Page, button: Any) -> None:
    """Click a form's button and wait for the page it leads to (no JavaScript: a navigation)."""
    async with page.expect_navigation():
        await button.click()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class OpenedPage:
    page: Page
    screenshot: Path
    origin: str
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    foreign: list[str] = field(default_factory=list)  # those on another origin (refused)
    errors: list[str] = field(default_factory=list)  # console errors, page errors, failed loads

    async def fonts_of(self, selector: str) -> dict[str, int]:
        """The fonts chromium drew the text of the first element matching `selector` with:
        family name → number of glyphs. Chinese drawn as boxes shows as glyphs of a font that
        has no Chinese (or none), so a test can require a CJK font here."""
        cdp = await self.page.context.new_cdp_session(self.page)
        try:
            await cdp.send("DOM.enable")
            await cdp.send("CSS.enable")
            document = await cdp.send("DOM.getDocument")
            node = await cdp.send(
                "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector}
            )
            assert node["nodeId"], f"nothing on the page matches {selector!r}"
            fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
            return {f["familyName"]: int(f["glyphCount"]) for f in fonts["fonts"]}
        finally:
            await cdp.detach()

    def problems(self) -> list[str]:
        return [f"console: {e}" for e in self.errors] + [
            f"request to another host: {u}" for u in self.foreign
        ]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, for the session. Fails (does not skip) when it is missing:
    page tests are part of `make test`, which installs it."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium is not installed: run `make browser` (Debian's chromium and fonts-wqy-microhei)",
            pytrace=False,
        )
    from playwright.async_api import async_playwright

    # chromium's sandbox needs user namespaces that root in a container does not get.
    args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def open_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[OpenPage]:
    """`await open_page(url, javascript=True, cookies={name: value})` → OpenedPage, checked and photographed; the
    checks run again at the end of the test, for what the test's own clicks caused."""
    contexts: list[BrowserContext] = []
    opened: list[OpenedPage] = []
    base_name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    screenshots = request.config.rootpath / SCREENSHOTS

    async def open_(
        url: str, *, javascript: bool = True, cookies: Mapping[str, str] | None = None
    ) -> OpenedPage:
        name = base_name if not opened else f"{base_name}-{len(opened) + 1}"
        context = await browser.new_context(
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            java_script_enabled=javascript,
            viewport={"width": 1280, "height": 800},
            service_workers="block",
        )
        contexts.append(context)
        if cookies:  # e.g. a staff session cookie, for a page behind the sign-in
            await context.add_cookies(
                [{"name": k, "value": v, "url": origin_of(url)} for k, v in cookies.items()]
            )
        page = await context.new_page()
        result = OpenedPage(page, screenshots / f"{name}.png", origin_of(url))
        opened.append(result)

        async def only_own_origin(route: Route) -> None:
            result.requests.append(route.request.url)
            if origin_of(route.request.url) == result.origin:
                await route.continue_()
            else:
                result.foreign.append(route.request.url)
                await route.abort("blockedbyclient")

        def console(message: Any) -> None:
            if message.type == "error":
                result.errors.append(f"{message.text} ({message.location.get('url', '')})")

        await context.route("**/*", only_own_origin)
        page.on("console", console)
        page.on("pageerror", lambda error: result.errors.append(f"page error: {error}"))

        def failed(request: Any) -> None:
            # ERR_ABORTED: a load the page itself gave up on, leaving for another page
            if request.failure != "net::ERR_ABORTED":
                result.errors.append(f"failed to load {request.url}: {request.failure}")

        page.on("requestfailed", failed)
        response = await page.goto(url, wait_until="load")
        assert response is not None, f"no response for {url}"
        assert response.ok, f"{url} answered {response.status}: {await response.text()}"
        screenshots.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=result.screenshot, full_page=True)
        assert not result.problems(), f"{url}:\n" + "\n".join(result.problems())
        return result

    yield open_
    for context in contexts:
        await context.close()
    problems = [f"{p.origin}: {problem}" for p in opened for problem in p.problems()]
    assert not problems, "\n".join(problems)
