"""Maintenance window rules: the notice period (72 h by default) and its emergency exception, the
reminder before start, the transitions (reschedule, cancel, start, complete), and when the
regulator must be told. Pure: no I/O. Each transition returns a new window, or None for "no
change"; a refusal is a value the service turns into its error."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID


class WindowStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class NoticeKind(StrEnum):
    """What a notice to users says has happened."""

    SCHEDULED = "scheduled"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    REMINDER = "reminder"


SYSTEM_ACTOR = "system"  # who the history names for the reminder, starts and completions


@dataclass(frozen=True)
class NoticeRules:
    """The times that are promises, from the settings: users are told `notice_period` ahead (unless
    an emergency, with its reason), reminded `reminder_before` the start, and the regulator is told
    of maintenance longer than `regulator_threshold`, `regulator_lead` before it starts."""

    notice_period: timedelta = timedelta(hours=72)
    reminder_before: timedelta = timedelta(hours=24)
    regulator_threshold: timedelta = timedelta(hours=24)
    regulator_lead: timedelta = timedelta(hours=72)
    longest: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Window:
    id: UUID
    status: WindowStatus
    product_codes: tuple[str, ...]
    services: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    text_zh: str
    emergency: bool
    emergency_reason: str | None
    notice: int
    remind_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at


@dataclass(frozen=True)
class Notice:
    """One notice users were sent about a window, and (once the subscription service answered)
    how many subscribers it went to."""

    window_id: UUID
    notice: int
    kind: NoticeKind
    starts_at: datetime
    ends_at: datetime
    emergency: bool
    reason: str | None
    actor: str
    published_at: datetime
    subscribers_notified: int | None = None
    counted_at: datetime | None = None


class RefusalKind(StrEnum):
    NOTICE_TOO_SHORT = "notice_too_short"
    EMERGENCY_REASON_MISSING = "emergency_reason_missing"
    TIMES_INVALID = "times_invalid"
    NOT_CHANGEABLE = "not_changeable"


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    detail: str
    earliest_start: datetime | None = None


class Refused(Exception):
    """A transition that the rules do not allow; the service maps `refusal.kind` to its error."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


def earliest_start(now: datetime, rules: NoticeRules) -> datetime:
    return now + rules.notice_period


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h" if hours == math.floor(hours) else f"{hours:.2f} h"


def check_times(
    starts_at: datetime,
    ends_at: datetime,
    emergency: bool,
    emergency_reason: str | None,
    now: datetime,
    rules: NoticeRules,
) -> None:
    """Raises Refused unless a window may be (re)scheduled for these times now: it ends after it
    starts, lasts at most `rules.longest`, and starts at least the notice period from now, unless
    it is an emergency with a reason."""
    if emergency and not (emergency_reason and emergency_reason.strip()):
        raise Refused(
            Refusal(RefusalKind.EMERGENCY_REASON_MISSING, "an emergency maintenance must give its reason")
        )
    if ends_at <= starts_at:
        raise Refused(Refusal(RefusalKind.TIMES_INVALID, "the maintenance must end after it starts"))
    if ends_at - starts_at > rules.longest:
        raise Refused(
            Refusal(
                RefusalKind.TIMES_INVALID, f"a maintenance window lasts at most {rules.longest.days} days"
            )
        )
    if ends_at <= now:
        raise Refused(Refusal(RefusalKind.TIMES_INVALID, "the maintenance would be over already"))
    earliest = earliest_start(now, rules)
    if starts_at < earliest and not emergency:
        raise Refused(
            Refusal(
                RefusalKind.NOTICE_TOO_SHORT,
                f"users must be told {_hours(rules.notice_period)} ahead: start at {earliest.isoformat()} "
                "or later, or mark the maintenance an emergency and give the reason",
                earliest_start=earliest,
            )
        )


def reminder_at(starts_at: datetime, now: datetime, rules: NoticeRules) -> datetime | None:
    """When users are reminded: `reminder_before` the start; None when that is already past (the
    notice they are being sent now is as close to the start as a reminder would be)."""
    at = starts_at - rules.reminder_before
    return at if at > now else None


def schedule(
    window_id: UUID,
    product_codes: tuple[str, ...],
    services: tuple[str, ...],
    starts_at: datetime,
    ends_at: datetime,
    text_zh: str,
    emergency: bool,
    emergency_reason: str | None,
    actor: str,
    now: datetime,
    rules: NoticeRules,
) -> Window:
    check_times(starts_at, ends_at, emergency, emergency_reason, now, rules)
    return Window(
        id=window_id,
        status=WindowStatus.SCHEDULED,
        product_codes=tuple(dict.fromkeys(product_codes)),
        services=tuple(dict.fromkeys(services)),
        starts_at=starts_at,
        ends_at=ends_at,
        text_zh=text_zh,
        emergency=emergency,
        emergency_reason=emergency_reason.strip() if emergency and emergency_reason else None,
        notice=1,
        remind_at=reminder_at(starts_at, now, rules),
        created_at=now,
        created_by=actor,
        updated_at=now,
    )


