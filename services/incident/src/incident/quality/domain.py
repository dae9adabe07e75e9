"""Service quality: the promises measured from the event stream, by rules stated here.

- Send delay: accept -> submit_sm_resp of each message, in a mergeable histogram per minute and
  partner. The buckets are DDSketch's logarithmic mapping (relative accuracy 2 %): a percentile
  read from merged counts is within 2 % of the true one; the count, the share within the target
  (4 s), the mean and the max are exact. A message is counted once: from its `submitted` status,
  or from `delivered` when it was submitted and delivered in one step (no `submitted` status
  then: submitted_at == done_at).
- Traffic: messages per second, each way (MT at submit_sm_resp, MO at reception); the peak is
  the busiest second, the busy hour the day's busiest clock hour, its mean rate.
- Registration: an order's first outcome (confirmed always wins; expired; withdrawn = cancelled
  or ended before a Y). An expired order failed (on us) when its event says the user had
  answered while it waited, and is counted apart when they never did; an expiry published
  before subscription.expired carried `answered` counts as failed, so a period holding one
  gives only a lower bound of the rate.
- Unsubscription: timed from the user's TD / 0000 / 00000 to the first cancellations after it;
  a charge after it breaks the promise when it bills something after it
  (`charge_after_unsubscription`).
- Days and months are Asia/Shanghai's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

SHANGHAI = ZoneInfo("Asia/Shanghai")
RELATIVE_ACCURACY = 0.02
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
ZERO_KEY = -32768  # a delay of 0 (or below the mapping's smallest value)
SYSTEM_PARTNER = UUID(int=0)  # the provider's own messages (partner_id None)
K = TypeVar("K")


def delay_key(seconds: float) -> int:
    """The histogram bucket of a delay (negative delays, clock skew, count as 0)."""
    if seconds <= MAPPING.min_possible:
        return ZERO_KEY
    return max(-32767, min(32767, MAPPING.key(seconds)))


@dataclass
class Histogram:
    """A mergeable delay histogram with its exact count, share within the target, sum and max."""

    counts: dict[int, int] = field(default_factory=dict)
    messages: int = 0
    within_target: int = 0
    sum_s: float = 0.0
    max_s: float = 0.0

    def add(self, seconds: float, target_s: float) -> None:
        key = delay_key(seconds)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.messages += 1
        self.within_target += seconds < target_s
        self.sum_s += max(seconds, 0.0)
        self.max_s = max(self.max_s, seconds)

    def merge(self, other: Histogram) -> None:
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        self.messages += other.messages
        self.within_target += other.within_target
        self.sum_s += other.sum_s
        self.max_s = max(self.max_s, other.max_s)

    def buckets(self) -> tuple[list[int], list[int]]:
        keys = sorted(self.counts)
        return keys, [self.counts[k] for k in keys]

    @classmethod
    def of(
        cls,
        keys: Sequence[int],
        counts: Sequence[int],
        messages: int,
        within_target: int,
        sum_s: float,
        max_s: float,
    ) -> Histogram:
        return cls(dict(zip(keys, counts, strict=True)), messages, within_target, sum_s, max_s)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (DDSketch's lower quantile over the merged buckets), None when empty."""
        if not self.messages:
            return None
        sketch = DDSketch(RELATIVE_ACCURACY)
        for key, count in self.counts.items():
            sketch.add(0.0 if key == ZERO_KEY else MAPPING.value(key), count)
        value = sketch.get_quantile_value(q)
        return None if value is None else min(float(value), self.max_s)


@dataclass(frozen=True)
class DelayFigures:
    messages: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    mean_s: float | None
    within_target: int
    share_within_target: float | None

    @classmethod
    def of(cls, h: Histogram) -> DelayFigures:
        return cls(
            messages=h.messages,
            p50_s=h.quantile(0.50),
            p95_s=h.quantile(0.95),
            p99_s=h.quantile(0.99),
            max_s=h.max_s if h.messages else None,
            mean_s=h.sum_s / h.messages if h.messages else None,
            within_target=h.within_target,
            share_within_target=h.within_target / h.messages if h.messages else None,
        )


# -- what the events contribute -------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """What one message's status contributes: its delay, partner and times."""

    partner_id: UUID | None
    accepted_at: datetime
    submitted_at: datetime


