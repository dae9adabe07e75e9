"""HTTP shapes of complaints: intake by staff and by the public form, events, views."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, model_validator

from complaints.complaint.domain import STAFF_EVENTS, Complaint, ComplaintEvent
from complaints.complaint.service import ComplaintView, Intake
from complaints.holds.schemas import RefundIn
from complaints.sla.domain import Category, Channel, Clock, EventKind
from vas_common.msisdn import MSISDN_PATTERN, normalized_msisdn
from vas_common.types import Instant, MultiLineText, SingleLineText

_MSISDN = Field(pattern=MSISDN_PATTERN, description="The user's mobile number, +86 optional")
_PRODUCT_CODE = Field(default=None, pattern=r"^[A-Za-z0-9]{1,20}$")

StaffEventKind = Literal[tuple(sorted(k.value for k in STAFF_EVENTS))]  # type: ignore[valid-type]


class StaffIntakeIn(BaseModel):
    """A complaint logged by staff: a call, a forwarded one, or a written one typed in."""

    channel: Channel
    category: Category
    msisdn: str = _MSISDN
    summary: MultiLineText = Field(min_length=1, max_length=4000)
    occurred_at: Instant | None = Field(default=None, description="When the user complained; default now")
    partner_id: UUID | None = None
    product_code: str | None = _PRODUCT_CODE
    subscription_id: UUID | None = None
    message_id: UUID | None = None
    charge_id: UUID | None = None
    solved_on_call: StrictBool = Field(default=False, description="Phone: the call itself solved it")
    operator_reference: SingleLineText | None = Field(default=None, max_length=100)
    operator_deadline: Instant | None = Field(default=None, description="Forwarded: the operator's deadline")


class WebIntakeIn(BaseModel):
    """The public complaint form (no login)."""

    msisdn: str = _MSISDN
    category: Category
    summary: MultiLineText = Field(min_length=1, max_length=2000)
    product_code: str | None = _PRODUCT_CODE

    def intake(self) -> Intake:
        """The web complaint it asks for (raises InvalidMsisdn for a number that is not one)."""
        return Intake(
            channel=Channel.WEB,
            category=self.category,
            msisdn=normalized_msisdn(self.msisdn),
            summary=self.summary,
            product_code=self.product_code.upper() if self.product_code else None,
        )


class EventIn(BaseModel):
    kind: StaffEventKind  # type: ignore[valid-type]
    occurred_at: Instant | None = Field(default=None, description="When it happened; default now")
    note: MultiLineText | None = Field(default=None, max_length=4000)
    refund: RefundIn | None = Field(
        default=None, description="With `resolved` on a billing complaint: return money of the user's charge"
    )

    @model_validator(mode="after")
    def _refund_only_on_resolving(self) -> Self:
        if self.refund is not None and self.kind != EventKind.RESOLVED.value:
            raise ValueError("a refund is asked for only with the kind `resolved`")
        return self


class ComplaintOut(BaseModel):
    id: UUID
    tracking_code: str
    channel: Channel
    category: Category
    status: str
    msisdn: str
    summary: str
    created_at: datetime
    updated_at: datetime
    partner_id: UUID | None
    product_code: str | None
    subscription_id: UUID | None
    message_id: UUID | None
    charge_id: UUID | None
    solved_on_call: bool
    operator_reference: str | None
    operator_deadline: datetime | None
    satisfaction: int | None

    @classmethod
    def of(cls, c: Complaint) -> ComplaintOut:
        return cls(
            id=c.id,
            tracking_code=c.tracking_code,
            channel=c.channel,
            category=c.category,
            status=c.status.value,
            msisdn=c.msisdn,
            summary=c.summary,
            created_at=c.created_at,
            updated_at=c.updated_at,
            partner_id=c.partner_id,
            product_code=c.product_code,
            subscription_id=c.subscription_id,
            message_id=c.message_id,
            charge_id=c.charge_id,
            solved_on_call=c.solved_on_call,
            operator_reference=c.operator_reference,
            operator_deadline=c.operator_deadline,
            satisfaction=c.satisfaction,
        )


class EventOut(BaseModel):
    kind: EventKind
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    note: str
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="e.g. the refund a resolution asked for, the refund's amount and charge",
    )

    @classmethod
    def of(cls, e: ComplaintEvent) -> EventOut:
        return cls(
            kind=e.kind,
            occurred_at=e.occurred_at,
            recorded_at=e.recorded_at,
            actor=e.actor,
            note=e.note,
            detail=e.detail or {},
        )


class ClockOut(BaseModel):
    clock: str
    state: str
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    paused_since: datetime | None
    warnings: dict[str, datetime]

    @classmethod
    def of(cls, clock: Clock, now: datetime) -> ClockOut:
        return cls(
            clock=clock.kind.value,
            state=clock.state(now).value,
            started_at=clock.started_at,
            due_at=clock.due_at,
            stopped_at=clock.stopped_at,
            paused_since=clock.paused_since,
            warnings={f"{round(share * 100)}%": at for share, at in clock.warnings},
        )


class ComplaintDetailOut(BaseModel):
    complaint: ComplaintOut
    history: list[EventOut]
    clocks: list[ClockOut]

    @classmethod
    def of(cls, view: ComplaintView) -> ComplaintDetailOut:
        return cls(
            complaint=ComplaintOut.of(view.complaint),
            history=[EventOut.of(e) for e in view.history],
            clocks=[ClockOut.of(c, view.at) for c in view.clocks],
        )


class QueueItemOut(BaseModel):
    complaint: ComplaintOut
    next_due: datetime | None


class TrackingOut(BaseModel):
    """What the user sees with the tracking code: no staff names or notes, no full number."""

    tracking_code: str
    category: Category
    status: str
    created_at: datetime
    steps: list[tuple[EventKind, datetime]]

    @classmethod
    def of(cls, view: ComplaintView) -> TrackingOut:
        c = view.complaint
        return cls(
            tracking_code=c.tracking_code,
            category=c.category,
            status=c.status.value,
            created_at=c.created_at,
            steps=[(e.kind, e.occurred_at) for e in view.history],
        )


class WebIntakeOut(BaseModel):
    tracking_code: str
    status: str
