"""Complaint endpoints: staff intake and work (any signed-in staff member, or the operator token),
and the public form and tracking (no login)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path, Query

from complaints.complaint.schemas import (
    ComplaintDetailOut,
    ComplaintOut,
    EventIn,
    QueueItemOut,
    StaffIntakeIn,
    TrackingOut,
    WebIntakeIn,
    WebIntakeOut,
)
from complaints.complaint.service import (
    ComplaintNotFound,
    EventNotAllowed,
    Intake,
    OccurredBeforeComplaint,
    OccurredInFuture,
    OperatorDeadlineMissing,
    TooManyComplaints,
)
from complaints.deps import Actor, ClientAddress, Complaints
from complaints.holds.service import RefundNotAllowed
from complaints.sla.domain import EventKind
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.msisdn import InvalidMsisdn, normalized_msisdn

staff_router = audience_router(Audience.STAFF, prefix="/v1/complaints", tags=["complaints (staff)"])
public_router = audience_router(Audience.PUBLIC, prefix="/v1/public/complaints", tags=["complaints (public)"])


@staff_router.post(
    "",
    status_code=201,
    response_model=ComplaintOut,
    responses=documented(InvalidMsisdn, OccurredInFuture, OperatorDeadlineMissing),
)
async def log_complaint(body: StaffIntakeIn, complaints: Complaints, actor: Actor) -> ComplaintOut:
    """A call, a forwarded complaint, or a written one typed in; its clocks start at `occurred_at`."""
    intake = Intake(**{**body.model_dump(), "msisdn": normalized_msisdn(body.msisdn)})
    return ComplaintOut.of(await complaints.open(intake, actor))


@staff_router.get("", response_model=list[QueueItemOut])
async def queue(
    complaints: Complaints, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[QueueItemOut]:
    """Open complaints, the one whose next clock falls due soonest first."""
    return [
        QueueItemOut(complaint=ComplaintOut.of(c), next_due=due) for c, due in await complaints.queue(limit)
    ]


@staff_router.get(
    "/{complaint_id}", response_model=ComplaintDetailOut, responses=documented(ComplaintNotFound)
)
async def complaint(complaint_id: UUID, complaints: Complaints) -> ComplaintDetailOut:
    return ComplaintDetailOut.of(await complaints.view(complaint_id))


@staff_router.post(
    "/{complaint_id}/events",
    response_model=ComplaintDetailOut,
    responses=documented(
        ComplaintNotFound, EventNotAllowed, OccurredInFuture, OccurredBeforeComplaint, RefundNotAllowed
    ),
)
async def add_event(
    complaint_id: UUID, body: EventIn, complaints: Complaints, actor: Actor
) -> ComplaintDetailOut:
    """Something that happened: a reply, a call (logged late if need be), waiting on the user …
    Resolving a billing complaint may return money (`refund`): the subscription service refunds
    the user's charge, and its answer (`refunded` or `refund_failed`) joins the history."""
    view = await complaints.record(
        complaint_id,
        EventKind(body.kind),
        actor,
        occurred_at=body.occurred_at,
        note=body.note or "",
        detail=body.refund.ask().detail() if body.refund else None,
    )
    return ComplaintDetailOut.of(view)


@public_router.post(
    "", status_code=201, response_model=WebIntakeOut, responses=documented(InvalidMsisdn, TooManyComplaints)
)
async def complain_on_the_web(
    body: WebIntakeIn, complaints: Complaints, address: ClientAddress
) -> WebIntakeOut:
    """The public form: the answer and an SMS give the tracking code."""
    complaint = await complaints.open(body.intake(), "user", from_public_form=True, source_address=address)
    return WebIntakeOut(tracking_code=complaint.tracking_code, status=complaint.status.value)


@public_router.get("/{tracking_code}", response_model=TrackingOut, responses=documented(ComplaintNotFound))
async def track(
    tracking_code: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,20}$")],
    last4: Annotated[str, Query(pattern=r"^[0-9]{4}$", description="The number's last four digits")],
    complaints: Complaints,
) -> TrackingOut:
    return TrackingOut.of(await complaints.track(tracking_code, last4))
