"""HTTP shapes of the quality report: each promise with its target, measured, met and data source;
the send delay of the period, per day (and per partner, for staff); the traffic per day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from incident.quality.domain import RELATIVE_ACCURACY, BusyHour, DelayFigures, Promise, ReportedRecords
from incident.quality.service import (
    AvailabilityFigures,
    DayFigures,
    HourFigures,
    QualityReport,
    Servqual,
    ServqualMonth,
)
from vas_common.types import Instant, SingleLineText


class PromiseOut(BaseModel):
    key: str = Field(
        description="send_delay | capacity | availability | mttr | complaint_clocks | notices_on_time"
        " | registration_success | unsubscribe | content_review | records_kept"
    )
    name_zh: str
    name_en: str
    target: str
    measured: str
    met: bool | None = Field(description="null: the data cannot say (not measured, or not reached)")
    data_source: str = Field(description="Where the figures came from, and what they cannot show")
    figures: dict[str, Any]

    @classmethod
    def of(cls, p: Promise) -> PromiseOut:
        return cls(
            key=p.key,
            name_zh=p.name_zh,
            name_en=p.name_en,
            target=p.target,
            measured=p.measured,
            met=p.met,
            data_source=p.data_source,
            figures=dict(p.figures),
        )


class DelayOut(BaseModel):
    messages: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None = Field(description="Exact")
    mean_s: float | None = Field(description="Exact")
    within_target: int = Field(description="Messages below the target (exact)")
    share_within_target: float | None

    @classmethod
    def of(cls, d: DelayFigures) -> DelayOut:
        return cls(
            messages=d.messages,
            p50_s=d.p50_s,
            p95_s=d.p95_s,
            p99_s=d.p99_s,
            max_s=d.max_s,
            mean_s=d.mean_s,
            within_target=d.within_target,
            share_within_target=d.share_within_target,
        )


class BusyHourOut(BaseModel):
    starts_at: datetime = Field(description="Asia/Shanghai")
    messages: int
    mean_per_second: float

    @classmethod
    def of(cls, h: BusyHour | None) -> BusyHourOut | None:
        return (
            None
            if h is None
            else cls(starts_at=h.hour_start, messages=h.messages, mean_per_second=h.mean_per_second)
        )


class DayOut(BaseModel):
    day: date
    delay: DelayOut
    mt_messages: int
    mt_peak_per_second: int
    mt_busy_hour: BusyHourOut | None
    mo_messages: int
    mo_peak_per_second: int
    mo_busy_hour: BusyHourOut | None

    @classmethod
    def of(cls, d: DayFigures) -> DayOut:
        return cls(
            day=d.day,
            delay=DelayOut.of(d.delay),
            mt_messages=d.mt_messages,
            mt_peak_per_second=d.mt_peak_per_second,
            mt_busy_hour=BusyHourOut.of(d.mt_busy_hour),
            mo_messages=d.mo_messages,
            mo_peak_per_second=d.mo_peak_per_second,
            mo_busy_hour=BusyHourOut.of(d.mo_busy_hour),
        )


class AvailabilityOut(BaseModel):
    service: str
    availability: float | None
    mttr_seconds: float | None
    outages: int
    repairs: int

    @classmethod
    def of(cls, a: AvailabilityFigures) -> AvailabilityOut:
        return cls(
            service=a.service,
            availability=a.availability,
            mttr_seconds=a.mttr_seconds,
            outages=a.outages,
            repairs=a.repairs,
        )


class PartnerDelayOut(BaseModel):
    partner_id: UUID | None = Field(description="null: the provider's own system messages")
    name: str | None = Field(
        default=None,
        description="as learnt from subscription.events; null for system messages or a partner not yet seen",
    )
    delay: DelayOut


class QualityReportOut(BaseModel):
    period: str = Field(description="YYYY-MM or YYYY-Qn (Asia/Shanghai)")
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    percentile_relative_accuracy: float = Field(
        description="Percentiles are read from mergeable log buckets: within this share of the true value"
    )
    promises: list[PromiseOut]
    delay: DelayOut
    days: list[DayOut]
    availability: list[AvailabilityOut]
    partners: list[PartnerDelayOut] | None = Field(description="Staff only; null on the public version")

    @classmethod
    def of(cls, r: QualityReport) -> QualityReportOut:
        return cls(
            period=r.period.label,
            period_start=r.period.start,
            period_end=r.period.end,
            generated_at=r.generated_at,
            percentile_relative_accuracy=RELATIVE_ACCURACY,
            promises=[PromiseOut.of(p) for p in r.promises],
            delay=DelayOut.of(r.delay),
            days=[DayOut.of(d) for d in r.days],
            availability=[AvailabilityOut.of(a) for a in r.availability],
            partners=(
                None
                if r.partners is None
                else [
                    PartnerDelayOut(
                        partner_id=None if p.int == 0 else p,
                        name=r.partner_names.get(p),
                        delay=DelayOut.of(d),
                    )
                    for p, d in sorted(r.partners.items())
                ]
            ),
        )


class HourOut(BaseModel):
    starts_at: datetime = Field(description="Asia/Shanghai")
    delay: DelayOut
    mt_messages: int
    mt_peak_per_second: int
    mo_messages: int
    mo_peak_per_second: int

    @classmethod
    def of(cls, h: HourFigures) -> HourOut:
        return cls(
            starts_at=h.hour_start,
            delay=DelayOut.of(h.delay),
            mt_messages=h.mt_messages,
            mt_peak_per_second=h.mt_peak_per_second,
            mo_messages=h.mo_messages,
            mo_peak_per_second=h.mo_peak_per_second,
        )


class DayHoursOut(BaseModel):
    day: date = Field(description="Asia/Shanghai")
    percentile_relative_accuracy: float
    hours: list[HourOut] = Field(description="The day's 24 clock hours")


class ServqualMonthOut(BaseModel):
    month: str = Field(description="YYYY-MM (Asia/Shanghai)")
    gap3_promises_judged: int = Field(description="Promises the data could judge (met true or false)")
    gap3_promises_met: int
    gap3: int = Field(description="Promises not met: the standard vs what was delivered")
    gap3_not_met: list[str] = Field(description="Keys of the promises not met")
    gap3_cannot_say: list[str] = Field(description="Keys of the promises the data cannot judge")
    gap4_incidents: int = Field(
        description="Incidents whose impact started in the month (not merged, not maintenance)"
    )
    gap4_published: int = Field(description="Of them, shown on the status page (a public status update)")
    gap4: int = Field(description="Incidents measured but never published on the status page")
    gap4_publication_median_s: float | None = Field(description="Impact start → first public update")
    gap4_publication_max_s: float | None
    gap4_outages: int = Field(description="Outages by incident.availability's rule, all services")
    gap5_replies: int = Field(description="Satisfaction replies (complaint.events)")
    gap5_by_score: dict[str, int] = Field(description="Replies per score 1-5")
    gap5_mean_score: float | None
    gap5_satisfied_share: float | None = Field(description="Replies scoring 4 or 5")
    gap5: float | None = Field(description="Target share minus the satisfied share (> 0: below expectation)")

    @classmethod
    def of(cls, m: ServqualMonth, satisfied_target: float) -> ServqualMonthOut:
        share = m.satisfied_share
        return cls(
            month=m.month,
            gap3_promises_judged=m.promises_judged,
            gap3_promises_met=m.promises_met,
            gap3=m.gap3,
            gap3_not_met=m.not_met,
            gap3_cannot_say=m.cannot_say,
            gap4_incidents=m.incidents,
            gap4_published=m.published,
            gap4=m.gap4,
            gap4_publication_median_s=m.publication_median_s,
            gap4_publication_max_s=m.publication_max_s,
            gap4_outages=m.outages,
            gap5_replies=m.reply_count,
            gap5_by_score={str(score): m.replies.get(score, 0) for score in range(1, 6)},
            gap5_mean_score=m.mean_score,
            gap5_satisfied_share=share,
            gap5=None if share is None else satisfied_target - share,
        )


class ServqualOut(BaseModel):
    month: str
    generated_at: datetime
    gap5_satisfied_target: float = Field(
        description="The share of replies scoring 4-5 users are taken to expect"
    )
    current: ServqualMonthOut
    trend: list[ServqualMonthOut] = Field(description="The month and the 5 before it, oldest first")
    data_sources: dict[str, str]

    @classmethod
    def of(cls, s: Servqual) -> ServqualOut:
        months = [ServqualMonthOut.of(m, s.satisfied_target) for m in s.months]
        return cls(
            month=s.month,
            generated_at=s.generated_at,
            gap5_satisfied_target=s.satisfied_target,
            current=months[-1],
            trend=months,
            data_sources=SERVQUAL_SOURCES,
        )


SERVQUAL_SOURCES = {
    "gap3": "The month's quality report (GET /v1/quality/reports/{month}): each promise met, not met, "
    "or not judged by the data",
    "gap4": "The incident service's own incidents and their timeline: an incident is published when it "
    "has a public status update (what the status page shows); outages by incident.availability's rule. "
    "Read from its own tables, so incident.events is not consumed for this",
    "gap5": "complaint.events: complaint.updated with change satisfaction_recorded (the 1-5 score a user "
    "sends after a resolution), per day; users are not asked what they expected, so the expectation is "
    "the target share of replies scoring 4-5 (INCIDENT_QUALITY_SATISFIED_SHARE)",
}


class RecordsReportIn(BaseModel):
    """A store's oldest record present, as read from the service that keeps it."""

    oldest_record_at: Instant
    note: SingleLineText = Field(
        min_length=1, max_length=500, description="Where it was read, e.g. the query"
    )


class RecordsReportOut(BaseModel):
    store: str
    oldest_record_at: datetime
    note: str
    reported_by: str
    reported_at: datetime

    @classmethod
    def of(cls, r: ReportedRecords) -> RecordsReportOut:
        return cls(
            store=r.store,
            oldest_record_at=r.oldest_record_at,
            note=r.note,
            reported_by=r.reported_by,
            reported_at=r.reported_at,
        )
