"""The status page's JSON API: what the provider publishes (anyone), and its commitments'
words (administrators; the operator token is one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from incident.status.schemas import CommitmentIn, CommitmentOut, PublishedOut, StatusOut
from incident.status.service import CommitmentNotFound, StatusService
from vas_common.access import Audience, audience_router
from vas_common.app import app_state
from vas_common.errors import documented
from vas_common.staff import Role, require_role, staff_member

public_router = audience_router(Audience.PUBLIC, prefix="/v1/status", tags=["status (public)"])
admin_router = audience_router(Audience.STAFF, prefix="/v1/status", tags=["status (admin)"])


async def status_service(request: Request) -> StatusService:
    return app_state(request, "status_service", StatusService)


Status = Annotated[StatusService, Depends(status_service)]
CommitmentKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


@public_router.get("", response_model=StatusOut)
async def status_now(status: Status) -> StatusOut:
    """Everything the status page shows: each service's state now and its last 90 days (a day's
    availability by the rule stated in `history.rule`, the same as `GET /v1/availability`),
    the current incidents with their public updates, maintenance under way or to come (Beijing
    times given too), the history's incidents and maintenance, and what is published."""
    return StatusOut.of(await status.board())


@public_router.get("/published", response_model=PublishedOut)
async def published(status: Status) -> PublishedOut:
    """The commitments (service promises), the service types offered, and each service on sale
    with its tariff and scope; also what the status page shows."""
    return PublishedOut.of(await status.published())


@admin_router.put(
    "/commitments/{key}",
    response_model=CommitmentOut,
    dependencies=[require_role(Role.ADMIN)],
    responses=documented(CommitmentNotFound),
)
async def change_commitment(
    key: CommitmentKey, body: CommitmentIn, status: Status, request: Request
) -> CommitmentOut:
    """Change the published words of a commitment (the figures measured against it do not change)."""
    return CommitmentOut.of(
        await status.change_commitment(key, body.title, body.promise, staff_member(request).actor)
    )
