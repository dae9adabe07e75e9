"""The records API: legal holds and the JSON export (a supervisor, or the operator token)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request, Response

from incident.deps import Actor, Supervisor
from incident.records.schemas import HoldIn, HoldOut, RecordsExportOut
from incident.records.service import ExportPeriodInvalid, HoldNotFound, RecordNotFound, RecordsService
from vas_common.access import Audience, audience_router
from vas_common.app import app_state
from vas_common.errors import documented
from vas_common.types import Instant

router = audience_router(
    Audience.STAFF, prefix="/v1/records", tags=["records (staff)"], dependencies=[Supervisor]
)


async def records_service(request: Request) -> RecordsService:
    return app_state(request, "records_service", RecordsService)


Records = Annotated[RecordsService, Depends(records_service)]


@router.get(
    "/export",
    response_model=RecordsExportOut,
    response_model_by_alias=True,
    responses=documented(ExportPeriodInvalid),
)
async def export_records(
    records: Records,
    response: Response,
    start: Annotated[Instant, Query(alias="from", description="Start of the period (included)")],
    end: Annotated[Instant, Query(alias="to", description="End of the period (excluded)")],
) -> RecordsExportOut:
    """Every incident whose impact started in the period (with its timeline) and every
    maintenance window starting in it (with its notices and regulator tasks), as stored."""
    exported = await records.export(start, end)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="incident-records-{start:%Y%m%d}-{end:%Y%m%d}.json"'
    )
    return RecordsExportOut.model_validate(exported)


@router.post(
    "/holds",
    status_code=201,
    response_model=HoldOut,
    responses={200: {"model": HoldOut}, **documented(RecordNotFound)},
)
async def place_hold(body: HoldIn, records: Records, actor: Actor, response: Response) -> HoldOut:
    """Hold a record: it is not deleted, whatever its age, until every hold on it is released.
    A holder that already holds it gets its hold back (200)."""
    hold, new = await records.place_hold(body.incident_id, body.window_id, body.holder, body.reason, actor)
    if not new:
        response.status_code = 200
    return HoldOut.of(hold)


@router.get("/holds", response_model=list[HoldOut])
async def holds(
    records: Records,
    released: Annotated[bool, Query(description="Also the holds released")] = False,
) -> list[HoldOut]:
    return [HoldOut.of(h) for h in await records.holds(in_force_only=not released)]


@router.post("/holds/{hold_id}/release", response_model=HoldOut, responses=documented(HoldNotFound))
async def release_hold(hold_id: UUID, records: Records, actor: Actor) -> HoldOut:
    """Release a hold (again: the first release stands)."""
    return HoldOut.of(await records.release_hold(hold_id, actor))
