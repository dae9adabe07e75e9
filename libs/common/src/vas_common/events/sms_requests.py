"""`sms.send-requests`: system messages (confirmations, notices, replies) that the subscription,
complaints and incident services ask the sms-sender to send under the provider's own identity.
One contract shared by those producers; the sms-sender is its only consumer."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from vas_common.events.envelope import Event, Payload
from vas_common.events.sms_sender import Category


class SystemMessage(Payload):
    request_id: UUID  # also the message id: a request sent twice is stored once
    recipient: str  # E.164 without '+'
    text: str = Field(min_length=1)
    category: Category = Category.NOTICE
    ext_code: str | None = None  # replies come back to access number + ext code
    requested_at: AwareDatetime
    reason: str | None = None  # e.g. "subscription.confirmation", for the records


class SendRequested(Event):
    type: Literal["sms.send_requested"] = "sms.send_requested"
    payload: SystemMessage

    def key(self) -> str:
        return self.payload.recipient


EVENTS = (SendRequested,)
