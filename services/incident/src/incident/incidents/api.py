"""Incident endpoints (staff): any signed-in staff member reads; a supervisor (or the operator
token) opens, edits, writes on the timeline, merges and resolves."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from incident.deps import Actor, Incidents, Supervisor
from incident.incidents.domain import EDITABLE, Changes, EntryKind, IncidentStatus
from incident.incidents.errors import (
    IncidentAlreadyResolved,
    IncidentMerged,
    IncidentNotFound,
    IncidentTimesInvalid,
    InvalidPageCursor,
    MergeNotAllowed,
    UnknownService,
)
from incident.incidents.schemas import (
    EntryIn,
    IncidentDetailOut,
    IncidentIn,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    MergeIn,
    ResolveIn,
)
from incident.incidents.service import NewIncident
from vas_common.access import Audience, audience_router
from vas_common.errors import documented

router = audience_router(Audience.STAFF, prefix="/v1/incidents", tags=["incidents (staff)"])


@router.get("", response_model=IncidentPage, responses=documented(InvalidPageCursor))
async def incidents(
    incidents: Incidents,
    status: Annotated[list[IncidentStatus] | None, Query()] = None,
    service: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{0,39}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(min_length=11, max_length=11, description="next_cursor of the page before")
    ] = None,
) -> IncidentPage:
    """Newest first."""
    found, next_cursor = await incidents.page(limit=limit, cursor=cursor, statuses=status, service=service)
    return IncidentPage(items=[IncidentOut.of(i) for i in found], next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    dependencies=[Supervisor],
    response_model=IncidentDetailOut,
    responses=documented(UnknownService, IncidentTimesInvalid),
)
async def open_incident(body: IncidentIn, incidents: Incidents, actor: Actor) -> IncidentDetailOut:
    new = NewIncident(
        **{**body.model_dump(), "services": tuple(body.services), "products": tuple(body.products)}
    )
    return IncidentDetailOut.of(await incidents.open(new, actor))


@router.get("/{incident_id}", response_model=IncidentDetailOut, responses=documented(IncidentNotFound))
async def incident(incident_id: UUID, incidents: Incidents) -> IncidentDetailOut:
    """The incident with its timeline (and those of incidents merged into it) and status updates."""
    return IncidentDetailOut.of(await incidents.view(incident_id))


@router.patch(
    "/{incident_id}",
    dependencies=[Supervisor],
    response_model=IncidentDetailOut,
    responses=documented(IncidentNotFound, IncidentMerged, UnknownService, IncidentTimesInvalid),
)
async def edit_incident(
    incident_id: UUID, body: IncidentPatch, incidents: Incidents, actor: Actor
) -> IncidentDetailOut:
    given = frozenset(body.model_fields_set) & frozenset(EDITABLE)
    values = {name: getattr(body, name) for name in given}
    for name in ("services", "products"):
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return IncidentDetailOut.of(await incidents.edit(incident_id, Changes(given=given, **values), actor))


@router.post(
    "/{incident_id}/timeline",
    status_code=201,
    dependencies=[Supervisor],
    response_model=IncidentDetailOut,
    responses=documented(IncidentNotFound, IncidentMerged, IncidentTimesInvalid),
)
async def add_entry(
    incident_id: UUID, body: EntryIn, incidents: Incidents, actor: Actor
) -> IncidentDetailOut:
    view = await incidents.add_entry(incident_id, EntryKind(body.kind), body.text, actor, body.at)
    return IncidentDetailOut.of(view)


@router.post(
    "/{incident_id}/merge",
    dependencies=[Supervisor],
    response_model=IncidentDetailOut,
    responses=documented(IncidentNotFound, IncidentMerged, MergeNotAllowed),
)
async def merge_incident(
    incident_id: UUID, body: MergeIn, incidents: Incidents, actor: Actor
) -> IncidentDetailOut:
    """This incident duplicates `into`: it points there from now on; the answer is `into`."""
    return IncidentDetailOut.of(await incidents.merge(incident_id, body.into, actor))


@router.post(
    "/{incident_id}/resolve",
    dependencies=[Supervisor],
    response_model=IncidentDetailOut,
    responses=documented(IncidentNotFound, IncidentMerged, IncidentAlreadyResolved, IncidentTimesInvalid),
)
async def resolve_incident(
    incident_id: UUID, body: ResolveIn, incidents: Incidents, actor: Actor
) -> IncidentDetailOut:
    view = await incidents.resolve(
        incident_id, actor, at=body.resolved_at, mitigated_at=body.mitigated_at, note=body.note
    )
    return IncidentDetailOut.of(view)