def minute_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def day_of(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


class NoticeGiven(NamedTuple):
    """A scheduled change's notice: `kind` discontinuation (subject: the product id) or
    suspension (subject: the number, hashed before it is stored)."""

    kind: str
    subject: str
    noticed_at: datetime
    effective_at: datetime


@dataclass(frozen=True)
class NoticeCount:
    given: int = 0
    on_time: int = 0


class PartnerName(NamedTuple):
    """A partner's name as of a revision of its state (subscription.events)."""

    partner_id: UUID
    name: str
    revision: int


def newest_names(names: Iterable[PartnerName]) -> list[PartnerName]:
    """The newest revision of each partner's name, ordered by partner (the rows' lock order)."""
    newest: dict[UUID, PartnerName] = {}
    for n in names:
        if n.partner_id not in newest or n.revision > newest[n.partner_id].revision:
            newest[n.partner_id] = n
    return [newest[k] for k in sorted(newest)]


class ClockRunRow(NamedTuple):
    """A complaint clock run as the report counts it: on the Asia/Shanghai day of its due time
    (of its start when it stopped with none), met / met_late / breached."""

    complaint_id: UUID
    clock: str
    started_at: datetime
    day: date
    outcome: str


def breached_run(complaint_id: UUID, clock: str, started_at: datetime, due_at: datetime) -> ClockRunRow:
    return ClockRunRow(complaint_id, clock, started_at, day_of(due_at), "breached")


def stopped_run(
    complaint_id: UUID, clock: str, started_at: datetime, due_at: datetime | None, met: bool
) -> ClockRunRow:
    day = day_of(due_at if due_at is not None else started_at)
    return ClockRunRow(complaint_id, clock, started_at, day, "met" if met else "met_late")


@dataclass(frozen=True)
class ClockAttainment:
    """One clock's decided runs of a period."""

    met: int = 0
    met_late: int = 0
    breached: int = 0

    @classmethod
    def of(cls, outcomes: Mapping[str, int]) -> ClockAttainment:
        return cls(outcomes.get("met", 0), outcomes.get("met_late", 0), outcomes.get("breached", 0))

    @property
    def decided(self) -> int:
        return self.met + self.met_late + self.breached

    @property
    def past_due(self) -> int:
        """Runs whose due time passed before they stopped: each raised a breach."""
        return self.met_late + self.breached

    @property
    def share(self) -> float | None:
        return self.met / self.decided if self.decided else None


@dataclass
class Contributions:
    """A batch's additions to the roll-ups, summed per key."""

    delay_minutes: dict[tuple[datetime, UUID], Histogram] = field(default_factory=dict)
    delay_days: dict[tuple[date, UUID], Histogram] = field(default_factory=dict)
    traffic: dict[datetime, list[int]] = field(default_factory=dict)  # minute -> 60 per-second counts

    def add_delay(self, s: Submitted, target_s: float) -> None:
        partner = s.partner_id or SYSTEM_PARTNER
        delay = (s.submitted_at - s.accepted_at).total_seconds()
        self.delay_minutes.setdefault((minute_of(s.accepted_at), partner), Histogram()).add(delay, target_s)
        self.delay_days.setdefault((day_of(s.accepted_at), partner), Histogram()).add(delay, target_s)
        self.add_traffic(s.submitted_at)

    def add_traffic(self, at: datetime) -> None:
        seconds = self.traffic.setdefault(minute_of(at), [0] * 60)
        seconds[at.astimezone(UTC).second] += 1

    @property
    def empty(self) -> bool:
        return not self.delay_minutes and not self.traffic


def counted_once(status: str, submitted_at: datetime | None, done_at: datetime | None) -> bool:
    """Whether a status event is the one a message's delay is counted from (see the module)."""
    if submitted_at is None:
        return False
    if status == "submitted":
        return True
    return status == "delivered" and done_at is not None and done_at == submitted_at


# -- periods --------------------------------------------------------------------------

_PERIOD = re.compile(r"^(?P<year>2[0-9]{3})-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4]))$")


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11" or "2026-Q4"
    months: tuple[str, ...]  # "YYYY-MM", each month of the period
    first_day: date
    end_day: date  # exclusive

    @property
    def start(self) -> datetime:
        return datetime(self.first_day.year, self.first_day.month, 1, tzinfo=SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime(self.end_day.year, self.end_day.month, 1, tzinfo=SHANGHAI).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.end_day - self.first_day).days)]


