"""Service quality: the roll-ups fed from the event stream (idempotent under redelivery), and the
report of a month or quarter built from them, each promise with its target, what was measured,
met or not, and where the data came from.

Redelivery: each consumed (group, topic, partition) has a watermark (the next offset not yet
counted) locked and moved in the transaction that adds the batch to the roll-ups; the records
of a batch below it were counted already and are skipped. A batch therefore counts once, however
often Kafka hands it over (a commit lost in a rebalance, a restart before the commit)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from incident.availability.domain import Figures, IntervalKind
from incident.availability.service import AvailabilityService
from incident.quality import domain
from incident.quality.domain import (
    BusyHour,
    ChargeSeen,
    Contributions,
    DelayFigures,
    Histogram,
    NoticeCount,
    NoticeGiven,
    OrderChange,
    PartnerName,
    Period,
    Promise,
    ReportedRecords,
    SatisfactionReply,
    Submitted,
)
from incident.quality.repository import OrderRepository, QualityRepository
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.errors import ValidationFailed
from vas_common.events.complaints import ClockRun, SlaAlert
from vas_common.events.sms_sender import ContentRejection, MessageState, MoMessage
from vas_common.events.subscription import SYSTEM_FAILURES


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


class QualityService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        availability: AvailabilityService,
        services: Sequence[str],
        targets: QualityTargets,
        repository: QualityRepository | None = None,
        minute_retention: timedelta | None = None,
        msisdn_key: bytes = b"",
        metrics: QualityMetrics | None = None,
    ) -> None:
        self._pool = pool
        self.clock = clock
        self._availability = availability
        self._services = tuple(services)
        self.targets = targets
        self._repo = repository or QualityRepository()
        self._minute_retention = minute_retention
        self._orders = OrderRepository()
        self._msisdn_key = msisdn_key
        self.metrics = metrics

    @classmethod
    async def create(
        cls,
        pool: asyncpg.Pool,
        clock: Clock,
        availability: AvailabilityService,
        services: Sequence[str],
        targets: QualityTargets,
        minute_retention: timedelta | None = None,
        metrics: QualityMetrics | None = None,
    ) -> QualityService:
        async with pool.acquire() as conn:
            key = await OrderRepository().msisdn_key(conn)
        return cls(
            pool,
            clock,
            availability,
            services,
            targets,
            minute_retention=minute_retention,
            msisdn_key=key,
            metrics=metrics,
        )

    def _hash(self, msisdn: str) -> bytes:
        return hmac.new(self._msisdn_key, msisdn.encode(), hashlib.sha256).digest()

    # -- the roll-ups ----------------------------------------------------------------------

    async def record(self, group_id: str, topic: str, partition: int, batch: Sequence[Consumed]) -> int:
        """Add a partition's batch to the roll-ups once; returns how many records counted
        (0: all of them were counted before)."""
        if not batch:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            next_offset = await self._repo.claim(conn, group_id, topic, partition)
            fresh = [c for c in batch if c.offset >= next_offset]
            if not fresh:
                return 0
            added = Contributions()
            mo: dict[datetime, list[int]] = {}
            runs_breached: list[domain.ClockRunRow] = []
            names: list[PartnerName] = []
            notices: list[NoticeGiven] = []
            runs_stopped: list[domain.ClockRunRow] = []
            scores: dict[tuple[date, int], int] = {}
            unsub_requests: list[tuple[bytes, datetime]] = []
            product_messages: list[tuple[UUID, bytes, str, datetime]] = []
            blocked: dict[tuple[date, UUID, str, str], tuple[int, int]] = {}
            for c in fresh:
                if isinstance(c.value, MessageState):
                    s = c.value
                    if s.submitted_at is not None and domain.counted_once(
                        s.status, s.submitted_at, s.done_at
                    ):
                        added.add_delay(
                            Submitted(s.partner_id, s.accepted_at, s.submitted_at),
                            self.targets.delay_target_s,
                        )
                        if s.product_code is not None:
                            product_messages.append(
                                (s.message_id, self._hash(s.recipient), s.product_code, s.accepted_at)
                            )
                elif isinstance(c.value, ContentRejection):
                    r = c.value
                    block_key = (
                        domain.day_of(r.rejected_at),
                        r.partner_id,
                        r.category.value,
                        r.rule_category,
                    )
                    n, rcpt = blocked.get(block_key, (0, 0))
                    blocked[block_key] = (n + 1, rcpt + r.recipients)
                elif isinstance(c.value, SlaAlert):
                    a = c.value
                    runs_breached.append(domain.breached_run(a.complaint_id, a.clock, a.started_at, a.due_at))
                elif isinstance(c.value, PartnerName):
                    names.append(c.value)
                elif isinstance(c.value, NoticeGiven):
                    notice = c.value
                    personal = notice.kind == "suspension"
                    subject = self._hash(notice.subject).hex() if personal else notice.subject
                    notices.append(notice._replace(subject=subject))
                elif isinstance(c.value, ClockRun):
                    run = c.value
                    runs_stopped.append(
                        domain.stopped_run(run.complaint_id, run.clock, run.started_at, run.due_at, run.met)
                    )
                elif isinstance(c.value, SatisfactionReply):
                    score_key = (domain.day_of(c.value.at), c.value.score)
                    scores[score_key] = scores.get(score_key, 0) + 1
                elif isinstance(c.value, OrderChange):
                    o = c.value
                    await self._orders.order_change(
                        conn,
                        o.kind,
                        o.subscription_id,
                        self._hash(o.msisdn),
                        o.product_code,
                        o.at,
                        o.answered,
                        o.reason,
                    )
                elif isinstance(c.value, ChargeSeen):
                    await self._charge(conn, c.value)
                elif isinstance(c.value, MoMessage | datetime):
                    at = c.value if isinstance(c.value, datetime) else c.value.received_at
                    seconds = mo.setdefault(domain.minute_of(at), [0] * 60)
                    seconds[at.astimezone(UTC).second] += 1
                    if isinstance(c.value, MoMessage) and domain.is_unsubscribe_request(c.value.text):
                        unsub_requests.append((self._hash(c.value.msisdn), at))
            await self._repo.add_delays(conn, "minute", added.delay_minutes)
            await self._repo.add_delays(conn, "day", added.delay_days)
            await self._repo.add_traffic(conn, "mt", added.traffic)
            await self._repo.add_traffic(conn, "mo", mo)
            await self._repo.add_clock_runs(conn, runs_breached, runs_stopped)
            await self._repo.note_partner_names(conn, domain.newest_names(names))
            await self._repo.add_notices(conn, notices)
            await self._repo.add_blocked(conn, blocked)
            await self._orders.add_satisfaction(conn, scores)
            await self._orders.add_unsub_requests(conn, unsub_requests)
            await self._orders.messages_after_unsubscription(conn, product_messages)
            await self._repo.advance(conn, group_id, topic, partition, max(c.offset for c in fresh) + 1)
        return len(fresh)

    async def _charge(self, conn: DbConnection, charge: ChargeSeen) -> None:
        """A charge of a cancelled subscription for something after the cancellation is noted
        (the promise: none). Charges and cancellations are both on subscription.events, keyed by
        the number: the cancellation is always counted first."""
        cancelled = await self._orders.cancelled_at(conn, charge.subscription_id)
        if cancelled is not None and domain.charge_after_unsubscription(charge, cancelled):
            await self._orders.add_violation(
                conn, "charge", charge.charge_id, charge.subscription_id, charge.charged_at
            )

    async def prune(self) -> int:
        """Delete the per-minute delay rows older than the retention (the hourly view's data;
        the day rows the reports read, and the traffic per minute, are kept). Returns how many."""
        if self._minute_retention is None:
            return 0
        async with self._pool.acquire() as conn:
            return await self._repo.delete_minutes_before(
                conn, self.clock.now() - self._minute_retention, 5000
            )

    async def sample(self) -> None:
        """Refresh `incident_quality_rollup_age_seconds` (every `metrics_sample_interval_s`)."""
        if self.metrics is None:
            return
        async with self._pool.acquire() as conn:
            newest = await self._repo.newest_traffic_minutes(conn)
        now = self.clock.now()
        for direction, minute in newest.items():
            age_s = (now - (minute + timedelta(minutes=1))).total_seconds()
            self.metrics.rollup_age.labels(direction).set(max(0.0, age_s))

    # -- the report ------------------------------------------------------------------------

    def period(self, text: str) -> Period:
        try:
            return domain.parse_period(text)
        except ValueError as exc:
            raise InvalidPeriod(str(exc)) from exc

    async def report(self, text: str, *, per_partner: bool) -> QualityReport:
        period = self.period(text)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            delay_rows = await self._repo.delay_days(conn, period.first_day, period.end_day)
            mt_hours = await self._repo.traffic_hours(conn, "mt", period.start, period.end)
            mo_hours = await self._repo.traffic_hours(conn, "mo", period.start, period.end)
            maintenance = await self._notices(conn, period)
            changes = await self._repo.notices(
                conn,
                period.start,
                period.end,
                {
                    "discontinuation": timedelta(days=self.targets.discontinuation_notice_days),
                    "suspension": timedelta(hours=self.targets.suspension_notice_hours),
                },
            )
            clock_runs = await self._repo.clock_runs(conn, period.first_day, period.end_day)
            blocked = await self._repo.blocked(conn, period.first_day, period.end_day)
            registration = await self._orders.registration(conn, period.start, period.end)
            unsubscription = await self._orders.unsubscription(conn, period.start, period.end)
            oldest = await self._orders.oldest_records(conn)
            reported = await self._orders.reported_records(conn)
            names = (
                await self._repo.partner_names(conn, sorted({p for _, p, _ in delay_rows}))
                if per_partner
                else {}
            )
        availability = [await self._availability_of(service, period) for service in self._services]
        total = domain.merged(h for _, _, h in delay_rows)
        per_day = domain.by_key((d, h) for d, _, h in delay_rows)
        days = _days(period, per_day, mt_hours, mo_hours)
        partners = (
            {p: DelayFigures.of(h) for p, h in domain.by_key((p, h) for _, p, h in delay_rows).items()}
            if per_partner
            else None
        )
        delay = DelayFigures.of(total)
        promises = [
            self._delay_promise(delay),
            self._capacity_promise(days),
            *self._availability_promises(availability),
            _complaints_promise(clock_runs),
            self._notices_promise(maintenance, changes),
            self._registration_promise(registration),
            self._unsubscribe_promise(unsubscription),
            _content_review_promise(delay.messages, blocked),
            self._records_promise(oldest, reported),
        ]
        return QualityReport(period, self.clock.now(), promises, delay, days, availability, partners, names)

    async def servqual(self, text: str) -> Servqual:
        """The SERVQUAL view of a month, with the 5 months before it for the trend."""
        try:
            period = domain.parse_period(text)
        except ValueError as exc:
            raise InvalidMonth(str(exc)) from exc
        if len(period.months) != 1:
            raise InvalidMonth(f"{text!r} is a quarter; the SERVQUAL view is per month (YYYY-MM)")
        year, month = int(text[:4]), int(text[5:7])
        labels = [f"{year + (month - 1 - k) // 12}-{(month - 1 - k) % 12 + 1:02d}" for k in range(5, -1, -1)]
        months = [await self._servqual_month(label) for label in labels]
        return Servqual(text, self.clock.now(), self.targets.satisfied_share, months)

    async def _servqual_month(self, label: str) -> ServqualMonth:
        report = await self.report(label, per_partner=False)
        period = report.period
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            published = await self._orders.publication(conn, period.start, period.end)
            replies = await self._orders.satisfaction(conn, period.first_day, period.end_day)
        judged = [p for p in report.promises if p.met is not None]
        return ServqualMonth(
            month=label,
            promises_judged=len(judged),
            promises_met=sum(1 for p in judged if p.met),
            not_met=[p.key for p in judged if not p.met],
            cannot_say=[p.key for p in report.promises if p.met is None],
            incidents=published["incidents"],
            published=published["published"],
            publication_median_s=published["median_delay_s"],
            publication_max_s=published["max_delay_s"],
            outages=sum(a.outages for a in report.availability),
            replies=replies,
            names={p.key: (p.name_zh, p.name_en) for p in report.promises},
        )

    async def hours(self, text: str) -> tuple[date, list[HourFigures]]:
        """A day's figures per clock hour (Asia/Shanghai), from the minute rows."""
        try:
            day = domain.parse_day(text)
        except ValueError as exc:
            raise InvalidDay(str(exc)) from exc
        start, end = domain.day_bounds(day)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            minutes = await self._repo.delay_minutes(conn, start, end)
            mt = {h: (m, p) for h, m, p in await self._repo.traffic_hours(conn, "mt", start, end)}
            mo = {h: (m, p) for h, m, p in await self._repo.traffic_hours(conn, "mo", start, end)}
        delays = domain.by_key((domain.hour_of(at), h) for at, _, h in minutes)
        hours = []
        for n in range(24):
            hour = start + timedelta(hours=n)
            hours.append(
                HourFigures(
                    hour_start=hour.astimezone(domain.SHANGHAI),
                    delay=DelayFigures.of(delays.get(hour, Histogram())),
                    mt_messages=mt.get(hour, (0, 0))[0],
                    mt_peak_per_second=mt.get(hour, (0, 0))[1],
                    mo_messages=mo.get(hour, (0, 0))[0],
                    mo_peak_per_second=mo.get(hour, (0, 0))[1],
                )
            )
        return day, hours

    async def _availability_of(self, service: str, period: Period) -> AvailabilityFigures:
        """incident.availability's rule over each month of the period, combined."""
        months: list[Figures] = [await self._availability.month(service, m) for m in period.months]
        counted = sum(f.period_seconds - f.excluded_seconds for f in months)
        weighted = sum(f.weighted_down_seconds for f in months)
        repairs = sum(f.repairs for f in months)
        repair_time = sum((f.mttr_seconds or 0.0) * f.repairs for f in months)
        return AvailabilityFigures(
            service=service,
            availability=1 - weighted / counted if counted > 0 else None,
            mttr_seconds=repair_time / repairs if repairs else None,
            outages=sum(f.outages for f in months),
            repairs=repairs,
        )

    async def _notices(self, conn: DbConnection, period: Period) -> tuple[int, int]:
        """(maintenance windows started in the period, those announced on time), by the
        availability rule's reading of the notices (a window whose run began on time)."""
        started: dict[UUID, bool] = {}
        for service in self._services:
            for i in await self._availability.intervals_in(conn, service, period.start, period.end):
                if i.source != "maintenance" or not (period.start <= i.start < period.end):
                    continue
                on_time = i.kind is IntervalKind.MAINTENANCE_ON_TIME
                started[i.source_id] = started.get(i.source_id, False) or on_time
        return len(started), sum(started.values())

    # -- the promises ----------------------------------------------------------------------

    def _delay_promise(self, d: DelayFigures) -> Promise:
        t = self.targets
        share = d.share_within_target
        return Promise(
            key="send_delay",
            name_zh="短信发送时延",
            name_en="SMS send delay",
            target=f"accept → submit_sm_resp < {t.delay_target_s:g} s for ≥ {t.delay_objective:.1%} of messages",
            measured=(
                "no messages"
                if share is None
                else f"{share:.3%} within {t.delay_target_s:g} s; p99 {_s(d.p99_s)}, max {_s(d.max_s)}"
            ),
            met=None if share is None else share >= t.delay_objective,
            data_source=(
                "sms.status (incident.quality roll-ups: per minute and partner, DDSketch log buckets "
                f"at {domain.RELATIVE_ACCURACY:.0%} relative accuracy; count, share within target and max exact)"
            ),
            target_zh=f"受理至提交应答（submit_sm_resp）时延小于{t.delay_target_s:g}秒的短信不低于{t.delay_objective:.1%}",
            measured_zh=(
                "本期无短信"
                if share is None
                else f"{t.delay_target_s:g}秒内 {share:.3%}；P99 {_s(d.p99_s)}，最大 {_s(d.max_s)}"
            ),
            data_source_zh=(
                f"短信状态事件（sms.status）按分钟、按合作方汇总的时延直方图（对数分桶，百分位相对误差不超过"
                f"{domain.RELATIVE_ACCURACY:.0%}；条数、{t.delay_target_s:g}秒内占比与最大值为精确值）"
            ),
            figures={
                "messages": d.messages,
                "p50_s": d.p50_s,
                "p95_s": d.p95_s,
                "p99_s": d.p99_s,
                "max_s": d.max_s,
                "share_within_target": share,
            },
        )

    def _capacity_promise(self, days: list[DayFigures]) -> Promise:
        t = self.targets
        mt_peak = max((d.mt_peak_per_second for d in days), default=0)
        mo_peak = max((d.mo_peak_per_second for d in days), default=0)
        busy = [h for d in days for h in (d.mt_busy_hour, d.mo_busy_hour) if h is not None]
        busiest = max((h.mean_per_second for h in busy), default=0.0)
        reached = busiest >= t.busy_hour_per_second
        return Promise(
            key="capacity",
            name_zh="处理能力（上下行）",
            name_en="Throughput (MT and MO)",
            target=f"{t.capacity_per_second:g} msg/s each way, ≥ {t.busy_hour_per_second:g} msg/s at the busy hour",
            measured=f"peak MT {mt_peak}/s, MO {mo_peak}/s; busiest hour mean {busiest:.1f}/s",
            # Traffic below the promise proves nothing either way: the benchmark shows the capacity.
            met=True if reached else None,
            data_source=(
                "sms.status (MT at submit_sm_resp) and sms.mo (MO at reception), per-second counts per "
                "minute; busy hour = the day's busiest clock hour (Asia/Shanghai), its mean rate. "
                + (
                    ""
                    if reached
                    else "Traffic stayed below the busy-hour figure: capacity is shown by the benchmark."
                )
            ),
            target_zh=f"上下行各{t.capacity_per_second:g}条/秒，忙时不低于{t.busy_hour_per_second:g}条/秒",
            measured_zh=f"下行峰值 {mt_peak} 条/秒，上行峰值 {mo_peak} 条/秒；最忙小时平均 {busiest:.1f} 条/秒",
            data_source_zh=(
                "短信状态事件（下行按提交应答时间）与上行短信事件（sms.mo），按秒计数；忙时为每日最忙的整点小时的平均速率"
                + ("" if reached else "。本期业务量未达到承诺值，处理能力以性能测试结果为准")
            ),
            figures={
                "mt_peak_per_second": mt_peak,
                "mo_peak_per_second": mo_peak,
                "busy_hour_per_second": busiest,
            },
        )

    def _availability_promises(self, figures: list[AvailabilityFigures]) -> list[Promise]:
        t = self.targets
        measured = [f for f in figures if f.availability is not None]
        worst = min(measured, key=lambda f: f.availability or 0.0, default=None)
        mttrs = [f for f in figures if f.mttr_seconds is not None]
        slowest = max(mttrs, key=lambda f: f.mttr_seconds or 0.0, default=None)
        source = "incident.availability (the incident service's rule: incidents and maintenance windows)"
        source_zh = "故障事件与维护窗口，按事件管理服务的可用性计算规则"
        return [
            Promise(
                key="availability",
                name_zh="系统可用率",
                name_en="Availability",
                target=f"> {t.availability:.1%} per service",
                measured=(
                    "not measured"
                    if worst is None
                    else "; ".join(f"{f.service} {f.availability:.4%}" for f in measured)
                ),
                met=None if worst is None else all((f.availability or 0) > t.availability for f in measured),
                data_source=source,
                figures={f.service: f.availability for f in figures},
                target_zh=f"各服务高于{t.availability:.1%}",
                measured_zh=(
                    "未统计"
                    if worst is None
                    else "；".join(f"{f.service} {f.availability:.4%}" for f in measured)
                ),
                data_source_zh=source_zh,
            ),
            Promise(
                key="mttr",
                name_zh="平均故障修复时间",
                name_en="Mean time to repair",
                target=f"≤ {t.mttr_hours:g} h",
                measured=(
                    "no repairs in the period"
                    if slowest is None
                    else "; ".join(
                        f"{f.service} {(f.mttr_seconds or 0) / 3600:.2f} h ({f.repairs})" for f in mttrs
                    )
                ),
                met=True if slowest is None else (slowest.mttr_seconds or 0) <= t.mttr_hours * 3600,
                data_source=source,
                figures={f.service: f.mttr_seconds for f in figures},
                target_zh=f"不超过{t.mttr_hours:g}小时",
                measured_zh=(
                    "本期无故障修复"
                    if slowest is None
                    else "；".join(
                        f"{f.service} {(f.mttr_seconds or 0) / 3600:.2f}小时（{f.repairs}次）" for f in mttrs
                    )
                ),
                data_source_zh=source_zh,
            ),
        ]

    def _notices_promise(self, maintenance: tuple[int, int], changes: dict[str, NoticeCount]) -> Promise:
        """Maintenance windows started in the period, products discontinued and users suspended in
        it: each noticed at least its required time before."""
        t = self.targets
        counts = {
            "maintenance": NoticeCount(*maintenance),
            "discontinuation": changes.get("discontinuation", NoticeCount()),
            "suspension": changes.get("suspension", NoticeCount()),
        }
        given = sum(c.given for c in counts.values())
        on_time = sum(c.on_time for c in counts.values())
        en = {
            "maintenance": "maintenance",
            "discontinuation": "discontinuations",
            "suspension": "suspensions",
        }
        zh = {"maintenance": "维护", "discontinuation": "业务下线", "suspension": "暂停服务"}
        listed = ", ".join(f"{en[k]} {c.on_time} of {c.given}" for k, c in counts.items() if c.given)
        listed_zh = "，".join(f"{zh[k]}{c.given}次中{c.on_time}次" for k, c in counts.items() if c.given)
        return Promise(
            key="notices_on_time",
            name_zh="提前通知",
            name_en="Notices on time",
            target=(
                f"maintenance announced ≥ {t.notice_hours:g} h before its start, a discontinuation "
                f"≥ {t.discontinuation_notice_days:g} days and a suspension ≥ {t.suspension_notice_hours:g} h "
                "before it takes effect"
            ),
            measured="no notice due in the period"
            if not given
            else f"{on_time} of {given} on time ({listed})",
            met=on_time == given,
            data_source=(
                "maintenance: incident.maintenance windows that started in the period and their notices, "
                "as the availability rule reads them (an emergency or a start announced late is not on "
                "time). Discontinuations and suspensions: subscription.events "
                "(product.discontinuation_scheduled, subscription.suspension_scheduled) for the changes "
                "taking effect in the period, judged by when the users' notices were queued (in the "
                "transaction that scheduled the change; their delivery is the send-delay promise). "
                "A suspension of a number with nothing to suspend told no one and is not counted"
            ),
            figures={
                "given": given,
                "on_time": on_time,
                **{k: {"given": c.given, "on_time": c.on_time} for k, c in counts.items()},
            },
            target_zh=(
                f"维护开始前至少{t.notice_hours:g}小时、业务下线前至少{t.discontinuation_notice_days:g}天、"
                f"暂停服务前至少{t.suspension_notice_hours:g}小时通知"
            ),
            measured_zh="本期无需通知" if not given else f"{given}次中{on_time}次按时通知（{listed_zh}）",
            data_source_zh=(
                "维护：本期开始的维护窗口及其通知（紧急维护或未按时通知的开始时间均不算按时）。业务下线与暂停服务："
                "订购事件（subscription.events）中本期生效的计划变更，按用户通知排队发送的时间判定"
                "（通知与计划在同一事务中写入，其送达计入发送时延承诺）；无可暂停业务的号码未发通知，不计入"
            ),
        )

    def _registration_promise(self, r: dict[str, int]) -> Promise:
        """confirmed / (confirmed + failed), per order placed in the period. An expired order
        failed (on us) for every reason subscription.expired gives but never_answered: an answer
        we could not match or read, the confirmation SMS undelivered, or not delivered before
        the order's 24 h ran out; one whose user had the confirmation and never answered is
        counted apart. An expiry published before the event said why is judged by `answered` as
        before (true: failed, answer_unmatched; false: apart). An expiry that says neither is
        counted as failed: with one in the period the figure is a lower bound, met only when
        even the bound reaches the target (below it the data cannot say); without one the rate
        is exact and judged."""
        target = self.targets.registration_success
        confirmed, failed, unknown = r["confirmed"], r["failed"], r["expired_unknown"]
        never = r["never_answered"]
        by_reason = {reason.value: r[f"failed_{reason.value}"] for reason in SYSTEM_FAILURES}
        decided = confirmed + failed + unknown
        rate = confirmed / decided if decided else None
        exact = unknown == 0
        if rate is None:
            met = None
        elif exact:
            met = rate >= target
        else:
            met = True if rate >= target else None
        reasons_en = {
            "answer_unmatched": "answer not matched",
            "confirmation_undelivered": "confirmation SMS undelivered",
            "confirmation_late": "confirmation SMS not delivered in time",
        }
        reasons_zh = {
            "answer_unmatched": "回复无法识别或对应",
            "confirmation_undelivered": "确认短信未送达",
            "confirmation_late": "确认短信未及时送达",
        }
        split_en = "; ".join(f"{reasons_en.get(k, k)} {n}" for k, n in by_reason.items() if n)
        split_zh = "；".join(f"{reasons_zh.get(k, k)} {n}" for k, n in by_reason.items() if n)
        counts = (
            f"{confirmed} confirmed, {failed} failed"
            + (f" ({split_en})" if split_en else "")
            + f", {never} never answered"
            + ("" if exact else f", {unknown} expired without saying whether answered")
            + f", {r['withdrawn']} withdrawn, {r['waiting']} waiting, of {r['orders']} orders"
        )
        counts_zh = (
            f"确认 {confirmed}，失败 {failed}"
            + (f"（{split_zh}）" if split_zh else "")
            + f"，未回复 {never}"
            + ("" if exact else f"，超时未确认且未说明是否回复 {unknown}")
            + f"，撤回 {r['withdrawn']}，待确认 {r['waiting']}，共 {r['orders']} 笔"
        )
        return Promise(
            key="registration_success",
            name_zh="订购成功率",
            name_en="Registration success",
            target=f"≥ {target:.1%} of orders: confirmed / (confirmed + failed for system reasons)",
            measured=(
                "no order decided in the period"
                if rate is None
                else f"{'' if exact else '≥ '}{rate:.3%} ({counts})"
            ),
            met=met,
            data_source=(
                "subscription.events (subscription.requested / confirmed / expired / cancelled / ended), "
                "per order placed in the period. An expired order failed for system reasons (on us) when "
                "its subscription.expired gives the reason answer_unmatched (the user answered: a Y<n> we "
                "could not match, an answer we could not read), confirmation_undelivered (the "
                "confirmation SMS finally failed) or confirmation_late (it was not delivered before the "
                "order's 24 h ran out); failed_by_reason splits them. never_answered (the user had the "
                "confirmation SMS and never answered) is counted apart, as are orders withdrawn before a "
                "Y and those still waiting. An expiry published before the event gave a reason is judged "
                "by whether its user answered, as then; one that says neither (expired_unknown) counts as "
                "failed: then the figure is a lower bound, and below the target this report cannot say "
                "(the subscription service's GET /v1/registration-success has the split from its order "
                "records)."
            ),
            figures={
                "orders": r["orders"],
                "confirmed": confirmed,
                "expired": r["expired"],
                "failed": failed,
                "failed_by_reason": by_reason,
                "never_answered": never,
                "expired_unknown": unknown,
                "withdrawn": r["withdrawn"],
                "waiting": r["waiting"],
                "success_rate": rate if exact else None,
                "success_rate_lower_bound": rate,
            },
            target_zh=f"订购成功率（确认 /（确认 + 因系统原因失败））不低于{target:.1%}",
            measured_zh=(
                "本期无已有结果的订购"
                if rate is None
                else f"{'' if exact else '不低于 '}{rate:.3%}（{counts_zh}）"
            ),
            data_source_zh=(
                "订购事件（subscription.events），按本期下单的订购统计。超时未确认的订购，因系统原因失败的计为失败：用户回复过"
                "但无法识别或对应（answer_unmatched）、确认短信最终未送达（confirmation_undelivered）、确认短信在24小时内"
                "未送达（confirmation_late），按原因分列（failed_by_reason）；确认短信已送达而用户从未回复的另计；"
                "事件未给出原因的（旧事件）按是否回复判断；两者均未说明的按失败计，所得为成功率下限，"
                "下限低于承诺值时本报告无法判定，以订购服务的统计为准"
            ),
        )

    def _unsubscribe_promise(self, u: dict[str, Any]) -> Promise:
        target = self.targets.unsubscribe_p99_s
        p99 = u["p99_s"]
        after = u["messages_after"] + u["charges_after"]
        timed_ok = None if p99 is None else p99 <= target
        met = False if after else timed_ok
        return Promise(
            key="unsubscribe",
            name_zh="退订便捷",
            name_en="Unsubscribing is easy",
            target=(
                f"TD / 0000 / 00000 → cancellation effective: p99 ≤ {target:g} s; "
                "no message or charge after it"
            ),
            measured=(
                f"{u['cancellations']} cancellations, {u['by_sms']} by SMS: p99 {_s(p99)}, max {_s(u['max_s'])}; "
                f"{u['messages_after']} messages and {u['charges_after']} charges after an unsubscription"
            ),
            met=met,
            data_source=(
                "sms.mo (the user's TD…, 退订…, 取消…, 0000, 00000 or menu number, at reception) and "
                "subscription.events (subscription.cancelled, at its effect): each cancellation is timed "
                "from the user's latest such SMS in the day before it (cancellations by a partner or the "
                "operator have none and are not timed; exact percentiles). After it: sms.status messages "
                "of the product to that user accepted later with no new subscription between, and "
                "billing.charged of the cancelled subscription for a later month, or per message, after "
                "it (the cancellation's month may be billed by the tariff). A status counted before the "
                "cancellation event reached this service is not compared."
            ),
            figures={
                "cancellations": u["cancellations"],
                "timed": u["by_sms"],
                "p50_s": u["p50_s"],
                "p99_s": p99,
                "max_s": u["max_s"],
                "messages_after": u["messages_after"],
                "charges_after": u["charges_after"],
            },
            target_zh=f"发送TD/0000/00000至退订生效 P99 不超过{target:g}秒；退订后无短信、无扣费",
            measured_zh=(
                f"退订 {u['cancellations']} 次，短信退订 {u['by_sms']} 次：P99 {_s(p99)}，最大 {_s(u['max_s'])}；"
                f"退订后短信 {u['messages_after']} 条、扣费 {u['charges_after']} 笔"
            ),
            data_source_zh=(
                "上行短信（sms.mo）与订购事件中的退订（subscription.cancelled）；退订后的短信状态（sms.status）"
                "与扣费事件（billing.charged）"
            ),
        )

    def _records_promise(
        self, oldest: dict[str, datetime | None], reported: list[ReportedRecords]
    ) -> Promise:
        """Per store, its oldest record present against the policy: the incident service's own
        (its incidents, their timeline and the impact trace), measured; the others as a
        supervisor last reported them (no event carries the figure)."""
        days = self.targets.records_days
        now = self.clock.now()
        own = [at for table, at in oldest.items() if table != "quality_roll_ups" and at is not None]
        stores: dict[str, dict[str, Any]] = {
            "incident": {"oldest": min(own, default=None), "source": "measured"}
        }
        by_store = {r.store: r for r in reported}
        for store in domain.REPORTED_STORES:
            r = by_store.get(store)
            stores[store] = (
                {"oldest": None, "source": "not reported"}
                if r is None
                else {
                    "oldest": r.oldest_record_at,
                    "source": "reported",
                    "reported_by": r.reported_by,
                    "reported_at": r.reported_at.isoformat(),
                    "note": r.note,
                }
            )
        ages = {
            store: None if v["oldest"] is None else (now - v["oldest"]).days for store, v in stores.items()
        }
        for store, v in stores.items():
            v["age_days"] = ages[store]
            v["oldest"] = None if v["oldest"] is None else v["oldest"].isoformat()
        missing = [store for store, v in stores.items() if v["source"] == "not reported"]
        listed = ", ".join(
            f"{store} {'–' if a is None else f'{a} d'}"
            + (" (reported)" if stores[store]["source"] == "reported" else "")
            for store, a in ages.items()
        )
        listed_zh = "，".join(
            f"{store} {'–' if a is None else f'{a}天'}"
            + ("（人工上报）" if stores[store]["source"] == "reported" else "")
            for store, a in ages.items()
        )
        return Promise(
            key="records_kept",
            name_zh="记录保存6个月",
            name_en="Records kept 6 months",
            target=f"every store keeps its records ≥ {days} days",
            measured=f"oldest record present, its age now: {listed}"
            + (f"; not reported: {', '.join(missing)}" if missing else ""),
            met=domain.records_met(ages, days),
            data_source=(
                "The incident service's own records read directly (incidents, their timeline, the "
                "message impact trace; deleted only past the retention, refused below 183 days at "
                "start-up). No event carries the oldest record of the sms-sender, subscription or "
                "complaints stores: those are the figures a supervisor last reported "
                "(PUT /v1/quality/records/{store}, read from that service), marked reported, or a gap "
                "when none was. Met when every store holds a record at least the policy's age; a store "
                "younger than that (or one not reported) cannot say."
            ),
            figures={
                "policy_days": days,
                "stores": stores,
                "oldest": {table: None if at is None else at.isoformat() for table, at in oldest.items()},
                "not_reported": missing,
            },
            target_zh=f"各类记录保存不少于{days}天",
            measured_zh=f"各存储现存最早记录距今：{listed_zh}"
            + (f"；未上报：{'、'.join(missing)}" if missing else ""),
            data_source_zh=(
                "事件管理服务自有记录直接读取；短信、订购、投诉服务无相应事件，以主管人工上报的最早记录为准，"
                "未上报的无法判定"
            ),
        )

    async def report_records(self, store: str, oldest: datetime, note: str, actor: str) -> ReportedRecords:
        """A supervisor reports a store's oldest record (read from that service)."""
        if store not in domain.REPORTED_STORES:
            raise UnknownStore(f"{store!r} is not one of {', '.join(domain.REPORTED_STORES)}")
        now = self.clock.now()
        if oldest > now:
            raise RecordsInFuture("the oldest record cannot be later than now")
        async with self._pool.acquire() as conn:
            await self._orders.report_records(conn, store, oldest, note, actor, now)
        return ReportedRecords(store, oldest, note, actor, now)


