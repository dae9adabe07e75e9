"""Maintenance endpoints: supervisors (or the operator token) schedule, reschedule, cancel and
read windows; the tick the service runs by itself is also a job for the operator."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request

from incident.incidents.errors import UnknownService
from incident.maintenance.domain import WindowStatus
from incident.maintenance.schemas import (
    CancellationIn,
    JobResult,
    RescheduleIn,
    WindowDetailOut,
    WindowIn,
    WindowOut,
)
from incident.maintenance.service import (
    EmergencyReasonRequired,
    MaintenanceNotChangeable,
    MaintenanceNotFound,
    MaintenanceService,
    MaintenanceTimesInvalid,
    NewWindow,
    NoticeTooShort,
)
from vas_common.access import Audience, audience_router
from vas_common.app import app_state
from vas_common.errors import documented
from vas_common.staff import Role, StaffMember, require_role
from vas_common.types import Instant

router = audience_router(
    Audience.STAFF,
    prefix="/v1/maintenance-windows",
    tags=["maintenance windows (supervisor)"],
    dependencies=[require_role(Role.SUPERVISOR)],
)
jobs_router = audience_router(Audience.OPERATOR, prefix="/v1/jobs", tags=["jobs (operator)"])


async def _service(request: Request) -> MaintenanceService:
    return app_state(request, "maintenance_service", MaintenanceService)


Maintenance = Annotated[MaintenanceService, Depends(_service)]
Supervisor = Annotated[StaffMember, require_role(Role.SUPERVISOR)]
_TIMES = (NoticeTooShort, EmergencyReasonRequired, MaintenanceTimesInvalid)


@router.post("", status_code=201, response_model=WindowOut, responses=documented(*_TIMES, UnknownService))
async def schedule(body: WindowIn, maintenance: Maintenance, member: Supervisor) -> WindowOut:
    """A window, at least the notice period (72 h) ahead unless an emergency with its reason
    (else 422 `maintenance_notice_too_short` with `earliest_start`); every active subscriber of
    the products is told by SMS. `services` must be services the provider runs (422
    `unknown_service` with `known_services`)."""
    new = NewWindow(
        product_codes=body.codes(),
        services=tuple(body.services),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        text_zh=body.text_zh.strip(),
        emergency=body.emergency,
        emergency_reason=body.emergency_reason,
    )
    return WindowOut.of(await maintenance.schedule(new, member.actor))


@router.get("", response_model=list[WindowOut])
async def windows(
    maintenance: Maintenance,
    status: Annotated[list[WindowStatus] | None, Query()] = None,
    ending_after: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[WindowOut]:
    """Windows by start time; `ending_after=now` gives the current and upcoming ones."""
    return [WindowOut.of(w) for w in await maintenance.windows(status, ending_after, limit)]


@router.get("/{window_id}", response_model=WindowDetailOut, responses=documented(MaintenanceNotFound))
async def window(window_id: UUID, maintenance: Maintenance) -> WindowDetailOut:
    """The window, every notice users were sent (and to how many), and its regulator task."""
    detail = await maintenance.detail(window_id)
    return WindowDetailOut.of_detail(detail, maintenance.clock.now())


@router.put(
    "/{window_id}/schedule",
    response_model=WindowOut,
    responses=documented(MaintenanceNotFound, MaintenanceNotChangeable, *_TIMES),
)
async def reschedule(
    window_id: UUID, body: RescheduleIn, maintenance: Maintenance, member: Supervisor
) -> WindowOut:
    """New times (the notice period applies to the new start); subscribers are told again. Under
    way, only the end may move."""
    window = await maintenance.reschedule(
        window_id, body.starts_at, body.ends_at, body.emergency, body.emergency_reason, member.actor
    )
    return WindowOut.of(window)


@router.post(
    "/{window_id}/cancellation",
    response_model=WindowOut,
    responses=documented(MaintenanceNotFound, MaintenanceNotChangeable),
)
async def cancel(
    window_id: UUID, body: CancellationIn, maintenance: Maintenance, member: Supervisor
) -> WindowOut:
    """Called off before it started; subscribers are told."""
    return WindowOut.of(await maintenance.cancel(window_id, body.reason, member.actor))


@router.post(
    "/{window_id}/completion",
    response_model=WindowOut,
    responses=documented(MaintenanceNotFound, MaintenanceNotChangeable),
)
async def complete(window_id: UUID, maintenance: Maintenance) -> WindowOut:
    """Over before its expected end (at the expected end it completes by itself)."""
    return WindowOut.of(await maintenance.complete(window_id))


@jobs_router.post("/maintenance-tick", response_model=JobResult)
async def maintenance_tick(maintenance: Maintenance) -> JobResult:
    """Reminders, starts and completions that have fallen due (runs every few seconds by itself)."""
    return JobResult(job="maintenance-tick", affected=await maintenance.tick())
