"""Report endpoints: SLA attainment (JSON, or its runs as CSV) and the complaint rate per product.
The operator token until the staff sign-in (supervisors) reaches them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response

from complaints.report.schemas import AttainmentOut, ComplaintRateOut, attainment_csv
from complaints.report.service import InvalidPeriod, ReportService
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.types import Instant

router = audience_router(Audience.OPERATOR, prefix="/v1/reports", tags=["reports"])


async def report_service(request: Request) -> ReportService:
    service = request.app.state.report_service
    assert isinstance(service, ReportService)
    return service


Reports = Annotated[ReportService, Depends(report_service)]
From = Annotated[Instant, Query(alias="from", description="inclusive")]
To = Annotated[Instant, Query(alias="to", description="exclusive")]


@router.get(
    "/attainment",
    response_model=AttainmentOut,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or the runs as CSV with format=csv"},
        **documented(InvalidPeriod),
    },
)
async def attainment(
    request: Request,
    reports: Reports,
    since: From,
    until: To,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response | AttainmentOut:
    """Per SLA clock, and by channel, category and partner: the clock runs of the period, met on
    time, met late, breached, still running or paused, and the attainment share, with the
    target each run had and the rule in words; satisfaction per category. `format=csv` gives
    the runs it came from, one a line."""
    report = await reports.attainment(since, until)
    if output == "csv":
        name = f"attainment-{since.date().isoformat()}-{until.date().isoformat()}.csv"
        return Response(
            attainment_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return AttainmentOut.of(report, request.url.path)


@router.get("/complaint-rate", response_model=ComplaintRateOut, responses=documented(InvalidPeriod))
async def complaint_rate(reports: Reports, since: From, until: To) -> ComplaintRateOut:
    """Complaints per 10,000 subscribers per product for the period."""
    return ComplaintRateOut.of(await reports.complaint_rate(since, until))
