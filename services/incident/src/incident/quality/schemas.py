"""HTTP shapes of the quality report: each promise with its target, measured, met and data source;
the send delay of the period, per day (and per partner, for staff); the traffic per day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from incident.quality.domain import RELATIVE_ACCURACY, BusyHour, DelayFigures, Promise
from incident.quality.service import AvailabilityFigures, DayFigures, HourFigures, QualityReport


class PromiseOut(BaseModel):
    key: str = Field(
        description="send_delay | capacity | availability | mttr | complaint_clocks | maintenance_notice"
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
                    PartnerDelayOut(partner_id=None if p.int == 0 else p, delay=DelayOut.of(d))
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
