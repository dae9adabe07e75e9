"""The quality report as pages and a PDF:

- `GET /staff/quality/{period}`: staff (Chinese, or English with `?lang=en`), with the send delay
  per partner; `GET /staff/quality/{period}.pdf`: the regulator's PDF (A4, Chinese; the font
  setup of the regulator report's PDF);
- `GET /status/quality/{period}`: the public version on the status page (Chinese, no per-partner
  or per-user data).

The chart (each day's p99 send delay against the target) is SVG drawn here: no script, no CDN."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer

from incident.quality.api import Quality
from incident.quality.domain import RELATIVE_ACCURACY, SHANGHAI, Promise
from incident.quality.schemas import SERVQUAL_SOURCES
from incident.quality.service import (
    DayFigures,
    InvalidMonth,
    InvalidPeriod,
    QualityReport,
    Servqual,
    ServqualMonth,
)
from incident.regulator_reports.pdf import paragraph, table
from vas_common.access import Audience
from vas_common.errors import AppError, documented
from vas_common.pages import SECURITY_HEADERS, Language, Messages, Pages, page_router, staff_language

TEMPLATES = Path(__file__).resolve().parent / "templates"
STAFF_PREFIX = "/staff/quality"
PUBLIC_PREFIX = "/status/quality"

staff_pages = page_router(Audience.STAFF, prefix=STAFF_PREFIX, tags=["quality (staff pages)"])
public_pages = page_router(Audience.PUBLIC, prefix=PUBLIC_PREFIX, tags=["quality (public pages)"])

PERIOD = PathParam(max_length=16, description="A month YYYY-MM or a quarter YYYY-Qn (Asia/Shanghai)")

MESSAGES: Messages = {
    Language.ZH_CN: {
        "quality_title": "服务质量报告 {period}",
        "quality_public_title": "服务质量通报 {period}",
        "quality_intro": "本报告由系统运行中持续采集的事件数据自动生成，逐项列出服务承诺、实测结果、是否达成及数据来源。",
        "quality_pdf": "下载 PDF（报送通信管理部门）",
        "quality_json": "JSON 数据",
        "quality_servqual": "SERVQUAL 差距分析",
        "quality_promises": "服务承诺达成情况",
        "quality_promise": "承诺项目",
        "quality_target": "承诺",
        "quality_measured": "实测",
        "quality_met": "结果",
        "quality_source": "数据来源",
        "quality_met_yes": "达成",
        "quality_met_no": "未达成",
        "quality_met_unknown": "无法判定",
        "quality_chart": "每日短信发送时延 P99（秒），虚线为承诺值",
        "quality_days": "每日数据",
        "quality_day": "日期",
        "quality_messages": "下行短信",
        "quality_share": "{target}秒内占比",
        "quality_p99": "P99（秒）",
        "quality_max": "最大（秒）",
        "quality_mt_peak": "下行峰值（条/秒）",
        "quality_mo_peak": "上行峰值（条/秒）",
        "quality_busy": "忙时平均（条/秒）",
        "quality_partners": "各合作方发送时延",
        "quality_partner": "合作方",
        "quality_system": "平台自有短信",
        "quality_accuracy": "时延百分位由对数分桶直方图合并得出，相对误差不超过{accuracy}；条数、占比与最大值为精确值。",
        "quality_generated": "生成时间",
        "servqual_title": "服务质量差距分析（SERVQUAL）{month}",
        "servqual_intro": "按 SERVQUAL 模型逐月列出三个差距及近6个月趋势：差距3为服务标准与实际交付之差，差距4为状态页公布与实际发生之差，差距5为用户期望与感知之差。",
        "servqual_gap3": "差距3：服务标准与实际交付",
        "servqual_gap4": "差距4：对外公布与实际交付",
        "servqual_gap5": "差距5：用户期望与感知",
        "servqual_trend": "近6个月趋势",
        "servqual_month": "月份",
        "servqual_judged": "可判定承诺",
        "servqual_met": "达成",
        "servqual_not_met": "未达成",
        "servqual_cannot_say": "无法判定",
        "servqual_incidents": "故障（实测）",
        "servqual_published": "已在状态页公布",
        "servqual_unpublished": "未公布",
        "servqual_pub_delay": "公布时延中位数",
        "servqual_outages": "停服次数",
        "servqual_replies": "满意度回复",
        "servqual_mean": "平均分",
        "servqual_satisfied": "满意（4–5分）占比",
        "servqual_expected": "期望（目标占比）",
        "servqual_chart_gap3": "每月未达成的承诺数",
        "servqual_chart_gap4": "每月未在状态页公布的故障数",
        "servqual_chart_gap5": "每月满意（4–5分）回复占比，虚线为期望",
        "servqual_sources": "数据来源",
        "servqual_none": "无",
        "error_title": "无法显示",
        "error_sign_in": "请先在员工控制台登录，再打开本页。",
    },
    Language.EN: {
        "quality_title": "Service quality report {period}",
        "quality_public_title": "Service quality {period}",
        "quality_intro": "Generated from the events the running system records: each promise, what was measured, met or not, and where the data came from.",
        "quality_pdf": "PDF (for the regulator)",
        "quality_json": "JSON",
        "quality_servqual": "SERVQUAL gaps",
        "quality_promises": "Promises",
        "quality_promise": "Promise",
        "quality_target": "Target",
        "quality_measured": "Measured",
        "quality_met": "Result",
        "quality_source": "Data source",
        "quality_met_yes": "met",
        "quality_met_no": "not met",
        "quality_met_unknown": "cannot say",
        "quality_chart": "SMS send delay p99 per day (s); the dashed line is the target",
        "quality_days": "Per day",
        "quality_day": "Day",
        "quality_messages": "MT messages",
        "quality_share": "Within {target} s",
        "quality_p99": "p99 (s)",
        "quality_max": "max (s)",
        "quality_mt_peak": "MT peak (/s)",
        "quality_mo_peak": "MO peak (/s)",
        "quality_busy": "Busy hour mean (/s)",
        "quality_partners": "Send delay per partner",
        "quality_partner": "Partner",
        "quality_system": "Platform's own messages",
        "quality_accuracy": "Delay percentiles come from merged log-bucket histograms, within {accuracy} of the true value; counts, shares and the max are exact.",
        "quality_generated": "Generated",
        "servqual_title": "Service quality gaps (SERVQUAL) {month}",
        "servqual_intro": "The SERVQUAL gaps of the month with the 6-month trend: gap 3, the standard vs what was delivered; gap 4, what the status page published vs what happened; gap 5, what users expected vs what they perceived.",
        "servqual_gap3": "Gap 3: the standard vs what was delivered",
        "servqual_gap4": "Gap 4: what was published vs what was delivered",
        "servqual_gap5": "Gap 5: expected vs perceived",
        "servqual_trend": "The last 6 months",
        "servqual_month": "Month",
        "servqual_judged": "Promises judged",
        "servqual_met": "Met",
        "servqual_not_met": "Not met",
        "servqual_cannot_say": "Cannot say",
        "servqual_incidents": "Incidents (measured)",
        "servqual_published": "Published on the status page",
        "servqual_unpublished": "Not published",
        "servqual_pub_delay": "Median time to publish",
        "servqual_outages": "Outages",
        "servqual_replies": "Satisfaction replies",
        "servqual_mean": "Mean score",
        "servqual_satisfied": "Satisfied (4-5)",
        "servqual_expected": "Expected (target share)",
        "servqual_chart_gap3": "Promises not met per month",
        "servqual_chart_gap4": "Incidents never published per month",
        "servqual_chart_gap5": "Share of replies scoring 4-5 per month; the dashed line is the expectation",
        "servqual_sources": "Data sources",
        "servqual_none": "none",
        "error_title": "Cannot show this",
        "error_sign_in": "Sign in on the staff console first, then open this page.",
    },
}


def quality_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.quality_pages
    return pages


# -- the chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    level: str  # ok | breached
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    bottom: int
    bars: list[Bar]
    target_y: float
    target_label: str
    ticks: list[tuple[float, str]]
    first_label: str
    last_label: str


def delay_chart(days: Sequence[DayFigures], target_s: float) -> Chart:
    """A bar per day (its p99 send delay; none: no bar), coloured against the target; SVG units."""
    width, height, left, right, top, bottom = 720, 260, 48, 700, 16, 226
    p99s = [d.delay.p99_s for d in days]
    ceiling = max([target_s * 1.5, *(p for p in p99s if p is not None)])

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * min(value, ceiling) / ceiling, 1)

    slot = (right - left) / max(1, len(days))
    bars = [
        Bar(
            x=round(left + slot * i + slot * 0.15, 1),
            y=y_of(p),
            width=round(slot * 0.7, 1),
            height=round(bottom - y_of(p), 1),
            level="ok" if p < target_s else "breached",
            label=f"{d.day.isoformat()} P99 {p:.3f} s",
        )
        for i, (d, p) in enumerate(zip(days, p99s, strict=True))
        if p is not None
    ]
    steps = 4
    ticks = [(y_of(ceiling * k / steps), f"{ceiling * k / steps:.1f}") for k in range(steps + 1)]
    return Chart(
        width,
        height,
        left,
        right,
        bottom,
        bars,
        y_of(target_s),
        f"{target_s:g} s",
        ticks,
        days[0].day.isoformat() if days else "",
        days[-1].day.isoformat() if days else "",
    )


def trend_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    target: float | None = None,
    ceiling: float | None = None,
    percent: bool = False,
    worse_above: bool = True,
) -> Chart:
    """A bar per month (none: no bar), coloured against the target when there is one; SVG units."""
    width, height, left, right, top, bottom = 480, 200, 48, 460, 16, 166
    present = [v for v in values if v is not None]
    top_value = ceiling or max([1.0, *(present or [0.0]), *([target] if target is not None else [])])
    if not percent:
        top_value = 4.0 * max(1, math.ceil(top_value / 4))  # whole-number ticks for counts

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * min(value, top_value) / top_value, 1)

    def bad(value: float) -> bool:
        if target is None:
            return value > 0 if worse_above else False
        return value > target if worse_above else value < target

    slot = (right - left) / max(1, len(labels))
    bars = [
        Bar(
            x=round(left + slot * i + slot * 0.2, 1),
            y=y_of(v),
            width=round(slot * 0.6, 1),
            height=round(bottom - y_of(v), 1),
            level="breached" if bad(v) else "ok",
            label=f"{label} {v:.1%}" if percent else f"{label} {v:g}",
        )
        for i, (label, v) in enumerate(zip(labels, values, strict=True))
        if v is not None
    ]
    ticks = [
        (y_of(top_value * k / 4), f"{top_value * k / 4:.0%}" if percent else f"{top_value * k / 4:g}")
        for k in range(5)
    ]
    return Chart(
        width,
        height,
        left,
        right,
        bottom,
        bars,
        y_of(target) if target is not None else -1,
        "" if target is None else (f"{target:.0%}" if percent else f"{target:g}"),
        ticks,
        labels[0] if labels else "",
        labels[-1] if labels else "",
    )


# -- the views ------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.3%}"


def _promise_row(p: Promise, t: Mapping[str, str], language: Language) -> dict[str, Any]:
    zh = language is Language.ZH_CN
    if p.met is None:
        met = ("muted", t["quality_met_unknown"])
    else:
        met = ("ok", t["quality_met_yes"]) if p.met else ("breached", t["quality_met_no"])
    return {
        "key": p.key,
        "name": p.name_zh if zh else p.name_en,
        "target": p.target_zh if zh else p.target,
        "measured": p.measured_zh if zh else p.measured,
        "met_class": met[0],
        "met": met[1],
        "source": p.data_source_zh if zh else p.data_source,
    }


def view(report: QualityReport, pages: Pages, language: Language, target_s: float) -> dict[str, Any]:
    t = pages.messages[language]
    return {
        "period": report.period.label,
        "generated": report.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "promises": [_promise_row(p, t, language) for p in report.promises],
        "chart": delay_chart(report.days, target_s),
        "share_label": t["quality_share"].format(target=f"{target_s:g}"),
        "accuracy": t["quality_accuracy"].format(accuracy=f"{RELATIVE_ACCURACY:.0%}"),
        "days": [
            {
                "day": d.day.isoformat(),
                "messages": d.delay.messages,
                "share": _share(d.delay.share_within_target),
                "p99": _num(d.delay.p99_s),
                "max": _num(d.delay.max_s),
                "mt_peak": d.mt_peak_per_second,
                "mo_peak": d.mo_peak_per_second,
                "busy": _num(
                    max(
                        (h.mean_per_second for h in (d.mt_busy_hour, d.mo_busy_hour) if h is not None),
                        default=None,
                    ),
                    1,
                ),
            }
            for d in report.days
            if d.delay.messages or d.mt_messages or d.mo_messages
        ],
        "partners": (
            None
            if report.partners is None
            else [
                {
                    "name": t["quality_system"] if p.int == 0 else report.partner_names.get(p, str(p)),
                    "id": None if p.int == 0 or p not in report.partner_names else str(p),
                    "messages": f.messages,
                    "share": _share(f.share_within_target),
                    "p99": _num(f.p99_s),
                    "max": _num(f.max_s),
                }
                for p, f in sorted(report.partners.items())
            ]
        ),
    }


def servqual_view(s: Servqual, pages: Pages, language: Language) -> dict[str, Any]:
    t = pages.messages[language]
    labels = [m.month for m in s.months]
    name = 0 if language is Language.ZH_CN else 1
    separator = "、" if language is Language.ZH_CN else ", "

    def promises(month: ServqualMonth, keys: list[str]) -> str:
        """The promises by name in the page's language (the keys are the JSON's)."""
        return separator.join(month.names[k][name] if k in month.names else k for k in keys)

    rows = [
        {
            "month": m.month,
            "judged": m.promises_judged,
            "met": m.promises_met,
            "gap3": m.gap3,
            "not_met": promises(m, m.not_met) or t["servqual_none"],
            "cannot_say": promises(m, m.cannot_say) or t["servqual_none"],
            "incidents": m.incidents,
            "published": m.published,
            "gap4": m.gap4,
            "pub_delay": "—" if m.publication_median_s is None else f"{m.publication_median_s / 60:.1f} min",
            "outages": m.outages,
            "replies": m.reply_count,
            "by_score": [m.replies.get(score, 0) for score in range(1, 6)],
            "mean": _num(m.mean_score, 2),
            "satisfied": _share(m.satisfied_share),
            "gap5_class": (
                "muted"
                if m.satisfied_share is None
                else ("ok" if m.satisfied_share >= s.satisfied_target else "breached")
            ),
        }
        for m in s.months
    ]
    return {
        "month": s.month,
        "generated": s.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "current": rows[-1],
        "trend": rows,
        "expected": f"{s.satisfied_target:.0%}",
        "charts": {
            "gap3": trend_chart(labels, [float(m.gap3) for m in s.months]),
            "gap4": trend_chart(labels, [float(m.gap4) for m in s.months]),
            "gap5": trend_chart(
                labels,
                [m.satisfied_share for m in s.months],
                target=s.satisfied_target,
                ceiling=1.0,
                percent=True,
                worse_above=False,
            ),
        },
        "sources": SERVQUAL_SOURCES,
        "title": t["servqual_title"].format(month=s.month),
    }


# -- the routes -----------------------------------------------------------------------


@staff_pages.get(
    "/{period}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **documented(InvalidPeriod),
    },
)
async def report_pdf(period: Annotated[str, PERIOD], request: Request, quality: Quality) -> Response:
    """The report as a PDF for the regulator (A4, Chinese; no per-partner data)."""
    report = await quality.report(period, per_partner=False)
    return Response(
        render_pdf(report, _pages(request).site_name),
        media_type="application/pdf",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'inline; filename="quality-{report.period.label}.pdf"',
        },
    )


@staff_pages.get("/servqual/{month}", response_class=HTMLResponse, responses=documented(InvalidMonth))
async def servqual_page(
    month: Annotated[str, PathParam(max_length=16, description="YYYY-MM (Asia/Shanghai)")],
    request: Request,
    quality: Quality,
) -> HTMLResponse:
    """The SERVQUAL view of a month with the 6-month trend, for staff (Chinese; `?lang=en`)."""
    pages = _pages(request)
    language = staff_language(request)
    servqual = await quality.servqual(month)
    links = {"json": f"/v1/quality/servqual/{servqual.month}", "report": f"{STAFF_PREFIX}/{servqual.month}"}
    return pages.render(
        request,
        "quality_servqual.html",
        {**servqual_view(servqual, pages, language), "links": links},
        language=language,
        offer_languages=True,
    )


@staff_pages.get("/{period}", response_class=HTMLResponse, responses=documented(InvalidPeriod))
async def staff_page(period: Annotated[str, PERIOD], request: Request, quality: Quality) -> HTMLResponse:
    """The report for staff, with the send delay per partner (Chinese; `?lang=en` for English)."""
    pages = _pages(request)
    language = staff_language(request)
    report = await quality.report(period, per_partner=True)
    context = view(report, pages, language, quality.targets.delay_target_s)
    links = {
        "pdf": f"{STAFF_PREFIX}/{report.period.label}.pdf",
        "json": f"/v1/quality/reports/{report.period.label}",
        "servqual": (
            f"{STAFF_PREFIX}/servqual/{report.period.label}" if len(report.period.months) == 1 else None
        ),
    }
    return pages.render(
        request,
        "quality_report.html",
        {**context, "links": links, "public": False},
        language=language,
        offer_languages=True,
    )


@public_pages.get(
    "/{period}", summary="The public service quality report", responses=documented(InvalidPeriod)
)
async def public_page(period: Annotated[str, PERIOD], request: Request, quality: Quality) -> HTMLResponse:
    """The report for the public (Chinese): the promises and the days, no per-partner data."""
    pages = _pages(request)
    report = await quality.report(period, per_partner=False)
    context = view(report, pages, Language.ZH_CN, quality.targets.delay_target_s)
    response = pages.render(
        request,
        "quality_report.html",
        {**context, "links": None, "public": True},
        language=Language.ZH_CN,
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def render_error(request: Request, error: AppError) -> Response:
    language = staff_language(request) if request.url.path.startswith(STAFF_PREFIX) else Language.ZH_CN
    return _pages(request).render(
        request,
        "quality_error.html",
        {"error": error, "sign_in": error.status == 401},
        language=language,
        status_code=error.status,
    )


# -- the PDF --------------------------------------------------------------------------


def render_pdf(report: QualityReport, provider: str) -> bytes:
    t = MESSAGES[Language.ZH_CN]
    width = A4[0] - 36 * mm
    rows = [
        [
            paragraph(t[k])
            for k in (
                "quality_promise",
                "quality_target",
                "quality_measured",
                "quality_met",
                "quality_source",
            )
        ]
    ]
    for p in report.promises:
        r = _promise_row(p, t, Language.ZH_CN)
        rows.append([paragraph(r[k]) for k in ("name", "target", "measured", "met", "source")])
    days = [
        [
            paragraph(t[k])
            for k in (
                "quality_day",
                "quality_messages",
                "quality_p99",
                "quality_max",
                "quality_mt_peak",
                "quality_mo_peak",
            )
        ]
    ]
    for d in report.days:
        if d.delay.messages or d.mt_messages or d.mo_messages:
            days.append(
                [
                    paragraph(v)
                    for v in (
                        d.day.isoformat(),
                        str(d.delay.messages),
                        _num(d.delay.p99_s),
                        _num(d.delay.max_s),
                        str(d.mt_peak_per_second),
                        str(d.mo_peak_per_second),
                    )
                ]
            )
    generated = report.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    story: list[Flowable] = [
        paragraph(t["quality_title"].format(period=report.period.label), "title"),
        paragraph(f"{provider} · {t['quality_generated']} {generated}（北京时间）", "subtitle"),
        paragraph(t["quality_intro"]),
        paragraph(t["quality_promises"], "h2"),
        table(rows, [24 * mm, 34 * mm, 40 * mm, 16 * mm, width - 114 * mm], header=True),
        paragraph(t["quality_days"], "h2"),
        table(days, [width / 6] * 6, header=True),
        Spacer(1, 6 * mm),
        paragraph(t["quality_accuracy"].format(accuracy=f"{RELATIVE_ACCURACY:.0%}"), "subtitle"),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=t["quality_title"].format(period=report.period.label),
        author=provider,
        lang="zh-CN",
    ).build(story)
    return out.getvalue()
