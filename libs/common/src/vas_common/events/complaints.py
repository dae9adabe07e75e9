"""Events produced by the complaints service on `complaint.events`: what happened to a complaint,
each SLA warning and breach (emitted once per complaint, clock run and alert), each clock run that
stopped (once per run), the dispute holds an open billing or subscription complaint places on the
user's records, and the refunds staff ask for when they resolve a billing complaint."""

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


class ClockRun(Payload):
    """A run of a complaint clock that stopped: `met` when it stopped no later than its due time
    (or while paused, before its target ran out: then `due_at` is None), late otherwise.
    `superseded`: stopped by the clock's next run (a contact restarted the follow-up clock).
    Emitted once per (complaint, clock, run) whatever the replicas and restarts, like the alerts:
    with the breaches, every decided run of a clock is in the events."""

    complaint_id: UUID
    clock: str
    started_at: AwareDatetime
    due_at: AwareDatetime | None
    stopped_at: AwareDatetime
    met: bool
    superseded: bool = False
    channel: str
    category: str
    partner_id: UUID | None = None


class ClockStopped(Event):
    producer: str = PRODUCER
    type: Literal["complaint.clock_stopped"] = "complaint.clock_stopped"
    payload: ClockRun

    def key(self) -> str:
        return str(self.payload.complaint_id)


def complaint_holder(complaint_id: UUID) -> str:
    """The holder name of a complaint's dispute hold (a legal hold is `legal` or `legal:<name>`)."""
    return f"complaint:{complaint_id}"


class HoldChange(Payload):
    """A holder starts or stops keeping a user's records past the retention horizon. Holds are
    per (msisdn, holder): the records stay while any holder remains, so releasing one never lifts
    another's. Applying an event means "this holder now holds (or not)": an event seen twice
    changes nothing, and a release of a hold never placed is a no-op."""

    msisdn: str
    holder: str  # complaint:<complaint id>
    reason: str | None = None
    occurred_at: AwareDatetime


class _HoldEvent(Event):
    producer: str = PRODUCER
    payload: HoldChange

    def key(self) -> str:
        # One partition per number: a holder's placements and releases are read in order.
        return self.payload.msisdn


class HoldPlaced(_HoldEvent):
    type: Literal["complaint.hold_placed"] = "complaint.hold_placed"


class HoldReleased(_HoldEvent):
    type: Literal["complaint.hold_released"] = "complaint.hold_released"


class RefundRequest(Payload):
    """Staff resolved a billing complaint with a refund of the user's charge. `request_id` is the
    idempotency key: the subscription service refunds once per request, and only a charge of
    `msisdn`; it answers with `billing.refunded` or `billing.refund_failed` naming the request."""

    request_id: UUID
    complaint_id: UUID
    msisdn: str
    charge_id: UUID
    amount_fen: int  # positive: what is to be returned
    reason: str
    occurred_at: AwareDatetime


class RefundRequested(Event):
    producer: str = PRODUCER
    type: Literal["complaint.refund_requested"] = "complaint.refund_requested"
    payload: RefundRequest

    def key(self) -> str:
        return self.payload.msisdn


EVENTS = (
    ComplaintCreated,
    ComplaintUpdated,
    SlaWarning,
    SlaBreached,
    ClockStopped,
    HoldPlaced,
    HoldReleased,
    RefundRequested,
)