def reschedule(
    window: Window,
    starts_at: datetime,
    ends_at: datetime,
    emergency: bool,
    emergency_reason: str | None,
    now: datetime,
    rules: NoticeRules,
) -> Window | None:
    """New times, and one more notice; None when the times are those users were told. A window
    under way may only move its end (it has started); one that is over may not change."""
    if window.status in (WindowStatus.COMPLETED, WindowStatus.CANCELLED):
        raise Refused(Refusal(RefusalKind.NOT_CHANGEABLE, f"the maintenance is {window.status.value}"))
    if starts_at == window.starts_at and ends_at == window.ends_at:
        return None
    if window.status is WindowStatus.IN_PROGRESS:
        if starts_at != window.starts_at:
            raise Refused(
                Refusal(RefusalKind.NOT_CHANGEABLE, "the maintenance has started: only its end may move")
            )
        if ends_at <= now or ends_at - starts_at > rules.longest:
            raise Refused(Refusal(RefusalKind.TIMES_INVALID, "the new end must be in the future"))
    else:
        check_times(starts_at, ends_at, emergency, emergency_reason, now, rules)
    urgent = emergency and window.status is WindowStatus.SCHEDULED
    return replace(
        window,
        starts_at=starts_at,
        ends_at=ends_at,
        emergency=window.emergency or urgent,
        emergency_reason=emergency_reason.strip() if urgent and emergency_reason else window.emergency_reason,
        notice=window.notice + 1,
        remind_at=reminder_at(starts_at, now, rules) if window.status is WindowStatus.SCHEDULED else None,
        updated_at=now,
    )


def cancel(window: Window, reason: str, now: datetime) -> Window:
    if window.status is not WindowStatus.SCHEDULED:
        detail = (
            "the maintenance has started: complete it instead"
            if window.status is WindowStatus.IN_PROGRESS
            else f"the maintenance is {window.status.value}"
        )
        raise Refused(Refusal(RefusalKind.NOT_CHANGEABLE, detail))
    return replace(
        window,
        status=WindowStatus.CANCELLED,
        notice=window.notice + 1,
        remind_at=None,
        cancelled_at=now,
        cancel_reason=reason,
        updated_at=now,
    )


def remind(window: Window, now: datetime) -> Window | None:
    """The reminder, once: None unless it has fallen due on a window still to come."""
    if window.status is not WindowStatus.SCHEDULED or window.remind_at is None or window.remind_at > now:
        return None
    return replace(window, notice=window.notice + 1, remind_at=None, updated_at=now)


def start(window: Window, now: datetime) -> Window | None:
    """Under way at its start time (None before, or when it is not scheduled any more)."""
    if window.status is not WindowStatus.SCHEDULED or window.starts_at > now:
        return None
    return replace(
        window, status=WindowStatus.IN_PROGRESS, started_at=window.starts_at, remind_at=None, updated_at=now
    )


def complete(window: Window, now: datetime, early: bool = False) -> Window | None:
    """Over at its expected end, or earlier when staff say so (`early`). A window that has not
    started yet cannot be completed early: cancel it."""
    if window.status is WindowStatus.SCHEDULED and early:
        raise Refused(
            Refusal(RefusalKind.NOT_CHANGEABLE, "the maintenance has not started: cancel it instead")
        )
    if window.status is not WindowStatus.IN_PROGRESS:
        if early:
            raise Refused(Refusal(RefusalKind.NOT_CHANGEABLE, f"the maintenance is {window.status.value}"))
        return None
    if not early and window.ends_at > now:
        return None
    end = min(now, window.ends_at)
    return replace(window, status=WindowStatus.COMPLETED, completed_at=end, updated_at=now)


# -- the regulator ------------------------------------------------------------------------


def regulator_task_wanted(window: Window, rules: NoticeRules) -> bool:
    """The regulator is told of maintenance whose impact lasts longer than the threshold (24 h),
    unless it has been cancelled."""
    return window.status is not WindowStatus.CANCELLED and window.duration > rules.regulator_threshold


def regulator_due_at(window: Window, now: datetime, rules: NoticeRules) -> datetime:
    """`regulator_lead` before the start; when that is past (an emergency), now."""
    return max(now, window.starts_at - rules.regulator_lead)


def regulator_summary(window: Window) -> str:
    hours = window.duration.total_seconds() / 3600
    scope = "、".join((*window.product_codes, *window.services))
    kind = "紧急维护" if window.emergency else "计划维护"
    return f"{kind}影响{hours:.1f}小时（超过24小时），需向主管部门报告：{scope}。{window.text_zh}"
