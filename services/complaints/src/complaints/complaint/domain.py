"""Complaints and their history: what a complaint is, which events may happen to it in which
state, tracking codes, and the texts a user gets. Pure: no I/O."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from complaints.sla.domain import Category, Channel, ComplaintSubject, EventKind, HistoryEvent


class ComplaintStatus(StrEnum):
    OPEN = "open"
    WAITING_ON_USER = "waiting_on_user"
    RESOLVED = "resolved"
    CLOSED = "closed"


@dataclass(frozen=True)
class Complaint:
    id: UUID
    tracking_code: str
    channel: Channel
    category: Category
    msisdn: str
    summary: str
    status: ComplaintStatus
    created_at: datetime
    updated_at: datetime
    partner_id: UUID | None = None
    product_code: str | None = None
    subscription_id: UUID | None = None
    message_id: UUID | None = None
    charge_id: UUID | None = None
    solved_on_call: bool = False
    operator_reference: str | None = None
    operator_deadline: datetime | None = None
    satisfaction: int | None = None

    def subject(self) -> ComplaintSubject:
        return ComplaintSubject(
            channel=self.channel,
            category=self.category,
            msisdn=self.msisdn,
            partner_id=self.partner_id,
            solved_on_call=self.solved_on_call,
            operator_deadline=self.operator_deadline,
        )


@dataclass(frozen=True)
class ComplaintEvent:
    id: UUID
    complaint_id: UUID
    kind: EventKind
    occurred_at: datetime  # when it happened (a call logged late keeps its real time)
    recorded_at: datetime
    actor: str  # a staff member, "user", "system"
    note: str = ""
    detail: dict[str, Any] | None = None

    def history(self) -> HistoryEvent:
        return HistoryEvent(self.kind, self.occurred_at)


# Which events may be recorded in which status, and the status after them.
_ALLOWED: dict[EventKind, frozenset[ComplaintStatus]] = {
    EventKind.CONTACTED: frozenset({ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER}),
    EventKind.REPLIED: frozenset({ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER}),
    EventKind.WAITING_ON_USER: frozenset({ComplaintStatus.OPEN}),
    EventKind.USER_REPLIED: frozenset(
        {ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER, ComplaintStatus.RESOLVED}
    ),
    EventKind.SOLUTION_OFFERED: frozenset({ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER}),
    EventKind.RESOLVED: frozenset({ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER}),
    EventKind.SATISFACTION_RECORDED: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED}),
    EventKind.REOPENED: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED}),
    EventKind.CLOSED: frozenset({ComplaintStatus.RESOLVED}),
    EventKind.ESCALATED: frozenset({ComplaintStatus.RESOLVED}),
}
_STATUS_AFTER: dict[EventKind, ComplaintStatus] = {
    EventKind.CONTACTED: ComplaintStatus.OPEN,
    EventKind.REPLIED: ComplaintStatus.OPEN,
    EventKind.WAITING_ON_USER: ComplaintStatus.WAITING_ON_USER,
    EventKind.USER_REPLIED: ComplaintStatus.OPEN,
    EventKind.SOLUTION_OFFERED: ComplaintStatus.OPEN,
    EventKind.RESOLVED: ComplaintStatus.RESOLVED,
    EventKind.REOPENED: ComplaintStatus.OPEN,
    EventKind.CLOSED: ComplaintStatus.CLOSED,
}
STAFF_EVENTS = frozenset(_ALLOWED) - {EventKind.SATISFACTION_RECORDED, EventKind.ESCALATED}


def allowed_in(kind: EventKind, status: ComplaintStatus) -> bool:
    return status in _ALLOWED.get(kind, frozenset())


def after_event(complaint: Complaint, event: ComplaintEvent) -> Complaint:
    """The complaint after the event (its status; the satisfaction it records)."""
    changed = replace(complaint, updated_at=max(complaint.updated_at, event.recorded_at))
    if event.kind is EventKind.USER_REPLIED and complaint.status is ComplaintStatus.RESOLVED:
        return changed  # a word after the resolution is kept; it reopens only by a reopen
    if event.kind is EventKind.SATISFACTION_RECORDED:
        score = (event.detail or {}).get("score")
        return replace(changed, satisfaction=int(score) if score is not None else None)
    status = _STATUS_AFTER.get(event.kind)
    return replace(changed, status=status) if status else changed


# Complaints may be logged after the fact, never in the future (a minute's clock skew allowed).
CLOCK_SKEW = timedelta(minutes=1)

# Tracking codes: no 0/O/1/I, read out over the phone without confusion.
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_tracking_code() -> str:
    return "TS" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


def normalized_tracking_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def last_four_match(msisdn: str, last_four: str) -> bool:
    return secrets.compare_digest(msisdn[-4:], last_four)


def acknowledgement_text(provider: str, code: str) -> str:
    return (
        f"【{provider}】您的投诉已受理，受理编号{code}。我们会尽快与您联系；"
        f"凭受理编号和手机号后四位可在网站查询处理进度。"
    )


def survey_text(provider: str, code: str) -> str:
    return (
        f"【{provider}】您的投诉（受理编号{code}）已处理完毕。请回复数字评价：5非常满意，4满意，"
        f"3一般，2不满意，1非常不满意。不满意的我们将重新处理。"
    )


def satisfaction_score(text: str) -> int | None:
    """1–5 from a reply to the survey ("5", "５", " 4 "), or None."""
    word = unicodedata.normalize("NFKC", text).strip().rstrip("。.!！")
    return int(word) if word in {"1", "2", "3", "4", "5"} else None


# A score at or below this reopens the complaint: the user is not satisfied.
REOPEN_AT_OR_BELOW = 2
