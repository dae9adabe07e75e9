"""Regulator report rules without I/O: deadlines by the rule that applied, states, the stages
following the incident, marking sent, the alerts owed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from incident.regulator_reports import domain
from incident.regulator_reports.domain import (
    Alert,
    Refusal,
    Report,
    ReportState,
    Rule,
    Stage,
    StageState,
    Subject,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULE = Rule(
    id="major_outage",
    severity="major_outage",
    first_within=timedelta(hours=1),
    first_warn_before=timedelta(minutes=30),
    final_within=timedelta(days=5),
    final_warn_before=timedelta(days=1),
    basis="test",
    revision=3,
    updated_at=T0,
    updated_by="admin",
)
INCIDENT = uuid.uuid4()


def subject(duty: bool = True, resolved_at: datetime | None = None) -> Subject:
    return Subject(INCIDENT, duty, T0, resolved_at)


def new_report(resolved_at: datetime | None = None) -> Report:
    report = domain.follow(None, subject(resolved_at=resolved_at), RULE, T0, uuid.uuid4(), "system")
    assert report is not None
    return report


def test_a_major_outage_owes_a_first_report_an_hour_after_detection_by_the_rule() -> None:
    report = new_report()
    assert report.rule == RULE  # which rule applied, with its figures and revision
    assert report.first.due_at == T0 + timedelta(hours=1)
    assert report.first.warn_at == T0 + timedelta(minutes=30)
    assert report.final.due_at is None  # not resolved yet
    assert report.final.state(T0) is StageState.PENDING
    assert report.state(T0) is ReportState.DUE
    assert Rule.of_snapshot(RULE.snapshot()) == RULE


def test_no_report_without_the_duty_or_without_a_rule() -> None:
    assert domain.follow(None, subject(duty=False), RULE, T0, uuid.uuid4(), "system") is None
    assert domain.follow(None, subject(), None, T0, uuid.uuid4(), "system") is None


def test_the_final_report_is_due_five_days_after_resolution() -> None:
    report = new_report()
    resolved = T0 + timedelta(hours=3)
    later = domain.follow(report, subject(resolved_at=resolved), None, T0, uuid.uuid4(), "system")
    assert later is not None
    assert later.final.due_at == resolved + timedelta(days=5)
    assert later.final.warn_at == resolved + timedelta(days=4)
    assert later.id == report.id
    assert domain.follow(later, subject(resolved_at=resolved), None, T0, uuid.uuid4(), "system") is None


def test_a_deadline_passed_unsent_is_overdue_and_sent_is_never_overdue() -> None:
    report = new_report()
    assert report.state(T0 + timedelta(minutes=59)) is ReportState.DUE
    assert report.state(T0 + timedelta(minutes=61)) is ReportState.OVERDUE
    sent = domain.mark_sent(
        report,
        Stage.FIRST,
        "王芳",
        "传真",
        "工信 2026-1",
        T0 + timedelta(minutes=40),
        T0 + timedelta(minutes=41),
    )
    assert isinstance(sent, Report)
    assert sent.first.state(T0 + timedelta(days=30)) is StageState.SENT
    assert not sent.first.sent_late
    assert sent.state(T0 + timedelta(days=30)) is ReportState.DUE  # the final one awaits resolution
    assert domain.alerts_due(sent, T0 + timedelta(days=30)) == []


def test_marking_sent_again_changes_nothing_and_the_order_is_kept() -> None:
    report = new_report()
    now = T0 + timedelta(minutes=10)
    assert domain.mark_sent(report, Stage.FINAL, "a", "传真", None, now, now) is Refusal.FIRST_NOT_SENT
    assert (
        domain.mark_sent(report, Stage.FIRST, "a", "传真", None, now + timedelta(hours=1), now)
        is Refusal.IN_FUTURE
    )
    first = domain.mark_sent(report, Stage.FIRST, "a", "传真", None, now, now)
    assert isinstance(first, Report)
    assert domain.mark_sent(first, Stage.FIRST, "b", "邮件", None, now, now) is None
    assert domain.mark_sent(first, Stage.FINAL, "a", "传真", None, now, now) is Refusal.NOT_RESOLVED
    resolved = domain.follow(first, subject(resolved_at=now), None, now, uuid.uuid4(), "system")
    assert resolved is not None
    assert resolved.first == first.first  # a stage sent stays as it was sent
    final = domain.mark_sent(resolved, Stage.FINAL, "a", "网上报送", "R-1", now, now)
    assert isinstance(final, Report)
    assert final.state(now + timedelta(days=30)) is ReportState.SENT


def test_the_warning_then_the_overdue_alert() -> None:
    report = new_report()
    assert domain.alerts_due(report, T0 + timedelta(minutes=29)) == []
    due = T0 + timedelta(hours=1)
    assert domain.alerts_due(report, T0 + timedelta(minutes=30)) == [
        (Stage.FIRST, Alert.DUE_SOON, due, T0 + timedelta(minutes=30))
    ]
    assert domain.alerts_due(report, T0 + timedelta(hours=2)) == [(Stage.FIRST, Alert.OVERDUE, due, due)]


def test_losing_the_duty_before_the_first_report_withdraws_it_and_regaining_takes_it_up() -> None:
    report = new_report()
    now = T0 + timedelta(minutes=5)
    withdrawn = domain.follow(report, subject(duty=False), None, now, uuid.uuid4(), "system")
    assert withdrawn is not None
    assert withdrawn.state(T0 + timedelta(days=1)) is ReportState.WITHDRAWN
    assert domain.alerts_due(withdrawn, T0 + timedelta(days=1)) == []
    assert domain.mark_sent(withdrawn, Stage.FIRST, "a", "传真", None, now, now) is Refusal.WITHDRAWN
    again = domain.follow(withdrawn, subject(), None, now, uuid.uuid4(), "system")
    assert again is not None
    assert again.withdrawn_at is None
    assert again.first.due_at == T0 + timedelta(hours=1)
    sent = domain.mark_sent(again, Stage.FIRST, "a", "传真", None, now, now)
    assert isinstance(sent, Report)
    assert (
        domain.follow(sent, subject(duty=False), None, now, uuid.uuid4(), "system") is None
    )  # sent stays owed


def test_a_changed_rule_moves_no_deadline_of_a_report_made_before() -> None:
    report = new_report()
    # The report keeps its own copy of the figures: following the incident uses it, not the new rule.
    stricter = Rule(**{**RULE.__dict__, "first_within": timedelta(minutes=30), "revision": 4})
    moved = domain.follow(
        report, Subject(INCIDENT, True, T0 + timedelta(minutes=1), None), stricter, T0, uuid.uuid4(), "x"
    )
    assert moved is not None
    assert moved.rule.revision == 3
    assert moved.first.due_at == T0 + timedelta(minutes=61)  # the detection time moved, by the old figures
