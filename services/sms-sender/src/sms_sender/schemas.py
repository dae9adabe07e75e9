"""HTTP shapes of the sms-sender, and how the use cases' values map to and from them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field

from sms_sender.domain import DeadCallback, Message, SendOrder, SendResult
from sms_sender.service.queries import StatusEventView
from vas_common.events.sms_sender import Category, MessageOutcome, MessageStatus
from vas_common.types import MultiLineText, SingleLineText, single_line_text


class WhoAmI(BaseModel):
    partner_id: str
    name: str


class SendRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recipients": ["13812345678", "+8613912345678"],
                    "content": "您的验证码是 123456",
                    "category": "verification",
                },
                {"recipients": ["13812345678"], "content": "今日新闻：……", "client_ref": "order-1"},
            ]
        }
    )

    recipients: list[SingleLineText] = Field(
        min_length=1, max_length=1000, description="Chinese mobile numbers, +86 optional"
    )
    content: MultiLineText = Field(min_length=1, max_length=1000)
    category: Category = Category.CONTENT
    # A constraint goes before the text check: after a validator pydantic leaves it out of the
    # JSON schema, and clients (and the fuzzer) would not know it.
    product_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")] | None = None
    ext_code: Annotated[str, Field(pattern=r"^[0-9]{1,6}$")] | None = Field(
        default=None, description="Sub-number after the access number"
    )
    callback_url: AnyHttpUrl | None = None
    notify_submitted: bool = Field(
        default=False, strict=True, description="Also call back when the SMSC accepted the message"
    )
    client_ref: Annotated[str, Field(max_length=64), AfterValidator(single_line_text)] | None = None

    def order(self) -> SendOrder:
        return SendOrder(
            recipients=self.recipients,
            content=self.content,
            category=self.category,
            product_code=self.product_code,
            ext_code=self.ext_code,
            callback_url=str(self.callback_url) if self.callback_url else None,
            notify_submitted=self.notify_submitted,
            client_ref=self.client_ref,
        )

    def fingerprint(self) -> str:
        """What an Idempotency-Key's requests are compared by."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class AcceptedRecipient(BaseModel):
    recipient: str
    message_id: UUID


class RejectedRecipient(BaseModel):
    recipient: str
    code: str
    reason: str


class SendResponse(BaseModel):
    accepted: list[AcceptedRecipient]
    rejected: list[RejectedRecipient]
    segments: int = Field(description="Segments per message")
    encoding: str
    content: str = Field(description="The text as it will be sent, signature included")

    @classmethod
    def of(cls, result: SendResult) -> SendResponse:
        return cls(
            accepted=[
                AcceptedRecipient(recipient=a.recipient, message_id=a.message_id) for a in result.accepted
            ],
            rejected=[
                RejectedRecipient(recipient=r.recipient, code=r.code, reason=r.reason)
                for r in result.rejected
            ],
            segments=result.segments,
            encoding=result.encoding,
            content=result.content,
        )


class SegmentOut(BaseModel):
    seq: int
    status: MessageStatus
    smsc_message_id: str | None
    smpp_status: int | None
    receipt_stat: str | None
    attempts: int
    submitted_at: datetime | None
    done_at: datetime | None


class MessageOut(BaseModel):
    id: UUID
    recipient: str
    source_addr: str
    category: Category
    product_code: str | None
    client_ref: str | None
    status: MessageStatus
    outcome: MessageOutcome | None = Field(
        default=None,
        description="Once final: delivered; failed (refused, or reported undeliverable); expired (the "
        "operator gave up at the validity period's end); unknown (no receipt nor answer by then)",
    )
    error: str | None
    encoding: str
    segments_total: int
    accepted_at: datetime
    submitted_at: datetime | None
    done_at: datetime | None
    segments: list[SegmentOut] = []

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            recipient=message.recipient,
            source_addr=message.source_addr,
            category=message.category,
            product_code=message.product_code,
            client_ref=message.client_ref,
            status=message.status,
            outcome=message.outcome,
            error=message.error,
            encoding=message.encoding,
            segments_total=message.segments_total,
            accepted_at=message.accepted_at,
            submitted_at=message.submitted_at,
            done_at=message.done_at,
            segments=[SegmentOut.model_validate(s, from_attributes=True) for s in message.segments],
        )


class MessagePage(BaseModel):
    items: list[MessageOut]


class StatusEventOut(BaseModel):
    cursor: str = Field(description="Opaque: ask with it to get what came after this event")
    occurred_at: datetime
    message_id: UUID
    status: MessageStatus
    body: dict[str, Any]

    @classmethod
    def of(cls, event: StatusEventView) -> StatusEventOut:
        return cls.model_validate(event, from_attributes=True)


class StatusEventPage(BaseModel):
    items: list[StatusEventOut]
    next_cursor: str | None = Field(description="Ask with it for the next page; null before any event")


class CallbackSecretOut(BaseModel):
    secret: str = Field(
        description="Shown once: the Standard Webhooks secret (whsec_...) your status callbacks are signed with"
    )


class DeadCallbackOut(BaseModel):
    event_id: UUID
    message_id: UUID
    url: str
    attempts: int
    last_error: str | None
    created_at: datetime
    body: dict[str, Any]

    @classmethod
    def of(cls, dead: DeadCallback) -> DeadCallbackOut:
        return cls.model_validate(dead, from_attributes=True)
