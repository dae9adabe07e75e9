"""The quality report as pages and a PDF:

- `GET /staff/quality/{period}`: staff (Chinese, or English with `?lang=en`), with the send delay
  per partner; `GET /staff/quality/{period}.pdf`: the regulator's PDF (A4, Chinese; the font
  setup of the regulator report's PDF);
- `GET /status/quality/{period}`: the public version on the status page (Chinese, no per-partner
  or per-user data).

The chart (each day's p99 send delay against the target) is SVG drawn here: no script, no CDN."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer

from incident.quality.api import Quality
from incident.quality.domain import RELATIVE_ACCURACY, SHANGHAI
from incident.quality.messages import MESSAGES
from incident.quality.service import (
    InvalidMonth,
    InvalidPeriod,
    QualityReport,
)
from incident.quality.views import (
    number_text,
    promise_row,
    servqual_view,
    view,
)
from incident.regulator_reports.pdf import paragraph, table
from vas_common.access import Audience
from vas_common.errors import AppError, documented
from vas_common.pages import SECURITY_HEADERS, Language, Pages, page_router, staff_language

TEMPLATES = Path(__file__).resolve().parent / "templates"
STAFF_PREFIX = "/staff/quality"
PUBLIC_PREFIX = "/status/quality"

staff_pages = page_router(Audience.STAFF, prefix=STAFF_PREFIX, tags=["quality (staff pages)"])
public_pages = page_router(Audience.PUBLIC, prefix=PUBLIC_PREFIX, tags=["quality (public pages)"])

PERIOD = PathParam(max_length=16, description="A month YYYY-MM or a quarter YYYY-Qn (Asia/Shanghai)")


def quality_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.quality_pages
    return pages


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
        r = promise_row(p, t, Language.ZH_CN)
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
                        number_text(d.delay.p99_s),
                        number_text(d.delay.max_s),
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
