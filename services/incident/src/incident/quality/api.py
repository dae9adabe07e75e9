"""Quality report endpoint (staff): a month's or a quarter's promises, measured, with per-partner
send delay."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from incident.deps import Actor, Supervisor
from incident.quality.domain import RELATIVE_ACCURACY
from incident.quality.schemas import (
    DayHoursOut,
    HourOut,
    QualityReportOut,
    RecordsReportIn,
    RecordsReportOut,
    ServqualOut,
)
from incident.quality.service import (
    InvalidDay,
    InvalidMonth,
    InvalidPeriod,
    QualityService,
    RecordsInFuture,
    UnknownStore,
)
from vas_common.access import Audience, audience_router
from vas_common.app import app_state
from vas_common.errors import documented

router = audience_router(Audience.STAFF, prefix="/v1/quality", tags=["quality (staff)"])


async def quality_service(request: Request) -> QualityService:
    return app_state(request, "quality_service", QualityService)


Quality = Annotated[QualityService, Depends(quality_service)]

PERIOD = Path(max_length=16, description="A month YYYY-MM or a quarter YYYY-Qn (Asia/Shanghai)")


@router.get("/reports/{period}", response_model=QualityReportOut, responses=documented(InvalidPeriod))
async def report(period: Annotated[str, PERIOD], quality: Quality) -> QualityReportOut:
    """Each promise: its target, what was measured, met or not, and the data it came from; the
    send delay per day and per partner; the traffic peaks and busy hours per day."""
    return QualityReportOut.of(await quality.report(period, per_partner=True))


@router.get("/days/{day}", response_model=DayHoursOut, responses=documented(InvalidDay))
async def day_hours(
    day: Annotated[str, Path(max_length=16, description="YYYY-MM-DD (Asia/Shanghai)")], quality: Quality
) -> DayHoursOut:
    """A day's send delay (all partners) and traffic per clock hour."""
    the_day, hours = await quality.hours(day)
    return DayHoursOut(
        day=the_day, percentile_relative_accuracy=RELATIVE_ACCURACY, hours=[HourOut.of(h) for h in hours]
    )


@router.get("/servqual/{month}", response_model=ServqualOut, responses=documented(InvalidMonth))
async def servqual(
    month: Annotated[str, Path(max_length=16, description="YYYY-MM (Asia/Shanghai)")], quality: Quality
) -> ServqualOut:
    """The SERVQUAL view of a month: gap 3 (the promises vs what was delivered), gap 4 (what the
    status page published vs the incidents measured), gap 5 (what users expected vs perceived,
    from the satisfaction replies), with the 5 months before it for the trend."""
    return ServqualOut.of(await quality.servqual(month))


@router.put(
    "/records/{store}",
    dependencies=[Supervisor],
    response_model=RecordsReportOut,
    responses=documented(UnknownStore, RecordsInFuture),
)
async def report_records(
    store: Annotated[str, Path(max_length=40, description="sms-sender | subscription | complaints")],
    body: RecordsReportIn,
    quality: Quality,
    actor: Actor,
) -> RecordsReportOut:
    """Report a store's oldest record present, read from the service that keeps it (no event
    carries it): the "records kept 6 months" promise uses the latest report, marked reported."""
    return RecordsReportOut.of(await quality.report_records(store, body.oldest_record_at, body.note, actor))
