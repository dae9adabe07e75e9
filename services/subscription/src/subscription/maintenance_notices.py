"""What subscribers are told of a maintenance window (incident.events): the text of each notice,
with the time in Asia/Shanghai. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from subscription.domain import SHANGHAI

# Each subscriber's notice has an id derived from (window, notice, number): a notice sent again
# carries the same id, and the sms-sender stores it once.
_NOTICE_NAMESPACE = uuid.UUID("0f6f8d2e-5a43-4c1b-9d0e-7b2c6a1e9f35")
PURPOSE = "maintenance_notice"


class NoticeKind(StrEnum):
    SCHEDULED = "scheduled"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    REMINDER = "reminder"


@dataclass(frozen=True)
class MaintenanceNotice:
    window_id: UUID
    notice: int
    kind: NoticeKind
    product_codes: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    text_zh: str
    previous_starts_at: datetime | None = None
    previous_ends_at: datetime | None = None


def request_id(notice: MaintenanceNotice, msisdn: str) -> UUID:
    return uuid.uuid5(_NOTICE_NAMESPACE, f"{notice.window_id}:{notice.notice}:{msisdn}")


def _day(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日"


def period_text(starts_at: datetime, ends_at: datetime) -> str:
    """ "12月7日 02:00至06:00", or "12月7日 22:00至12月8日 04:00" across midnight, in Shanghai time."""
    start, end = starts_at.astimezone(SHANGHAI), ends_at.astimezone(SHANGHAI)
    end_text = end.strftime("%H:%M") if end.date() == start.date() else f"{_day(end)} {end.strftime('%H:%M')}"
    return f"{_day(start)} {start.strftime('%H:%M')}至{end_text}"


def notice_text(provider: str, notice: MaintenanceNotice, product_names: Sequence[str]) -> str:
    """The SMS a subscriber of `product_names` (those of the window's products they subscribe to)
    is sent; every kind says when, in Beijing time."""
    names = "、".join(f"“{n}”" for n in product_names)
    when = period_text(notice.starts_at, notice.ends_at) + "（北京时间）"
    detail = notice.text_zh.strip()
    if notice.kind is NoticeKind.SCHEDULED:
        return f"【{provider}】尊敬的用户：您订购的{names}将于{when}进行系统维护，期间服务暂停。{detail}"
    if notice.kind is NoticeKind.RESCHEDULED:
        before = ""
        if notice.previous_starts_at is not None and notice.previous_ends_at is not None:
            before = f"（原定{period_text(notice.previous_starts_at, notice.previous_ends_at)}）"
        return (
            f"【{provider}】维护时间变更：您订购的{names}系统维护改为{when}{before}，期间服务暂停。{detail}"
        )
    if notice.kind is NoticeKind.CANCELLED:
        return f"【{provider}】维护取消：您订购的{names}原定{when}的系统维护已取消，服务照常。"
    return f"【{provider}】维护提醒：您订购的{names}将于{when}进行系统维护，期间服务暂停。{detail}"
