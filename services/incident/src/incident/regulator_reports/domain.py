"""Regulator reports of major outages: the rule that sets the deadlines, a report's two stages (the
first report and the final one), their states, and the warnings and overdue alerts they owe. Pure:
no I/O.

A report is owed while its incident has the regulator duty (a major outage, not merged away):
the first report `first_within` after detection, the final one `final_within` after resolution.
The rule's figures are copied into the report when it applies, so a later change of the rule
moves no deadline already set, and the report says which rule (id, revision) it followed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

# How far ahead of the service's clock a time given by a person may be.
CLOCK_SKEW = timedelta(minutes=2)


class Stage(StrEnum):
    FIRST = "first"  # 首报: what is known, soon after detection
    FINAL = "final"  # 终报: cause, impact and actions, after resolution


class StageState(StrEnum):
    PENDING = "pending"  # its due time is not known yet (the final report, before resolution)
    DUE = "due"
    SENT = "sent"
    OVERDUE = "overdue"  # past its due time, not sent


class ReportState(StrEnum):
    DUE = "due"  # a stage is still to be sent, none late
    SENT = "sent"  # the final report was sent
    OVERDUE = "overdue"  # a stage is past its due time, not sent
    WITHDRAWN = "withdrawn"  # the incident lost the duty before anything was sent


class Alert(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


class Refusal(StrEnum):
    """Why marking a stage sent is refused (the service names the error)."""

    WITHDRAWN = "withdrawn"
    FIRST_NOT_SENT = "first_not_sent"
    NOT_RESOLVED = "not_resolved"
    IN_FUTURE = "in_future"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    first_within: timedelta
    first_warn_before: timedelta
    final_within: timedelta
    final_warn_before: timedelta
    basis: str
    revision: int
    updated_at: datetime
    updated_by: str

    def snapshot(self) -> dict[str, Any]:
        """The figures a report keeps (JSON)."""
        return {
            "id": self.id,
            "revision": self.revision,
            "severity": self.severity,
            "first_within_s": int(self.first_within.total_seconds()),
            "first_warn_before_s": int(self.first_warn_before.total_seconds()),
            "final_within_s": int(self.final_within.total_seconds()),
            "final_warn_before_s": int(self.final_warn_before.total_seconds()),
            "basis": self.basis,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }

    @classmethod
    def of_snapshot(cls, s: dict[str, Any]) -> Rule:
        return cls(
            id=s["id"],
            severity=s["severity"],
            first_within=timedelta(seconds=s["first_within_s"]),
            first_warn_before=timedelta(seconds=s["first_warn_before_s"]),
            final_within=timedelta(seconds=s["final_within_s"]),
            final_warn_before=timedelta(seconds=s["final_warn_before_s"]),
            basis=s["basis"],
            revision=s["revision"],
            updated_at=datetime.fromisoformat(s["updated_at"]),
            updated_by=s["updated_by"],
        )


@dataclass(frozen=True)
class StageRecord:
    stage: Stage
    due_at: datetime | None
    warn_at: datetime | None
    sent_at: datetime | None = None
    sent_by: str | None = None
    sent_via: str | None = None
    reference: str | None = None
    recorded_at: datetime | None = None

    def state(self, now: datetime) -> StageState:
        if self.sent_at is not None:
            return StageState.SENT
        if self.due_at is None:
            return StageState.PENDING
        return StageState.OVERDUE if now > self.due_at else StageState.DUE

    @property
    def sent_late(self) -> bool:
        return self.sent_at is not None and self.due_at is not None and self.sent_at > self.due_at


@dataclass(frozen=True)
class Report:
    id: UUID
    incident_id: UUID
    rule: Rule  # as it was when it applied
    first: StageRecord
    final: StageRecord
    created_at: datetime
    updated_at: datetime
    updated_by: str
    withdrawn_at: datetime | None = None
    cause: str = ""
    actions: str = ""

    def stage(self, stage: Stage) -> StageRecord:
        return self.first if stage is Stage.FIRST else self.final

    def state(self, now: datetime) -> ReportState:
        if self.withdrawn_at is not None:
            return ReportState.WITHDRAWN
        if StageState.OVERDUE in (self.first.state(now), self.final.state(now)):
            return ReportState.OVERDUE
        if self.final.sent_at is not None:
            return ReportState.SENT
        return ReportState.DUE


@dataclass(frozen=True)
class Subject:
    """What a report follows of its incident."""

    incident_id: UUID
    duty: bool  # a major outage, not merged away
    detected_at: datetime
    resolved_at: datetime | None


def stages(
    rule: Rule, detected_at: datetime, resolved_at: datetime | None
) -> tuple[StageRecord, StageRecord]:
    """The two stages' due and warning times by the rule: first after detection, final after
    resolution (unknown until then)."""
    first_due = detected_at + rule.first_within
    first = StageRecord(Stage.FIRST, first_due, first_due - rule.first_warn_before)
    if resolved_at is None:
        return first, StageRecord(Stage.FINAL, None, None)
    final_due = resolved_at + rule.final_within
    return first, StageRecord(Stage.FINAL, final_due, final_due - rule.final_warn_before)


def follow(
    existing: Report | None, subject: Subject, rule: Rule | None, now: datetime, new_id: UUID, actor: str
) -> Report | None:
    """The report as the incident now wants it, or None for no change: a new one when the incident
    gains the duty (by `rule`; none without a rule), its unsent stages' times moved when the
    incident's detection or resolution moved (by the rule it kept), withdrawn when the incident
    loses the duty before the first report was sent, taken up again when it regains it. A stage
    sent stays as it was sent."""
    if existing is None:
        if not subject.duty or rule is None:
            return None
        first, final = stages(rule, subject.detected_at, subject.resolved_at)
        return Report(new_id, subject.incident_id, rule, first, final, now, now, actor)
    if not subject.duty:
        if existing.withdrawn_at is not None or existing.first.sent_at is not None:
            return None
        return replace(existing, withdrawn_at=now, updated_at=now, updated_by=actor)
    first, final = stages(existing.rule, subject.detected_at, subject.resolved_at)
    after = replace(
        existing,
        withdrawn_at=None,
        first=existing.first if existing.first.sent_at else first,
        final=existing.final if existing.final.sent_at else final,
    )
    if after == existing:
        return None
    return replace(after, updated_at=now, updated_by=actor)


def mark_sent(
    report: Report,
    stage: Stage,
    actor: str,
    via: str,
    reference: str | None,
    at: datetime,
    now: datetime,
) -> Report | Refusal | None:
    """The stage sent at `at` by `actor`, `via` a channel; None when it was marked sent already
    (the same call again changes nothing). Refused when the report was withdrawn, when the
    final report comes before the first, or before the incident was resolved."""
    if report.withdrawn_at is not None:
        return Refusal.WITHDRAWN
    if at > now + CLOCK_SKEW:
        return Refusal.IN_FUTURE
    record = report.stage(stage)
    if record.sent_at is not None:
        return None
    if stage is Stage.FINAL:
        if report.first.sent_at is None:
            return Refusal.FIRST_NOT_SENT
        if record.due_at is None:
            return Refusal.NOT_RESOLVED
    sent = replace(record, sent_at=at, sent_by=actor, sent_via=via, reference=reference, recorded_at=now)
    if stage is Stage.FIRST:
        return replace(report, first=sent, updated_at=now, updated_by=actor)
    return replace(report, final=sent, updated_at=now, updated_by=actor)


def alerts_due(report: Report, now: datetime) -> list[tuple[Stage, Alert, datetime, datetime]]:
    """(stage, alert, due time, when it fell due) for each alert owed now: the warning once the
    warning time has come while the stage is still due, the overdue alert once the due time has
    passed; none for a stage sent or a report withdrawn. The caller raises each once."""
    if report.withdrawn_at is not None:
        return []
    owed = []
    for record in (report.first, report.final):
        if record.sent_at is not None or record.due_at is None:
            continue
        if now > record.due_at:
            owed.append((record.stage, Alert.OVERDUE, record.due_at, record.due_at))
        elif record.warn_at is not None and now >= record.warn_at:
            owed.append((record.stage, Alert.DUE_SOON, record.due_at, record.warn_at))
    return owed


# -- impact figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImpactFigures:
    """Messages of the impact interval the sms-sender delayed or failed (sms.status), and the
    distinct users they were for. `counted` is False when the incident does not concern the SMS
    service, or has no interval yet."""

    counted: bool
    start: datetime
    end: datetime
    delayed: int = 0
    failed: int = 0
    users: int = 0
    delay_threshold_s: float = 4.0
    products: tuple[str, ...] = ()