def _content_review_promise(messages: int, blocked: Mapping[str, tuple[int, int]]) -> Promise:
    """Reviewed = sent + blocked: the sms-sender reviews every request at acceptance, and a
    message is sent only when it passed; what it blocked comes from sms.content_rejected (per
    refused request, with the review rule's category). Met when the period saw any traffic (the
    review is on the only accept path); none: the data cannot say."""
    requests = sum(n for n, _ in blocked.values())
    recipients = sum(r for _, r in blocked.values())
    by_category = {category: n for category, (n, _) in blocked.items()}
    listed = ", ".join(f"{category} {n}" for category, n in by_category.items()) or "none"
    listed_zh = "，".join(f"{category} {n}" for category, n in by_category.items()) or "无"
    return Promise(
        key="content_review",
        name_zh="内容审核",
        name_en="Content reviewed",
        target="every message reviewed before it is sent; blocked messages counted per category",
        measured=(
            f"{messages + recipients} messages reviewed: {messages} sent, {recipients} blocked in "
            f"{requests} refused requests (per category: {listed})"
        ),
        met=True if messages or requests else None,
        data_source=(
            "sms.status: every message there passed the sms-sender's sensitive-word review before it was "
            "accepted; sms.content_rejected (on the same topic, one per request the review refused: "
            "partner, message category, the word list's category that matched, recipients named; "
            "neither the text nor the numbers) gives what was blocked, per category, counted on the "
            "Shanghai day of the refusal. Reviewed = sent + blocked. Refusals from before the event "
            "existed are not counted."
        ),
        figures={
            "reviewed": messages + recipients,
            "sent": messages,
            "blocked": recipients,
            "blocked_requests": requests,
            "blocked_by_category": by_category,
            "blocked_recipients_by_category": {category: r for category, (_, r) in blocked.items()},
        },
        target_zh="所有短信发送前均经审核；按类别统计拦截数",
        measured_zh=(
            f"审核 {messages + recipients} 条：发送 {messages} 条，拦截 {recipients} 条"
            f"（{requests} 次请求；按类别：{listed_zh}）"
        ),
        data_source_zh=(
            "短信状态事件：发出的短信均已通过敏感词审核；被拦截的请求产生 sms.content_rejected 事件"
            "（不含内容与号码），按命中的词表类别、按北京时间日统计。审核数 = 发送数 + 拦截数"
        ),
    )


