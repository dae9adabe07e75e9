"""The calendar's admin API: one year's named days (any staff member), day overrides, years
declared complete and the working hours (administrators; the operator token is one)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response

from complaints.calendar.schemas import CalendarYearOut, DayIn, HoursIn, HoursOut, OverrideOut, YearIn
from complaints.calendar.service import (
    CalendarService,
    InvalidWorkingHours,
    OutOfCalendarRange,
    OverrideNotFound,
)
from complaints.deps import Actor
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.staff import Role, require_role
from vas_common.types import EARLIEST_YEAR, LATEST_YEAR

router = audience_router(Audience.STAFF, prefix="/v1/calendar", tags=["calendar (admin)"])
Admin = require_role(Role.ADMIN)


async def calendar_service(request: Request) -> CalendarService:
    service = request.app.state.calendar_service
    assert isinstance(service, CalendarService)
    return service


Calendar = Annotated[CalendarService, Depends(calendar_service)]
YearParam = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR, description="A year, e.g. 2027")]
DayParam = Annotated[date, Path(description="A day (Asia/Shanghai), YYYY-MM-DD")]


@router.get("", response_model=CalendarYearOut, responses=documented(OutOfCalendarRange))
async def get_calendar(
    service: Calendar,
    year: Annotated[
        int | None,
        Query(ge=EARLIEST_YEAR, le=LATEST_YEAR, description="The year to show; this year by default"),
    ] = None,
) -> CalendarYearOut:
    """The year's holidays, make-up working days and overridden days, whether its official
    schedule is known, the working hours and the calendar's version."""
    return CalendarYearOut.of(await service.year(year), service.missing_years_ahead())


@router.put(
    "/days/{day}", response_model=OverrideOut, dependencies=[Admin], responses=documented(OutOfCalendarRange)
)
async def put_day(day: DayParam, body: DayIn, service: Calendar, actor: Actor) -> OverrideOut:
    """Make the day a working day or a holiday whatever the official schedule says; open SLA
    clocks are recomputed on the changed calendar."""
    return OverrideOut.of(await service.set_day(day, body.kind, body.note, actor))


@router.delete(
    "/days/{day}",
    status_code=204,
    dependencies=[Admin],
    responses=documented(OutOfCalendarRange, OverrideNotFound),
)
async def delete_day(day: DayParam, service: Calendar, actor: Actor) -> Response:
    """Remove the day's override: the official schedule (or Mon-Fri) decides again."""
    await service.remove_day(day, actor)
    return Response(status_code=204)


@router.put(
    "/years/{year}",
    response_model=CalendarYearOut,
    dependencies=[Admin],
    responses=documented(OutOfCalendarRange),
)
async def put_year(year: YearParam, body: YearIn, service: Calendar, actor: Actor) -> CalendarYearOut:
    """Declare that the year's official schedule is entered (as day overrides), so the year no
    longer counts as missing; `complete: false` withdraws the declaration."""
    declared = await service.declare_year(year, body.complete, body.note, actor)
    return CalendarYearOut.of(declared, service.missing_years_ahead())


@router.put(
    "/hours", response_model=HoursOut, dependencies=[Admin], responses=documented(InvalidWorkingHours)
)
async def put_hours(body: HoursIn, service: Calendar, actor: Actor) -> HoursOut:
    """The working hours of every working day, Asia/Shanghai local time; start before end."""
    return HoursOut.of(await service.set_hours(*body.times(), actor=actor))
