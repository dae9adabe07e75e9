"""Events produced by the sms-sender: accepted MT work (`sms.submit`, `sms.submit.priority`),
status changes (`sms.status`), user-originated messages (`sms.mo`) and each dispatcher's health
reports (`sms.health`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from vas_common.events.envelope import Event, Payload

PRODUCER = "sms-sender"


class Category(StrEnum):
    VERIFICATION = "verification"
    NOTICE = "notice"
    CONTENT = "content"

    @property
    def is_priority(self) -> bool:
        """Verification codes and notices never wait behind bulk content."""
        return self is not Category.CONTENT


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"


class MessageOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class SubmitWork(Payload):
    """Everything a dispatcher needs to send one message to one recipient."""

    message_id: UUID
    partner_id: UUID | None  # None: the provider's own system message
    recipient: str  # E.164 without '+', e.g. 8613812345678
    source_addr: str  # access number + ext code
    text: str
    category: Category
    segments: int
    accepted_at: AwareDatetime
    product_code: str | None = None
    # A long message's concatenation reference, allocated per recipient (0-65535; the dispatcher
    # sends its low 8 or 16 bits). None: one part, or accepted by a release without it.
    concat_ref: int | None = Field(default=None, ge=0, le=0xFFFF)


class SubmitRequested(Event):
    producer: str = PRODUCER
    type: Literal["sms.submit_requested"] = "sms.submit_requested"
    payload: SubmitWork

    def key(self) -> str:
        return self.payload.recipient


class SegmentState(Payload):
    seq: int
    status: MessageStatus
    smsc_message_id: str | None = None
    error: str | None = None


class MessageState(Payload):
    message_id: UUID
    partner_id: UUID | None
    recipient: str
    status: MessageStatus
    segments_total: int
    segments: list[SegmentState]
    accepted_at: AwareDatetime
    submitted_at: AwareDatetime | None = None
    done_at: AwareDatetime | None = None
    error: str | None = None
    product_code: str | None = None
    client_ref: str | None = None
    # What a final status means: `failed` covers a refusal or an undeliverable receipt (failed),
    # the SMSC giving up at the validity period's end (expired) and no receipt or answer by then
    # (unknown). A field of its own, not more statuses: readers of `status` stay as they are.
    outcome: MessageOutcome | None = None


class MessageStatusChanged(Event):
    """A message changed status; `payload.segments` carries every segment's status."""

    producer: str = PRODUCER
    type: Literal["sms.message_status"] = "sms.message_status"
    payload: MessageState

    def key(self) -> str:
        return str(self.payload.message_id)


class MoMessage(Payload):
    mo_id: UUID
    msisdn: str  # the user, E.164 without '+'
    destination: str  # the number the user wrote to: access number + ext code
    text: str
    received_at: AwareDatetime
    parts: int = 1


class MoReceived(Event):
    producer: str = PRODUCER
    type: Literal["sms.mo_received"] = "sms.mo_received"
    payload: MoMessage

    def key(self) -> str:
        return self.payload.msisdn


class HealthCheck(StrEnum):
    """What a dispatcher watches (thresholds are sms-sender settings, sent with each result)."""

    BINDS_DOWN = "binds_down"  # every bind to the SMSC down for longer than `threshold` seconds
    SEND_DELAY = "send_delay"  # accept -> submit_sm_resp p99 above `threshold` seconds over the window
    DELIVERY_FAILURE = "delivery_failure"  # share of final failures above `threshold` over the window


class HealthCheckResult(Payload):
    """One check's verdict with its evidence: the numbers it was decided on, so that a person
    (and the incident's timeline) can see why."""

    check: str  # a HealthCheck value; consumers skip checks they do not know
    subject: str  # what was watched: the SMSC (bind group) name
    failing: bool
    since: AwareDatetime | None = None  # failing: when the condition began
    value: float | None = None  # binds_down: seconds all down; send_delay: p99 s; delivery_failure: share
    threshold: float
    window_s: float  # the window the value is over (binds_down: the report interval)
    samples: int = 0  # messages or outcomes in the window
    detail: dict[str, float | int | str] = Field(default_factory=dict)


class HealthReport(Payload):
    """A dispatcher's periodic report: every check, failing or not. Sent every `interval_s`
    whatever the state, so a lost report is replaced by the next and a consumer that starts late
    learns the state at once; healthy reports are what ends a fault."""

    instance_id: str  # the dispatcher process (host and pid)
    smsc: str  # the SMSC (bind group) this dispatcher binds to
    observed_at: AwareDatetime
    interval_s: float
    checks: list[HealthCheckResult]


class HealthReported(Event):
    producer: str = PRODUCER
    type: Literal["sms.health_reported"] = "sms.health_reported"
    payload: HealthReport

    def key(self) -> str:
        # One partition per SMSC: the reports on one fault are read in order, by one consumer.
        return self.payload.smsc


class ContentRejection(Payload):
    """A send request the content review refused (422 content_rejected), without the text or the
    numbers: who sent it, the message category, the review rule's category that matched (the
    word list's category, not the word), how many recipients it named, and when."""

    request_id: UUID  # one per refused request: a copy of the event is counted once
    partner_id: UUID
    category: Category
    rule_category: str
    recipients: int
    rejected_at: AwareDatetime


class ContentRejected(Event):
    """On `sms.status`, next to the statuses of the messages that passed the review."""

    producer: str = PRODUCER
    type: Literal["sms.content_rejected"] = "sms.content_rejected"
    payload: ContentRejection

    def key(self) -> str:
        return str(self.payload.partner_id)


EVENTS = (SubmitRequested, MessageStatusChanged, MoReceived, HealthReported, ContentRejected)
