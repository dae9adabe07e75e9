"""The public status page (`GET /status`, no login, Chinese, no JavaScript): each service's
state now and its 90 days as bars (server-drawn SVG, coloured by class), the current incidents
with their public updates, maintenance to come, the history, and what is published. Built from
the same use case as `GET /v1/status` (`StatusService.board`); the Atom feed is `feed.py`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse

from incident.availability.domain import SHANGHAI
from incident.maintenance.domain import Window
from incident.status.api import Status
from incident.status.domain import (
    DayBar,
    PublicIncident,
    PublishedProduct,
    ServiceState,
    event_days,
    service_name,
)
from incident.status.domain import service_types as types_of
from incident.status.schemas import beijing
from incident.status.service import Board
from vas_common.access import Audience
from vas_common.pages import Language, Messages, Pages, page_router

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREFIX = "/status"
CACHE = {"Cache-Control": "public, max-age=30"}
BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 8, 2, 30

public_pages = page_router(Audience.PUBLIC, prefix=PREFIX, tags=["status (public pages)"])

MESSAGES: Messages = {
    Language.ZH_CN: {
        "status_title": "服务状态与服务承诺",
        "status_feed": "订阅更新（Atom）",
        "status_json": "数据接口（JSON）",
        "all_ok": "所有服务运行正常",
        "not_all_ok": "部分服务受到影响",
        "services_title": "各项服务当前状态",
        "services_days": "过去{days}天",
        "services_today": "今天",
        "services_availability": "可用性",
        "services_rule": "可用性计算规则",
        "rule_text": "按北京时间逐日计算：服务中断、紧急维护及未提前{hours:g}小时通知的维护按全部时长计为不可用；"
        "部分受影响按{weight:g}计；多个事件重叠时取最重者；{planned}"
        "可用性 = 1 − 加权不可用时长 ÷（统计时长 − 不计入的维护时长）。"
        "事件时长从影响开始计至影响消除（未记录消除时间的计至解决时间）。",
        "rule_planned_excluded": "提前{hours:g}小时通知的计划维护（至通知的结束时间为止）不计入统计时长。",
        "rule_planned_counted": "提前{hours:g}小时通知的计划维护也按服务中断计。",
        "state_operational": "正常运行",
        "state_degraded": "性能下降（部分受影响）",
        "state_outage": "服务中断",
        "state_maintenance": "维护中",
        "level_ok": "无故障",
        "level_warning": "有故障，未低于承诺",
        "level_breached": "有故障，低于承诺",
        "level_maintenance": "计划维护",
        "level_none": "无数据",
        "current_title": "当前事件",
        "current_none": "当前没有正在处理的事件。",
        "impact_full": "服务中断",
        "impact_partial": "部分受影响",
        "impact_maintenance": "维护",
        "incident_open": "处理中",
        "incident_mitigated": "已恢复，观察中",
        "incident_resolved": "已解决",
        "incident_since": "开始时间",
        "incident_mitigated_at": "恢复时间",
        "incident_resolved_at": "解决时间",
        "incident_affects": "影响范围",
        "incident_updates": "进展通报",
        "incident_no_updates": "暂无通报。",
        "maintenance_title": "维护计划",
        "maintenance_none": "近期没有维护计划。",
        "maintenance_when": "{start} 至 {end}（北京时间）",
        "maintenance_emergency": "紧急维护",
        "maintenance_scheduled": "计划中",
        "maintenance_in_progress": "进行中",
        "maintenance_completed": "已完成",
        "maintenance_cancelled": "已取消",
        "history_title": "过去{days}天记录",
        "history_none": "过去{days}天没有故障和维护。",
        "history_maintenance": "维护",
        "commitments_title": "服务承诺",
        "commitments_item": "项目",
        "commitments_promise": "承诺",
        "quality_reports": "服务质量月度通报（承诺逐项实测）",
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
        "feed_opened": "【{impact}】{title}",
        "feed_update": "【进展】{title}",
        "feed_resolved": "【已解决】{title}",
        "feed_maintenance_scheduled": "【维护计划】{what}",
        "feed_maintenance_rescheduled": "【维护时间变更】{what}",
        "feed_maintenance_cancelled": "【维护取消】{what}",
    },
}
T = MESSAGES[Language.ZH_CN]
STATE_CLASS = {
    ServiceState.OPERATIONAL: "ok",
    ServiceState.DEGRADED: "warning",
    ServiceState.OUTAGE: "breached",
    ServiceState.MAINTENANCE: "maintenance",
}


def status_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)


def site_name(request: Request) -> str:
    pages: Pages = request.app.state.status_pages
    return pages.site_name


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def announcement(p: PublishedProduct) -> dict[str, Any] | None:
    """A product's discontinuation as the page and the feed word it; None when none announced."""
    if p.discontinued_at is not None:
        text = T["ended_text"].format(when=beijing(p.discontinued_at))
    elif p.discontinue_at is not None:
        text = T["ending_text"].format(when=beijing(p.discontinue_at))
    else:
        return None
    return {
        "code": p.product_code,
        "name": p.text("name"),
        "text": text,
        "reason": p.discontinue_reason or "",
    }


def affects(services: tuple[str, ...], products: tuple[str, ...]) -> str:
    return "、".join([*(service_name(s) for s in services), *products])


