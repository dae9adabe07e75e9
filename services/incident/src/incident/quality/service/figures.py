"""What the quality use cases take and give: the targets, the figures of a report, the values a
consumed record carries, and the errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from prometheus_client import CollectorRegistry, Gauge

from incident.quality.domain import (
    BusyHour,
    ChargeSeen,
    DelayFigures,
    NoticeGiven,
    OrderChange,
    PartnerName,
    Period,
    Promise,
    SatisfactionReply,
)
from vas_common.errors import ValidationFailed
from vas_common.events.complaints import ClockRun, SlaAlert
from vas_common.events.sms_sender import ContentRejection, MessageState, MoMessage


class InvalidPeriod(ValidationFailed):
    code = "invalid_period"
    title = "The period is neither a month (YYYY-MM) nor a quarter (YYYY-Qn)"


@dataclass(frozen=True)
class QualityTargets:
    """The promises' figures (settings)."""

    delay_target_s: float = 4.0  # a message is on time when accept -> submit_sm_resp is below this
    delay_objective: float = 0.99  # share of messages on time for the promise to be met
    capacity_per_second: float = 500.0  # both ways
    busy_hour_per_second: float = 400.0
    availability: float = 0.996
    mttr_hours: float = 2.0
    notice_hours: float = 72.0  # maintenance
    discontinuation_notice_days: float = 30.0  # the subscription service refuses less
    suspension_notice_hours: float = 24.0  # likewise
    registration_success: float = 0.999  # confirmed / (confirmed + failed)
    unsubscribe_p99_s: float = 60.0  # TD -> cancellation effective
    records_days: int = 183  # records kept at least 6 months
    satisfied_share: float = 0.9  # replies scoring 4 or 5 (SERVQUAL gap 5)


@dataclass(frozen=True)
class DayFigures:
    day: date
    delay: DelayFigures
    mt_messages: int
    mt_peak_per_second: int
    mt_busy_hour: BusyHour | None
    mo_messages: int
    mo_peak_per_second: int
    mo_busy_hour: BusyHour | None


@dataclass(frozen=True)
class AvailabilityFigures:
    service: str
    availability: float | None
    mttr_seconds: float | None
    outages: int
    repairs: int


@dataclass(frozen=True)
class QualityReport:
    period: Period
    generated_at: datetime
    promises: list[Promise]
    delay: DelayFigures
    days: list[DayFigures]
    availability: list[AvailabilityFigures]
    partners: dict[UUID, DelayFigures] | None = field(default=None)  # staff only
    partner_names: dict[UUID, str] = field(default_factory=dict)  # those learnt from subscription.events


@dataclass(frozen=True)
class HourFigures:
    hour_start: datetime
    delay: DelayFigures
    mt_messages: int
    mt_peak_per_second: int
    mo_messages: int
    mo_peak_per_second: int


class UnknownStore(ValidationFailed):
    code = "unknown_store"
    title = "No such store of records"


class RecordsInFuture(ValidationFailed):
    code = "records_in_future"
    title = "The oldest record cannot be later than now"


class InvalidMonth(ValidationFailed):
    code = "invalid_month"
    title = "The month is not a month (YYYY-MM)"


@dataclass(frozen=True)
class ServqualMonth:
    """One month of the SERVQUAL view: gap 3 (the promises vs what was delivered), gap 4 (what
    the status page published vs the incidents measured), gap 5 (what users expected vs
    perceived, from the satisfaction replies)."""

    month: str
    promises_judged: int  # met is true or false
    promises_met: int
    not_met: list[str]  # promise keys
    cannot_say: list[str]
    incidents: int  # impact started in the month (not merged, not maintenance)
    published: int  # with a public status update on the status page
    publication_median_s: float | None
    publication_max_s: float | None
    outages: int  # incident.availability's count, all services
    replies: dict[int, int]  # score -> replies
    # promise key -> (Chinese name, English name), for pages that list the promises by name
    names: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def gap3(self) -> int:
        return self.promises_judged - self.promises_met

    @property
    def gap4(self) -> int:
        return self.incidents - self.published

    @property
    def reply_count(self) -> int:
        return sum(self.replies.values())

    @property
    def mean_score(self) -> float | None:
        n = self.reply_count
        return sum(score * k for score, k in self.replies.items()) / n if n else None

    @property
    def satisfied_share(self) -> float | None:
        n = self.reply_count
        return sum(k for score, k in self.replies.items() if score >= 4) / n if n else None


@dataclass(frozen=True)
class Servqual:
    month: str
    generated_at: datetime
    satisfied_target: float
    months: list[ServqualMonth]  # the month and the 5 before it, oldest first

    @property
    def current(self) -> ServqualMonth:
        return self.months[-1]


class InvalidDay(ValidationFailed):
    code = "invalid_day"
    title = "The day is not a day (YYYY-MM-DD)"


# What a record carries for the roll-ups: a status, an MO (or only its reception), a clock run
# breached or stopped, an order's change, a charge, a satisfaction score, a content refusal;
# None: nothing.
Value = (
    MessageState
    | MoMessage
    | datetime
    | SlaAlert
    | ClockRun
    | PartnerName
    | NoticeGiven
    | OrderChange
    | ChargeSeen
    | SatisfactionReply
    | ContentRejection
    | None
)


@dataclass(frozen=True)
class Consumed:
    """A record of a batch: its offset and what it carries for the roll-ups (None: nothing)."""

    offset: int
    value: Value


class QualityMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        self.rollup_age = Gauge(
            "incident_quality_rollup_age_seconds",
            "Seconds since the end of the newest minute the quality roll-ups counted traffic in, by "
            "direction (mt: by submit time from sms.status; mo: by reception from sms.mo); no "
            "sample for a direction with no traffic yet. Grows while no traffic comes, too: read it "
            "beside the sms-sender's traffic (alert QualityRollupBehind)",
            ["direction"],
            registry=registry,
        )
