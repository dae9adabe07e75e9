"""HTTP shapes of availability: the figures, the rule in words, and the intervals counted."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from incident.availability.domain import AvailabilityRule, Figures


class RuleOut(BaseModel):
    partial_weight: float
    exclude_on_time_maintenance: bool
    maintenance_notice_hours: float = Field(
        description="How far ahead maintenance must be announced to be on time"
    )
    text: str = Field(description="The rule in words")

    @classmethod
    def of(cls, rule: AvailabilityRule) -> RuleOut:
        return cls(
            partial_weight=rule.partial_weight,
            exclude_on_time_maintenance=rule.exclude_on_time_maintenance,
            maintenance_notice_hours=rule.notice_hours,
            text=rule.describe(),
        )


class IntervalOut(BaseModel):
    source: str = Field(description="incident | maintenance")
    source_id: UUID
    kind: str = Field(description="full | partial | maintenance | maintenance_on_time")
    impact_started_at: datetime
    impact_ended_at: datetime | None = Field(description="null: still going")
    resolved_at: datetime | None
    counted_from: datetime = Field(description="Clipped to the period")
    counted_to: datetime
    seconds: float
    weight: float | None = Field(description="null: excluded from the period")


class AvailabilityOut(BaseModel):
    service: str
    month: str
    period_start: datetime
    period_end: datetime = Field(description="The end counted: the month's end, or now while it runs")
    period_seconds: float
    excluded_seconds: float
    down_seconds: float
    weighted_down_seconds: float
    availability: float | None = Field(description="0..1; null when nothing of the period is counted")
    mttr_seconds: float | None
    mtbf_seconds: float | None
    outages: int
    repairs: int
    rule: RuleOut
    intervals: list[IntervalOut]

    @classmethod
    def of(cls, service: str, month: str, f: Figures, rule: AvailabilityRule) -> AvailabilityOut:
        return cls(
            service=service,
            month=month,
            period_start=f.period_start,
            period_end=f.period_end,
            period_seconds=f.period_seconds,
            excluded_seconds=f.excluded_seconds,
            down_seconds=f.down_seconds,
            weighted_down_seconds=f.weighted_down_seconds,
            availability=f.availability,
            mttr_seconds=f.mttr_seconds,
            mtbf_seconds=f.mtbf_seconds,
            outages=f.outages,
            repairs=f.repairs,
            rule=RuleOut.of(rule),
            intervals=[
                IntervalOut(
                    source=c.interval.source,
                    source_id=c.interval.source_id,
                    kind=c.interval.kind.value,
                    impact_started_at=c.interval.start,
                    impact_ended_at=c.interval.end,
                    resolved_at=c.interval.resolved_at,
                    counted_from=c.start,
                    counted_to=c.end,
                    seconds=c.seconds,
                    weight=c.weight,
                )
                for c in f.intervals
            ],
        )
