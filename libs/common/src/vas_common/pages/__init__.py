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

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.staticfiles import StaticFiles

from vas_common.access import Audience, AudienceRoute
from vas_common.db import DATABASE_UNAVAILABLE
from vas_common.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    BadRequest,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

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


# -- page routes ------------------------------------------------------------------------------

PAGE_EXTENSION = "x-page"  # on a page's OpenAPI operation: it answers HTML, errors too
PAGE_ERRORS_STATE = "page_errors"  # app.state attribute: {path prefix: renderer}, see add_page_errors

# (request, error) -> the error as a page.
PageErrorRenderer = Callable[[Request, AppError], Awaitable[Response]]


def add_page_errors(app: FastAPI, prefix: str, renderer: PageErrorRenderer) -> None:
    """Render the errors of the pages whose path starts with `prefix` with `renderer` (a
    service's start-up). The longest prefix that matches wins, so a service with pages for users
    and for staff gives each its own error page; a page no prefix matches answers problem+json."""
    renderers: dict[str, PageErrorRenderer] | None = getattr(app.state, PAGE_ERRORS_STATE, None)
    if renderers is None:
        renderers = {}
        setattr(app.state, PAGE_ERRORS_STATE, renderers)
    renderers[prefix] = renderer


_HTML_CONTENT = {"text/html": {"schema": {"type": "string"}}}
_MAX_FORM_FIELDS = 50


def _as_page_response(status: int | str, response: dict[str, Any]) -> dict[str, Any]:
    """An error a page answers as a page, except what the middleware answers before routing."""
    if str(status) == "413":
        return {
            "description": response.get("description", "Payload too large"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    if str(status)[:1] in ("4", "5"):
        return {"description": response.get("description", ""), "content": _HTML_CONTENT}
    return response


class _PageRoute(AudienceRoute):
    """A page's route (see page_route_class); the audience is set by the subclass."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["openapi_extra"] = {**(kwargs.get("openapi_extra") or {}), PAGE_EXTENSION: True}
        super().__init__(path, endpoint, **kwargs)
        documented: dict[int | str, dict[str, Any]] = dict(self.responses)
        self.responses = {status: _as_page_response(status, r) for status, r in documented.items()}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except AppError as error:
                return await render_page_error(request, error)
            except RequestValidationError as invalid:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in invalid.errors()
                )
                return await render_page_error(request, ValidationFailed(detail))
            except DATABASE_UNAVAILABLE:
                return await render_page_error(
                    request, ServiceUnavailable("the database is not answering; try again shortly")
                )

        return page


@cache
def page_route_class(audience: Audience) -> type[APIRoute]:
    """Routes of server-rendered pages for `audience`: authenticated first like any route of the
    audience (vas_common.access), documented as HTML (`x-page`), and every error (401, 403, 404,
    422, 503 …) answered as a page by the service's PageErrorRenderer, never as JSON to a person."""
    return type(f"{audience.value.title()}PageRoute", (_PageRoute,), {"audience": audience})


def page_router(audience: Audience, **kwargs: Any) -> APIRouter:
    """An APIRouter of pages for `audience` (see page_route_class)."""
    return APIRouter(route_class=page_route_class(audience), default_response_class=HTMLResponse, **kwargs)


async def render_page_error(request: Request, error: AppError) -> Response:
    renderers: dict[str, PageErrorRenderer] = getattr(request.app.state, PAGE_ERRORS_STATE, {})
    path = request.url.path
    matching = [prefix for prefix in renderers if path.startswith(prefix)]
    if not matching:
        raise error  # no pages of its own to render it with: problem+json
    return await renderers[max(matching, key=len)](request, error)


def form_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """OpenAPI `requestBody` of a page's form (for `openapi_extra`); a form whose fields are all
    optional may be posted empty."""
    return {
        "requestBody": {
            "required": bool(required),
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": fields, "required": required}
                }
            },
        }
    }


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a posted form (`application/x-www-form-urlencoded`, UTF-8); the first value
    of a field given twice. An empty body is an empty form."""
    body = await request.body()
    if not body:
        return {}
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("a form is posted as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            max_num_fields=_MAX_FORM_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the form could not be read (not URL-encoded UTF-8)") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
