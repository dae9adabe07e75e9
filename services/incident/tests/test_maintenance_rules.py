"""Maintenance window rules, case by case: the 72 h notice and its emergency exception, the
reminder, the transitions, and when the regulator must be told."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from incident.maintenance import domain
from incident.maintenance.domain import NoticeRules, RefusalKind, Refused, Window, WindowStatus
from incident.regulator_tasks import domain as tasks
from incident.regulator_tasks.domain import RegulatorTask, TaskKind, TaskStatus

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
RULES = NoticeRules()
H = timedelta(hours=1)


def window(
    starts_in: timedelta = 80 * H,
    lasts: timedelta = 4 * H,
    emergency: bool = False,
    emergency_reason: str | None = None,
    rules: NoticeRules = RULES,
) -> Window:
    return domain.schedule(
        uuid.uuid4(),
        ("NEWS", "NEWS", "JOKE"),
        ("sms-sender",),
        NOW + starts_in,
        NOW + starts_in + lasts,
        "系统升级",
        emergency,
        emergency_reason,
        "operator",
        NOW,
        rules,
    )


def refusal(exc: pytest.ExceptionInfo[Refused]) -> RefusalKind:
    return exc.value.refusal.kind


def test_71_hours_59_minutes_ahead_is_refused_with_the_earliest_start() -> None:
    with pytest.raises(Refused) as refused:
        window(starts_in=71 * H + timedelta(minutes=59))
    assert refusal(refused) is RefusalKind.NOTICE_TOO_SHORT
    assert refused.value.refusal.earliest_start == NOW + 72 * H


def test_exactly_72_hours_ahead_is_accepted() -> None:
    w = window(starts_in=72 * H)
    assert w.status is WindowStatus.SCHEDULED
    assert w.starts_at == NOW + 72 * H
    assert w.notice == 1
    assert w.product_codes == ("NEWS", "JOKE")  # once each, in order


def test_an_emergency_needs_a_reason_and_then_may_start_at_once() -> None:
    with pytest.raises(Refused) as refused:
        window(starts_in=H, emergency=True, emergency_reason=None)
    assert refusal(refused) is RefusalKind.EMERGENCY_REASON_MISSING
    with pytest.raises(Refused) as blank:
        window(starts_in=H, emergency=True, emergency_reason="  ")
    assert refusal(blank) is RefusalKind.EMERGENCY_REASON_MISSING
    w = window(starts_in=H, emergency=True, emergency_reason="核心网设备故障，需紧急更换")
    assert w.emergency
    assert w.emergency_reason == "核心网设备故障，需紧急更换"
    assert w.remind_at is None  # the notice now is as close to the start as a reminder would be


def test_the_notice_period_is_a_rule_not_a_constant() -> None:
    two_days = NoticeRules(notice_period=48 * H)
    assert window(starts_in=48 * H, rules=two_days).starts_at == NOW + 48 * H
    with pytest.raises(Refused):
        window(starts_in=47 * H, rules=two_days)


@pytest.mark.parametrize(
    ("starts_in", "lasts"),
    [(80 * H, timedelta()), (80 * H, -H), (80 * H, timedelta(days=31))],
)
def test_times_that_cannot_be_used(starts_in: timedelta, lasts: timedelta) -> None:
    with pytest.raises(Refused) as refused:
        window(starts_in=starts_in, lasts=lasts)
    assert refusal(refused) is RefusalKind.TIMES_INVALID


def test_the_reminder_falls_due_before_start_and_is_sent_once() -> None:
    w = window(starts_in=80 * H)
    assert w.remind_at == w.starts_at - 24 * H
    assert domain.remind(w, w.starts_at - 25 * H) is None  # not yet
    reminded = domain.remind(w, w.starts_at - 23 * H)
    assert reminded is not None
    assert reminded.notice == 2
    assert reminded.remind_at is None
    assert domain.remind(reminded, w.starts_at - 22 * H) is None  # once


def test_a_reschedule_is_a_new_notice_under_the_same_rule_and_resets_the_reminder() -> None:
    w = window(starts_in=80 * H)
    assert domain.reschedule(w, w.starts_at, w.ends_at, False, None, NOW, RULES) is None  # no change
    later = domain.reschedule(w, w.starts_at + 24 * H, w.ends_at + 24 * H, False, None, NOW + H, RULES)
    assert later is not None
    assert later.notice == 2
    assert later.remind_at == later.starts_at - 24 * H
    with pytest.raises(Refused) as refused:
        domain.reschedule(w, NOW + 10 * H, NOW + 12 * H, False, None, NOW, RULES)
    assert refusal(refused) is RefusalKind.NOTICE_TOO_SHORT
    sooner = domain.reschedule(w, NOW + 10 * H, NOW + 12 * H, True, "紧急修复", NOW, RULES)
    assert sooner is not None
    assert sooner.emergency
    assert sooner.emergency_reason == "紧急修复"


def test_cancel_start_complete() -> None:
    w = window(starts_in=80 * H)
    cancelled = domain.cancel(w, "不再需要", NOW)
    assert cancelled.status is WindowStatus.CANCELLED
    assert cancelled.notice == 2
    with pytest.raises(Refused):
        domain.cancel(cancelled, "再次", NOW)
    with pytest.raises(Refused):
        domain.reschedule(cancelled, w.starts_at + H, w.ends_at + H, False, None, NOW, RULES)

    assert domain.start(w, w.starts_at - timedelta(seconds=1)) is None
    running = domain.start(w, w.starts_at + timedelta(seconds=5))
    assert running is not None
    assert running.status is WindowStatus.IN_PROGRESS
    assert running.started_at == w.starts_at
    with pytest.raises(Refused):
        domain.cancel(running, "晚了", w.starts_at + H)
    # under way: only the end may move, and without the notice period
    longer = domain.reschedule(running, w.starts_at, w.ends_at + 2 * H, False, None, w.starts_at + H, RULES)
    assert longer is not None
    assert longer.ends_at == w.ends_at + 2 * H
    with pytest.raises(Refused):
        domain.reschedule(running, w.starts_at + H, w.ends_at, False, None, w.starts_at + H, RULES)
    assert domain.complete(running, w.ends_at - H) is None
    done = domain.complete(running, w.ends_at + H)
    assert done is not None
    assert done.status is WindowStatus.COMPLETED
    assert done.completed_at == w.ends_at
    early = domain.complete(running, w.starts_at + H, early=True)
    assert early is not None
    assert early.completed_at == w.starts_at + H
    with pytest.raises(Refused):
        domain.complete(w, NOW, early=True)  # not started: cancel it


def test_impact_longer_than_24_hours_owes_the_regulator_a_notice_due_72_hours_before_start() -> None:
    assert not domain.regulator_task_wanted(window(lasts=24 * H), RULES)
    long = window(starts_in=100 * H, lasts=24 * H + timedelta(minutes=1))
    assert domain.regulator_task_wanted(long, RULES)
    assert domain.regulator_due_at(long, NOW, RULES) == long.starts_at - 72 * H
    urgent = window(starts_in=2 * H, lasts=30 * H, emergency=True, emergency_reason="抢修")
    assert domain.regulator_due_at(urgent, NOW, RULES) == NOW  # no time left: at once
    assert "紧急维护" in domain.regulator_summary(urgent)
    assert not domain.regulator_task_wanted(domain.cancel(long, "取消", NOW), RULES)


def test_a_regulator_task_follows_its_subject() -> None:
    new = RegulatorTask(
        uuid.uuid4(), TaskKind.MAINTENANCE_OVER_24H, uuid.uuid4(), TaskStatus.OPEN, "s", NOW, NOW, NOW
    )
    assert tasks.follow(None, False, "s", NOW, NOW, new) is None
    assert tasks.follow(None, True, "s", NOW, NOW, new) is new
    assert tasks.follow(new, True, "s", NOW, NOW, new) is None  # unchanged
    moved = tasks.follow(new, True, "s", NOW + H, NOW, new)
    assert moved is not None
    assert moved.due_at == NOW + H
    withdrawn = tasks.follow(new, False, "s", NOW, NOW, new)
    assert withdrawn is not None
    assert withdrawn.status is TaskStatus.WITHDRAWN
    done = tasks.done(new, "operator", "已报送", NOW)
    assert done is not None
    assert tasks.done(done, "operator", None, NOW) is None
    assert tasks.follow(done, False, "s", NOW, NOW, new) is None  # what was sent was sent
    assert new.overdue(NOW + H)
    assert not done.overdue(NOW + H)