def _complaints_promise(runs: dict[str, dict[str, int]]) -> Promise:
    """Attainment per clock over the runs decided in the period: met on time / (met + met late +
    breached), the complaints service's rule. The promise is every clock met on time."""
    clocks = {clock: domain.ClockAttainment.of(outcomes) for clock, outcomes in runs.items()}
    total = domain.ClockAttainment(
        met=sum(a.met for a in clocks.values()),
        met_late=sum(a.met_late for a in clocks.values()),
        breached=sum(a.breached for a in clocks.values()),
    )
    listed = ", ".join(f"{clock} {a.met}/{a.decided}" for clock, a in clocks.items() if a.decided)
    share = total.share
    return Promise(
        key="complaint_clocks",
        name_zh="投诉处理时限",
        name_en="Complaint clocks",
        target="every clock met on time (the complaints service's SLA rules)",
        measured=(
            "no clock decided in the period"
            if share is None
            else f"{share:.2%} met on time ({listed}); {total.past_due} past due"
        ),
        # A run past its due time is a promise broken, whether it stopped late or not at all.
        met=total.past_due == 0,
        data_source=(
            "complaint.events: each clock run told stopped (complaint.clock_stopped: met on time or "
            "late) or breached (complaint.sla_breached, still running past its due time), once per "
            "run; a run counts on the Asia/Shanghai day of its due time (of its start when it "
            "stopped while paused). Attainment = met / (met + met late + breached), as the "
            "complaints service's GET /v1/reports/attainment; runs still running or paused are not "
            "decided yet"
        ),
        figures={
            "decided": total.decided,
            "met": total.met,
            "met_late": total.met_late,
            "breached": total.breached,
            "breaches": total.past_due,
            "attainment_share": share,
            "by_clock": {
                clock: {
                    "met": a.met,
                    "met_late": a.met_late,
                    "breached": a.breached,
                    "attainment_share": a.share,
                }
                for clock, a in clocks.items()
            },
        },
        target_zh="各处理时限均按时完成（投诉处理服务的时限规则）",
        measured_zh=(
            "本期无已判定的时限"
            if share is None
            else f"按时完成 {share:.2%}（{listed}）；超时 {total.past_due} 次"
        ),
        data_source_zh=(
            "投诉事件（complaint.events）：每个时限周期的停止事件（complaint.clock_stopped，按时或超时完成）"
            "与超时事件（complaint.sla_breached，超时仍未完成），每个周期一次；按到期时间（暂停中停止的按开始时间）"
            "所在的北京时间日期统计。达成率 = 按时完成 /（按时完成 + 超时完成 + 超时未完成），与投诉处理服务的达成率报表一致"
        ),
    )