def incident_view(p: PublicIncident) -> dict[str, Any]:
    i = p.incident
    return {
        "id": i.id,
        "title": i.title,
        "impact": T[f"impact_{i.impact.value}"],
        "impact_class": {"full": "breached", "partial": "warning"}.get(i.impact.value, "maintenance"),
        "status": T[f"incident_{i.status.value}"],
        "since": beijing(i.impact_started_at),
        "mitigated": beijing(i.mitigated_at) if i.mitigated_at else None,
        "resolved": beijing(i.resolved_at) if i.resolved_at else None,
        "affects": affects(i.services, i.products),
        "updates": [{"at": beijing(u.at), "text": u.text} for u in reversed(p.updates)],  # newest first
    }


def window_view(w: Window) -> dict[str, Any]:
    return {
        "id": w.id,
        "when": T["maintenance_when"].format(start=beijing(w.starts_at), end=beijing(w.ends_at)),
        "status": T[f"maintenance_{w.status.value}"],
        "emergency": w.emergency,
        "affects": affects(w.services, w.product_codes),
        "text": w.text_zh,
    }


def bars_view(bars: list[DayBar], linked: set[date]) -> list[dict[str, Any]]:
    return [
        {
            "x": n * (BAR_WIDTH + BAR_GAP),
            "level": b.level.value,
            "href": f"#day-{b.day.isoformat()}" if b.day in linked else None,
            "label": f"{b.day.isoformat()} {T['services_availability']} {percent(b.figures.availability)}"
            f" · {T['level_' + b.level.value]}",
        }
        for n, b in enumerate(bars)
    ]


def history_view(board: Board) -> list[dict[str, Any]]:
    """Days with incidents or maintenance, newest first. An incident is told in full once (under
    the current incidents while open, else on the first of its days here) and named with a link
    to that on the other days it went on."""
    incidents = {p.incident.id: p for p in board.incidents}
    windows = {w.id: w for w in board.windows}
    told: set[UUID] = set()
    days = []
    for day, (incident_ids, window_ids) in sorted(
        event_days([p.incident for p in board.incidents], board.ran, board.days, board.now).items()
    ):
        entries = []
        for iid in incident_ids:
            shown = incidents[iid]
            # Told in full once: under "current" while it is open, else on its first day here.
            anchor = f"#current-{iid}" if shown.incident.is_open else f"#incident-{iid}"
            link = anchor if shown.incident.is_open or iid in told else None
            entries.append({"incident": incident_view(shown), "link": link})
            told.add(iid)
        days.append(
            {
                "id": f"day-{day.isoformat()}",
                "day": f"{day.year}年{day.month}月{day.day}日",
                "incidents": entries,
                "windows": [window_view(windows[w]) for w in window_ids],
            }
        )
    return list(reversed(days))


def rule_text(board: Board) -> str:
    """The availability rule in Chinese (`GET /v1/status` and `/v1/availability` give it in
    English too)."""
    rule = board.rule
    planned = T["rule_planned_excluded" if rule.exclude_on_time_maintenance else "rule_planned_counted"]
    return T["rule_text"].format(
        hours=rule.notice_hours, weight=rule.partial_weight, planned=planned.format(hours=rule.notice_hours)
    )


def quality_reports(now: datetime, months: int = 3) -> list[dict[str, str]]:
    """Links to the public quality reports (incident.quality) of this month and the ones before."""
    local = now.astimezone(SHANGHAI)
    year, month = local.year, local.month
    links = []
    for _ in range(months):
        links.append({"label": f"{year}年{month}月", "href": f"/status/quality/{year}-{month:02d}"})
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return links


def page_context(board: Board) -> dict[str, Any]:
    days = len(board.days)
    history = history_view(board)
    linked = {date.fromisoformat(d["id"].removeprefix("day-")) for d in history}
    published = board.published
    return {
        "all_ok": all(s.state is ServiceState.OPERATIONAL for s in board.services),
        "days_label": T["services_days"].format(days=days),
        "history_title": T["history_title"].format(days=days),
        "history_none": T["history_none"].format(days=days),
        "bars_width": days * (BAR_WIDTH + BAR_GAP) - BAR_GAP,
        "bar_width": BAR_WIDTH,
        "bar_height": BAR_HEIGHT,
        "services": [
            {
                "slug": s.service,
                "name": service_name(s.service),
                "state": T[f"state_{s.state.value}"],
                "state_class": STATE_CLASS[s.state],
                "availability": percent(s.figures.availability),
                "bars": bars_view(s.bars, linked),
            }
            for s in board.services
        ],
        "rule": rule_text(board),
        "current": [incident_view(p) for p in board.current],
        "upcoming": [window_view(w) for w in board.upcoming],
        "history": history,
        "commitments": published.commitments,
        "quality_reports": quality_reports(board.now),
        "service_types": types_of(published.products),
        "products": [
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
        ],
        "announcements": [a for p in published.products if (a := announcement(p))],
    }


@public_pages.get("", summary="The public status page")
async def status_page(request: Request, status: Status) -> HTMLResponse:
    pages: Pages = request.app.state.status_pages
    response = pages.render(
        request, "status.html", page_context(await status.board()), language=Language.ZH_CN
    )
    response.headers.update(CACHE)
    return response
