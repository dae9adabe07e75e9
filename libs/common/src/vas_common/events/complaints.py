"""Events produced by the complaints service on `complaint.events`: what happened to a complaint,
and each SLA warning and breach (emitted once per complaint, clock run and alert)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime

from vas_common.events.envelope import Event, Payload

PRODUCER = "complaints"


class ComplaintState(Payload):
    """A complaint as it is after `change` (created, replied, resolved, reopened, closed …)."""

    complaint_id: UUID
    change: str
    channel: str  # phone | web | sms | operator
    category: str  # billing | subscription | content | service | feedback | other
    status: str  # open | waiting_on_user | resolved | closed
    msisdn: str
    partner_id: UUID | None = None
    product_code: str | None = None
    satisfaction: int | None = None  # 1–5, once the user answered
    occurred_at: AwareDatetime


class _ComplaintEvent(Event):
    producer: str = PRODUCER
    payload: ComplaintState

    def key(self) -> str:
        return str(self.payload.complaint_id)


class ComplaintCreated(_ComplaintEvent):
    type: Literal["complaint.created"] = "complaint.created"


class ComplaintUpdated(_ComplaintEvent):
    type: Literal["complaint.updated"] = "complaint.updated"


class SlaAlert(Payload):
    """A clock of a complaint reached a warning share of its target, or its due time."""

    complaint_id: UUID
    clock: str  # solution | first_reply | answered | closure | feedback_reply | follow_up | operator_deadline
    alert: str  # warning_50 | warning_80 | breached
    started_at: AwareDatetime  # the clock's run (created, reopened, or the last contact)
    due_at: AwareDatetime
    at: AwareDatetime  # when the warning or breach fell due
    channel: str
    category: str
    partner_id: UUID | None = None


class _SlaEvent(Event):
    producer: str = PRODUCER
    payload: SlaAlert

    def key(self) -> str:
        return str(self.payload.complaint_id)


class SlaWarning(_SlaEvent):
    type: Literal["complaint.sla_warning"] = "complaint.sla_warning"


class SlaBreached(_SlaEvent):
    type: Literal["complaint.sla_breached"] = "complaint.sla_breached"


EVENTS = (ComplaintCreated, ComplaintUpdated, SlaWarning, SlaBreached)