def _days(
    period: Period,
    per_day: dict[date, Histogram],
    mt_hours: list[tuple[datetime, int, int]],
    mo_hours: list[tuple[datetime, int, int]],
) -> list[DayFigures]:
    def per_day_traffic(hours: list[tuple[datetime, int, int]]) -> tuple[dict[date, int], dict[date, int]]:
        messages: dict[date, int] = {}
        peaks: dict[date, int] = {}
        for hour, count, peak in hours:
            day = domain.day_of(hour)
            messages[day] = messages.get(day, 0) + count
            peaks[day] = max(peaks.get(day, 0), peak)
        return messages, peaks

    mt_messages, mt_peaks = per_day_traffic(mt_hours)
    mo_messages, mo_peaks = per_day_traffic(mo_hours)
    mt_busy = domain.busy_hours((h, m) for h, m, _ in mt_hours)
    mo_busy = domain.busy_hours((h, m) for h, m, _ in mo_hours)
    return [
        DayFigures(
            day=day,
            delay=DelayFigures.of(per_day.get(day, Histogram())),
            mt_messages=mt_messages.get(day, 0),
            mt_peak_per_second=mt_peaks.get(day, 0),
            mt_busy_hour=mt_busy.get(day),
            mo_messages=mo_messages.get(day, 0),
            mo_peak_per_second=mo_peaks.get(day, 0),
            mo_busy_hour=mo_busy.get(day),
        )
        for day in period.days()
    ]


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"
