"""Dispute rules: which complaints hold the user's records, when a hold is placed or released,
and what a refund asked at resolution is. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from complaints.complaint.domain import Complaint, ComplaintEvent, ComplaintStatus
from complaints.sla.domain import Category, EventKind
from vas_common.events.complaints import complaint_holder

# A dispute about money or a subscription needs the user's original records (orders, charges,
# messages) until it is settled: they are kept past the 6-month retention while it is open.
DISPUTED = frozenset({Category.BILLING, Category.SUBSCRIPTION})
# Only a billing complaint may return money.
REFUNDABLE = frozenset({Category.BILLING})

# Refund request ids derive from the resolution that asked, so a retried request keeps its id.
_REFUND_NAMESPACE = uuid.UUID("7c0e5d1a-3b7f-4f7e-9a52-2d6f0c9b8e41")
REFUND_DETAIL = "refund"  # the key of the resolution event's detail that names the refund asked


class HoldStep(StrEnum):
    PLACE = "place"
    RELEASE = "release"


def holder(complaint: Complaint) -> str:
    return complaint_holder(complaint.id)


def hold_wanted(complaint: Complaint) -> bool:
    """A billing or subscription complaint holds the user's records until it is closed (resolved
    is not closed: the user may still be unhappy and it may reopen)."""
    return complaint.category in DISPUTED and complaint.status is not ComplaintStatus.CLOSED


def hold_step(complaint: Complaint, held: bool) -> HoldStep | None:
    """What to do about the complaint's hold as it now is, given whether it holds: place it,
    release it, or nothing (the hold already is as it should be)."""
    wanted = hold_wanted(complaint)
    if wanted and not held:
        return HoldStep.PLACE
    if held and not wanted:
        return HoldStep.RELEASE
    return None


def hold_reason(complaint: Complaint) -> str:
    return f"投诉{complaint.tracking_code}处理中（{complaint.category.value}）"


@dataclass(frozen=True)
class RefundAsk:
    """What staff asked to return when resolving: part or all of one charge of the user."""

    charge_id: UUID
    amount_fen: int
    reason: str

    def detail(self) -> dict[str, Any]:
        return {
            REFUND_DETAIL: {
                "charge_id": str(self.charge_id),
                "amount_fen": self.amount_fen,
                "reason": self.reason,
            }
        }


def refund_asked(event: ComplaintEvent) -> RefundAsk | None:
    """The refund a resolution asks for, from its detail (as `RefundAsk.detail` wrote it)."""
    asked = (event.detail or {}).get(REFUND_DETAIL)
    if not isinstance(asked, dict):
        return None
    return RefundAsk(UUID(str(asked["charge_id"])), int(asked["amount_fen"]), str(asked["reason"]))


def refund_refusal(complaint: Complaint, event: ComplaintEvent) -> str | None:
    """Why this complaint may not ask for a refund with this event, or None when it may."""
    if event.kind is not EventKind.RESOLVED:
        return "a refund is asked for when the complaint is resolved"
    if complaint.category not in REFUNDABLE:
        return f"only a billing complaint may refund; this one is about {complaint.category.value}"
    return None


def refund_request_id(event: ComplaintEvent) -> UUID:
    return uuid.uuid5(_REFUND_NAMESPACE, f"{event.id}:refund")


class RefundOutcome(StrEnum):
    REFUNDED = "refunded"
    FAILED = "failed"


@dataclass(frozen=True)
class RefundRequest:
    """A refund asked for by a complaint's resolution and, once the subscription service has
    answered, its outcome."""

    request_id: UUID
    complaint_id: UUID
    event_id: UUID
    msisdn: str
    charge_id: UUID
    amount_fen: int
    reason: str
    requested_at: datetime
    outcome: RefundOutcome | None = None
    refund_charge_id: UUID | None = None
    failure_code: str | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class RefundAnswer:
    """What the subscription service answered to a request."""

    request_id: UUID
    outcome: RefundOutcome
    at: datetime
    amount_fen: int
    refund_charge_id: UUID | None = None
    failure_code: str | None = None
    failure_detail: str | None = None
    refundable_fen: int | None = None


def answer_event_kind(answer: RefundAnswer) -> EventKind:
    return EventKind.REFUNDED if answer.outcome is RefundOutcome.REFUNDED else EventKind.REFUND_FAILED


def answer_note(answer: RefundAnswer) -> str:
    if answer.outcome is RefundOutcome.REFUNDED:
        return f"refunded {answer.amount_fen} fen"
    return f"refund of {answer.amount_fen} fen refused: {answer.failure_detail or answer.failure_code}"


def answer_detail(request: RefundRequest, answer: RefundAnswer) -> dict[str, Any]:
    """What the timeline shows of the answer: the request, the charge and the money."""
    detail: dict[str, Any] = {
        "request_id": str(request.request_id),
        "charge_id": str(request.charge_id),
        "amount_fen": answer.amount_fen,
    }
    if answer.refund_charge_id is not None:
        detail["refund_charge_id"] = str(answer.refund_charge_id)
    if answer.failure_code is not None:
        detail["code"] = answer.failure_code
    if answer.refundable_fen is not None:
        detail["refundable_fen"] = answer.refundable_fen
    return detail