def parse_period(text: str) -> Period:
    """A month "2026-11" or a quarter "2026-Q4"; ValueError otherwise."""
    match = _PERIOD.match(text)
    if match is None:
        raise ValueError(f"{text!r} is neither a month (YYYY-MM) nor a quarter (YYYY-Qn)")
    year = int(match["year"])
    first_month = int(match["month"]) if match["month"] else (int(match["quarter"]) - 1) * 3 + 1
    count = 1 if match["month"] else 3
    months = tuple(
        f"{year + (first_month - 1 + i) // 12}-{(first_month - 1 + i) % 12 + 1:02d}" for i in range(count)
    )
    first = date(year, first_month, 1)
    following = first_month - 1 + count
    end = date(year + following // 12, following % 12 + 1, 1)
    return Period(text, months, first, end)


def parse_day(text: str) -> date:
    """A day "2026-11-03" (Asia/Shanghai); ValueError otherwise."""
    if not re.fullmatch(r"2[0-9]{3}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError(f"{text!r} is not a day (YYYY-MM-DD)")
    return date.fromisoformat(text)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    first = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return first.astimezone(UTC), (first + timedelta(days=1)).astimezone(UTC)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# -- figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class BusyHour:
    day: date
    hour_start: datetime  # Asia/Shanghai
    messages: int

    @property
    def mean_per_second(self) -> float:
        return self.messages / 3600


def busy_hours(hourly: Iterable[tuple[datetime, int]]) -> dict[date, BusyHour]:
    """Each day's busiest clock hour (Asia/Shanghai) from (hour start, messages)."""
    best: dict[date, BusyHour] = {}
    for hour, messages in hourly:
        local = hour.astimezone(SHANGHAI)
        day = local.date()
        if day not in best or messages > best[day].messages:
            best[day] = BusyHour(day, local, messages)
    return best


def merged(histograms: Iterable[Histogram]) -> Histogram:
    total = Histogram()
    for h in histograms:
        total.merge(h)
    return total


def by_key(rows: Iterable[tuple[K, Histogram]]) -> dict[K, Histogram]:
    out: dict[K, Histogram] = {}
    for key, h in rows:
        out.setdefault(key, Histogram()).merge(h)
    return out


@dataclass(frozen=True)
class Promise:
    """One promise of the report: its target, what was measured, met or not (None: cannot be
    said from the data), and where the data came from."""

    key: str
    name_zh: str
    name_en: str
    target: str
    measured: str
    met: bool | None
    data_source: str
    figures: Mapping[str, object] = field(default_factory=dict)
    target_zh: str = ""  # the same in Chinese, for the pages and the regulator's PDF
    measured_zh: str = ""
    data_source_zh: str = ""


# -- orders, unsubscriptions, satisfaction (subscription.events, sms.mo, complaint.events) --

# What a user sends to unsubscribe (the subscription service's conversation): TD / 退订 / 取消,
# with or without a product code, 0000 (the list to cancel from) and 00000 (cancel everything);
# full-width letters and digits folded first. A bare number (a choice from the list) is not one:
# the time runs from the TD or 0000 that showed the list, and a bare number is also a complaint's
# satisfaction score.
_UNSUBSCRIBE = re.compile(r"^(?:(?:TD|退订|取消)\s*\S*|0000|00000)$")
_FULL_WIDTH = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)}


def is_unsubscribe_request(text: str) -> bool:
    """Whether an MO is (a step of) an unsubscription request."""
    return bool(_UNSUBSCRIBE.match(text.translate(_FULL_WIDTH).strip().upper()))


@dataclass(frozen=True)
class OrderChange:
    """What a subscription event says about an order: kind is requested | confirmed | expired |
    cancelled | ended (the others say nothing here)."""

    kind: str
    subscription_id: UUID
    msisdn: str
    product_code: str
    at: datetime
    answered: bool | None = None  # expired: whether the user had answered (None: not said)
    reason: str | None = None  # expired: why (an ExpiryReason value; None: not said)


@dataclass(frozen=True)
class ChargeSeen:
    """A charge (billing.charged): of which subscription, for which month (monthly) or message."""

    charge_id: UUID
    subscription_id: UUID
    msisdn: str
    product_code: str
    period: str | None
    message_id: UUID | None
    charged_at: datetime


@dataclass(frozen=True)
class SatisfactionReply:
    """A user's satisfaction score (1-5) of a complaint's handling."""

    score: int
    at: datetime


def month_of(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


def charge_after_unsubscription(charge: ChargeSeen, cancelled_at: datetime) -> bool:
    """A charge breaks the promise when it bills something after the cancellation: a monthly fee
    for a later month than the cancellation's (the cancellation's month itself may be billed in
    full by the tariff, 退订当月全额收费, and is billed after it), or a per-message charge made
    after it."""
    if charge.charged_at <= cancelled_at:
        return False
    if charge.period is not None:
        return charge.period > month_of(cancelled_at)
    return True


# Stores of records other services keep, whose oldest record no event reports (a supervisor does).
REPORTED_STORES = ("sms-sender", "subscription", "complaints")


@dataclass(frozen=True)
class ReportedRecords:
    """A store's oldest record as a supervisor reported it (read from that service)."""

    store: str
    oldest_record_at: datetime
    note: str
    reported_by: str
    reported_at: datetime


def records_met(ages_days: Mapping[str, int | None], policy_days: int) -> bool | None:
    """Every store holds a record at least `policy_days` old: kept (met). A store with none that
    old, or not known, cannot say (a store younger than the policy, or one that deleted early)."""
    if not ages_days or any(a is None or a < policy_days for a in ages_days.values()):
        return None
    return True
