"""The report's print view (`GET /staff/regulator-reports/{id}`, HTML, Chinese) and its PDF
(`GET /staff/regulator-reports/{id}.pdf`): staff pages behind the sign-in (the staff session
cookie the complaints console sets, or a bearer token). An error is a small page."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from incident.regulator_reports.api import Reports
from incident.regulator_reports.document import document_of
from incident.regulator_reports.errors import RegulatorReportNotFound
from incident.regulator_reports.pdf import render_pdf
from vas_common.access import Audience
from vas_common.errors import AppError, documented
from vas_common.pages import SECURITY_HEADERS, Language, Messages, Pages, page_router

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREFIX = "/staff/regulator-reports"

staff_pages = page_router(Audience.STAFF, prefix=PREFIX, tags=["regulator reports (staff pages)"])

MESSAGES: Messages = {
    Language.ZH_CN: {
        "report_pdf": "下载 PDF",
        "report_json": "JSON 导出",
        "report_state": "报送状态",
        "report_cause": "故障原因",
        "report_actions": "处置措施",
        "report_timeline": "事件时间线（北京时间）",
        "timeline_at": "时间",
        "timeline_who": "记录人",
        "timeline_kind": "类型",
        "timeline_text": "内容",
        "error_title": "无法显示",
        "error_sign_in": "请先在员工控制台登录，再打开本页。",
    },
}


def report_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.regulator_report_pages
    return pages


@staff_pages.get(
    "/{report_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **documented(RegulatorReportNotFound),
    },
)
async def report_pdf(report_id: UUID, request: Request, reports: Reports) -> Response:
    """The report as a PDF (A4, Chinese), the same content as the print view."""
    document = document_of(await reports.view(report_id), _pages(request).site_name)
    return Response(
        render_pdf(document),
        media_type="application/pdf",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'inline; filename="regulator-report-{report_id}.pdf"',
        },
    )


@staff_pages.get("/{report_id}", response_class=HTMLResponse, responses=documented(RegulatorReportNotFound))
async def report_page(report_id: UUID, request: Request, reports: Reports) -> HTMLResponse:
    """The report to print (or save as PDF from the browser): Chinese, Beijing time."""
    pages = _pages(request)
    document = document_of(await reports.view(report_id), pages.site_name)
    links = {"pdf": f"{PREFIX}/{report_id}.pdf", "json": f"/v1/regulator-reports/{report_id}"}
    return pages.render(
        request, "regulator_report.html", {"doc": document, "links": links}, language=Language.ZH_CN
    )


async def render_error(request: Request, error: AppError) -> Response:
    return _pages(request).render(
        request,
        "regulator_report_error.html",
        {"error": error, "sign_in": error.status == 401},
        language=Language.ZH_CN,
        status_code=error.status,
    )
