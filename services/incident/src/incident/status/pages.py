"""The public status page (`GET /status`, no login, Chinese, no JavaScript) and its Atom feed
(`GET /status/feed.atom`): what the provider publishes of its service, from the same use cases
as the JSON API (`GET /v1/status/published`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedgenerator
from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from incident.status.api import Status
from incident.status.domain import PublishedProduct, service_types
from vas_common.access import Audience
from vas_common.pages import Language, Messages, Pages, page_router

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREFIX = "/status"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
SHANGHAI = ZoneInfo("Asia/Shanghai")

public_pages = page_router(Audience.PUBLIC, prefix=PREFIX, tags=["status (public pages)"])

MESSAGES: Messages = {
    Language.ZH_CN: {
        "status_title": "服务状态与服务承诺",
        "status_feed": "订阅更新（Atom）",
        "status_json": "数据接口（JSON）",
        "commitments_title": "服务承诺",
        "commitments_item": "项目",
        "commitments_promise": "承诺",
        "types_title": "业务类型",
        "types_count": "在售业务数",
        "products_title": "在售业务、资费与适用范围",
        "products_empty": "暂无在售业务。",
        "products_name": "业务名称",
        "products_code": "业务代码",
        "products_provider": "提供方",
        "products_price": "资费",
        "products_scope": "适用范围",
        "products_cancel": "退订方式",
        "products_hotline": "客服电话",
        "ending_title": "业务停止公告",
        "ending_text": "将于{when}停止服务",
        "ended_text": "已于{when}停止服务",
        "ending_reason": "原因",
        "feed_title": "服务状态",
        "feed_ending": "业务停止：{name}（{code}）",
    },
}


def status_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.status_pages
    return pages


def local(moment: datetime) -> str:
    """An instant as the page shows it: Beijing time, to the minute."""
    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


def _announcement(p: PublishedProduct) -> dict[str, Any] | None:
    t = MESSAGES[Language.ZH_CN]
    if p.discontinued_at is not None:
        text = t["ended_text"].format(when=local(p.discontinued_at))
    elif p.discontinue_at is not None:
        text = t["ending_text"].format(when=local(p.discontinue_at))
    else:
        return None
    return {
        "code": p.product_code,
        "name": p.text("name"),
        "text": text,
        "reason": p.discontinue_reason or "",
    }


@public_pages.get("", summary="The public status page")
async def status_page(request: Request, status: Status) -> HTMLResponse:
    published = await status.published()
    products = [
        {
            "code": p.product_code,
            "name": p.text("name"),
            "provider": p.text("provider"),
            "price": p.text("price"),
            "scope": p.text("availability"),
            "cancel": p.text("how_to_cancel"),
            "hotline": p.text("fault_hotline"),
        }
        for p in published.products
        if p.on_sale
    ]
    response = _pages(request).render(
        request,
        "status.html",
        {
            "commitments": published.commitments,
            "service_types": service_types(published.products),
            "products": products,
            "announcements": [a for p in published.products if (a := _announcement(p))],
        },
        language=Language.ZH_CN,
    )
    response.headers["Cache-Control"] = "public, max-age=30"
    return response


@public_pages.get(
    "/feed.atom",
    summary="The status page's updates as an Atom feed",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}}},
)
async def status_feed(request: Request, status: Status) -> Response:
    published = await status.published()
    t = MESSAGES[Language.ZH_CN]
    page = str(request.url_for("status_page"))
    feed = feedgenerator.Atom1Feed(
        title=f"{_pages(request).site_name} {t['feed_title']}",
        link=page,
        description=t["status_title"],
        language="zh-CN",
        feed_url=str(request.url),
    )
    for p in published.products:
        announcement = _announcement(p)
        if announcement is None:
            continue
        feed.add_item(
            title=t["feed_ending"].format(name=announcement["name"], code=p.product_code),
            link=f"{page}#ending-{p.product_code}",
            description=f"{announcement['name']}{announcement['text']}。{announcement['reason']}",
            unique_id=f"urn:vas:product-ending:{p.product_id}:{(p.discontinued_at or p.discontinue_at)}",
            updateddate=p.discontinued_at or p.discontinue_at,
            pubdate=p.discontinued_at or p.discontinue_at,
        )
    return Response(
        feed.writeString("utf-8"), media_type=ATOM_TYPE, headers={"Cache-Control": "public, max-age=30"}
    )
