"""HTTP shapes of regulator reports: the report (its JSON is also the export of the record), the
changes staff make, and the rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, StrictInt

from incident.incidents.schemas import IncidentDetailOut
from incident.regulator_reports.domain import (
    ImpactFigures,
    Report,
    ReportState,
    Rule,
    Stage,
    StageRecord,
    StageState,
)
from incident.regulator_reports.service import ReportView, RuleChange
from vas_common.types import Instant, MultiLineText, SingleLineText


class StageOut(BaseModel):
    stage: Stage
    state: StageState
    due_at: datetime | None = Field(description="None until known (the final report: after resolution)")
    warn_at: datetime | None = Field(description="When the warning that it is due soon is raised")
    sent_at: datetime | None
    sent_by: str | None
    sent_via: str | None
    reference: str | None
    sent_late: bool

    @classmethod
    def of(cls, s: StageRecord, now: datetime) -> StageOut:
        return cls(
            stage=s.stage,
            state=s.state(now),
            due_at=s.due_at,
            warn_at=s.warn_at,
            sent_at=s.sent_at,
            sent_by=s.sent_by,
            sent_via=s.sent_via,
            reference=s.reference,
            sent_late=s.sent_late,
        )


class RuleOut(BaseModel):
    id: str
    severity: str = Field(description="The incident severity the rule applies to")
    revision: int
    first_within_s: int = Field(description="The first report is due this long after detection")
    first_warn_before_s: int
    final_within_s: int = Field(description="The final report is due this long after resolution")
    final_warn_before_s: int
    basis: str = Field(description="What the figures follow, in words")
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, r: Rule) -> RuleOut:
        s: dict[str, Any] = r.snapshot()
        return cls(**{**s, "updated_at": r.updated_at})


class RegulatorReportOut(BaseModel):
    id: UUID
    incident_id: UUID
    state: ReportState
    rule: RuleOut = Field(description="The rule as it was when it applied to this report")
    first: StageOut
    final: StageOut
    cause: str
    actions: str
    withdrawn_at: datetime | None
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, r: Report, now: datetime) -> RegulatorReportOut:
        return cls(
            id=r.id,
            incident_id=r.incident_id,
            state=r.state(now),
            rule=RuleOut.of(r.rule),
            first=StageOut.of(r.first, now),
            final=StageOut.of(r.final, now),
            cause=r.cause,
            actions=r.actions,
            withdrawn_at=r.withdrawn_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
            updated_by=r.updated_by,
        )


class ImpactOut(BaseModel):
    counted: bool = Field(description="False when the incident does not concern the SMS service")
    source: str = Field(description="Where the figures come from, in words")
    start: datetime
    end: datetime
    messages_delayed: int
    messages_failed: int
    users_affected: int
    delay_threshold_s: float
    products: list[str]

    @classmethod
    def of(cls, f: ImpactFigures) -> ImpactOut:
        return cls(
            counted=f.counted,
            source=(
                "sms.status: messages accepted before `end` and submitted (or, never submitted, "
                "accepted) after `start` whose accept-to-submit delay exceeded the threshold, or "
                "that failed; users are their distinct recipients"
            ),
            start=f.start,
            end=f.end,
            messages_delayed=f.delayed,
            messages_failed=f.failed,
            users_affected=f.users,
            delay_threshold_s=f.delay_threshold_s,
            products=list(f.products),
        )


class RegulatorReportDocument(BaseModel):
    """The whole report: what the print view and the PDF show, and the record's JSON export."""

    report: RegulatorReportOut
    incident: IncidentDetailOut
    impact: ImpactOut
    as_of: datetime

    @classmethod
    def of(cls, v: ReportView) -> RegulatorReportDocument:
        return cls(
            report=RegulatorReportOut.of(v.report, v.now),
            incident=IncidentDetailOut.of(v.incident),
            impact=ImpactOut.of(v.figures),
            as_of=v.now,
        )


class ReportPatch(BaseModel):
    cause: MultiLineText | None = Field(default=None, max_length=5000, description="The cause, in Chinese")
    actions: MultiLineText | None = Field(
        default=None, max_length=5000, description="What was done and will be done, in Chinese"
    )


class SentIn(BaseModel):
    via: SingleLineText = Field(
        max_length=200, description="How it was sent: the channel (e.g. 通信管理局网上报送系统, 传真)"
    )
    reference: SingleLineText | None = Field(default=None, max_length=200)
    sent_at: Instant | None = Field(default=None, description="When it was sent; default now")


class RuleIn(BaseModel):
    first_within_s: StrictInt = Field(gt=0, le=30 * 86400)
    first_warn_before_s: StrictInt = Field(ge=0, le=30 * 86400)
    final_within_s: StrictInt = Field(gt=0, le=365 * 86400)
    final_warn_before_s: StrictInt = Field(ge=0, le=365 * 86400)
    basis: SingleLineText = Field(max_length=500)

    def change(self) -> RuleChange:
        return RuleChange(
            first_within=timedelta(seconds=self.first_within_s),
            first_warn_before=timedelta(seconds=self.first_warn_before_s),
            final_within=timedelta(seconds=self.final_within_s),
            final_warn_before=timedelta(seconds=self.final_warn_before_s),
            basis=self.basis,
        )
