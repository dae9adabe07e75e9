"""Server-rendered pages with one look for the whole suite: staff consoles, the public status page,
reports, the public catalogue.

A service keeps its templates in its own package (`<pkg>/templates/`), each extending the shared
`layout.html`, and renders them with one `Pages` object wired at start-up:

    pages = Pages(Path(__file__).parent / "templates", MESSAGES, site_name=settings.provider_name)
    return pages.render(request, "catalogue.html", {"products": entries}, language=Language.ZH_CN)

The rules every page follows:
- Chinese (zh-CN) for users; a staff page also offers English, chosen by `?lang=en` or the
  `lang` cookie that choice leaves (`staff_language`), and renders with `offer_languages=True`.
- No JavaScript needed, no script or style inline, nothing from another host: the
  Content-Security-Policy below lets the browser load only this origin's files, and the
  stylesheet (`/static/suite/suite.css`, mounted in every service by `create_service_app`) is
  vendored here. Colour an SVG chart with classes or presentation attributes, never `style=`.

Words a page shows come from a message catalogue: for each language, a flat dict of key → text,
given to the template as `t` (`{{ t.catalogue_title }}`). A dict per template set rather than
gettext (Babel, .po/.mo files) because the suite has two languages and a few pages: the texts
stay in plain Python beside the code that uses them, there is no extraction or compile step to
forget, and `Pages` checks at start-up that every language has every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static/suite"

LANGUAGE_PARAM = "lang"  # the query parameter, and the cookie that keeps the choice
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 24 * 3600

# default-src 'self' covers scripts and styles (so none inline), images, fonts and connections;
# the rest closes what default-src does not: framing, <base> and form targets on other hosts.
CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class Language(StrEnum):
    """The languages pages are written in; the value is the page's `<html lang>`."""

    ZH_CN = "zh-CN"  # every page, and the only language of pages for users
    EN = "en"  # staff pages, on request

    @property
    def label(self) -> str:
        """The language's name in itself, for the switch between them."""
        return _LABELS[self]


_LABELS = {Language.ZH_CN: "中文", Language.EN: "English"}
_BY_VALUE = {language.value: language for language in Language}

Messages = Mapping[Language, Mapping[str, str]]

# The words of the shared layout.
LAYOUT_MESSAGES: Messages = {
    Language.ZH_CN: {
        "layout_skip": "跳到正文",
        "layout_languages": "语言",
        "layout_times": "本页时间均为北京时间。",
    },
    Language.EN: {
        "layout_skip": "Skip to content",
        "layout_languages": "Language",
        "layout_times": "Times on this page are Beijing time (Asia/Shanghai).",
    },
}


def staff_language(request: Request) -> Language:
    """The language a staff page is shown in: `?lang=` if it names one, else the `lang` cookie,
    else Chinese. Anything else in either is ignored."""
    for chosen in (request.query_params.get(LANGUAGE_PARAM), request.cookies.get(LANGUAGE_PARAM)):
        if chosen in _BY_VALUE:
            return _BY_VALUE[chosen]
    return Language.ZH_CN


class Pages:
    """The templates of one service (looked up first) and the shared ones, with the service's
    message catalogue over the layout's."""

    def __init__(
        self,
        package_templates: Path | None = None,
        messages: Messages | None = None,
        *,
        site_name: str = "VAS",
    ) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES)]
        if package_templates is not None:
            if not package_templates.is_dir():
                raise ValueError(f"no templates folder at {package_templates}")
            loaders.insert(0, jinja2.FileSystemLoader(package_templates))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,
            # A missing message or context value is an error, not an empty gap on a page.
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.site_name = site_name
        self.messages = _merged(LAYOUT_MESSAGES, messages or {})

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        language: Language,
        offer_languages: bool = False,
        status_code: int = 200,
    ) -> HTMLResponse:
        """The page as an HTML response with the suite's security headers. With
        `offer_languages`, the header links to the page in each language, and a language chosen
        by `?lang=` is kept in a cookie for the next pages."""
        if language not in self.messages:
            raise ValueError(f"no messages in {language.value} for {template}")
        if offer_languages and set(self.messages) != set(Language):
            raise ValueError(
                f"{template} offers every language but has messages only in {list(self.messages)}"
            )
        html = self.env.get_template(template).render(
            {
                "language": language.value,
                "t": self.messages[language],
                "site_name": self.site_name,
                "static": STATIC_PATH,
                "language_links": _language_links(request, language) if offer_languages else [],
                **(context or {}),
            }
        )
        response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
        if offer_languages and request.query_params.get(LANGUAGE_PARAM) == language.value:
            response.set_cookie(
                LANGUAGE_PARAM,
                language.value,
                max_age=LANGUAGE_COOKIE_MAX_AGE_S,
                httponly=True,
                samesite="lax",
            )
        return response


def mount_static(app: FastAPI) -> None:
    """Serve the suite's stylesheet and its other files at STATIC_PATH (not in OpenAPI)."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="suite-static")


def _merged(layout: Messages, own: Messages) -> dict[Language, dict[str, str]]:
    """The layout's messages with the service's over them, in the languages the service gives;
    each of those languages must have the same keys as the others."""
    languages = list(own) or [Language.ZH_CN]
    keys = {language: set(own.get(language, {})) for language in languages}
    first = languages[0]
    for language in languages[1:]:
        if keys[language] != keys[first]:
            missing = keys[first] ^ keys[language]
            raise ValueError(f"messages in {first.value} and {language.value} differ in {sorted(missing)}")
    return {language: {**layout[language], **own.get(language, {})} for language in languages}


def _language_links(request: Request, current: Language) -> list[dict[str, Any]]:
    """Links to this page in each language, keeping its other query parameters."""
    links = []
    for language in Language:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != LANGUAGE_PARAM]
        query.append((LANGUAGE_PARAM, language.value))
        links.append(
            {
                "language": language.value,
                "label": language.label,
                "href": f"{request.url.path}?{urlencode(query)}",
                "current": language is current,
            }
        )
    return links
