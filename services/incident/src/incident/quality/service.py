"""Service quality: the roll-ups fed from the event stream (idempotent under redelivery), and the
report of a month or quarter built from them, each promise with its target, what was measured,
met or not, and where the data came from.

Redelivery: each consumed (group, topic, partition) has a watermark (the next offset not yet
counted) locked and moved in the transaction that adds the batch to the roll-ups; the records
of a batch below it were counted already and are skipped. A batch therefore counts once, however
often Kafka hands it over (a commit lost in a rebalance, a restart before the commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from incident.availability.domain import Figures, IntervalKind
from incident.availability.service import AvailabilityService
from incident.quality import domain
from incident.quality.domain import (
    BusyHour,
    Contributions,
    DelayFigures,
    Histogram,
    Period,
    Promise,
    Submitted,
)
from incident.quality.repository import QualityRepository
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.errors import ValidationFailed
from vas_common.events.complaints import SlaAlert
from vas_common.events.sms_sender import MessageState


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
    notice_hours: float = 72.0


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


@dataclass(frozen=True)
class HourFigures:
    hour_start: datetime
    delay: DelayFigures
    mt_messages: int
    mt_peak_per_second: int
    mo_messages: int
    mo_peak_per_second: int


class InvalidDay(ValidationFailed):
    code = "invalid_day"
    title = "The day is not a day (YYYY-MM-DD)"


@dataclass(frozen=True)
class Consumed:
    """A record of a batch: its offset and what it carries for the roll-ups (None: nothing)."""

    offset: int
    value: MessageState | datetime | SlaAlert | None  # a status, an MO's reception, a breach


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
        metrics: QualityMetrics | None = None,
    ) -> None:
        self._pool = pool
        self.clock = clock
        self._availability = availability
        self._services = tuple(services)
        self.targets = targets
        self._repo = repository or QualityRepository()
        self._minute_retention = minute_retention
        self.metrics = metrics

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
            breaches: dict[tuple[date, str], int] = {}
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
                elif isinstance(c.value, SlaAlert):
                    key = (domain.day_of(c.value.at), c.value.clock)
                    breaches[key] = breaches.get(key, 0) + 1
                elif isinstance(c.value, datetime):
                    seconds = mo.setdefault(domain.minute_of(c.value), [0] * 60)
                    seconds[c.value.second] += 1
            await self._repo.add_delays(conn, "minute", added.delay_minutes)
            await self._repo.add_delays(conn, "day", added.delay_days)
            await self._repo.add_traffic(conn, "mt", added.traffic)
            await self._repo.add_traffic(conn, "mo", mo)
            await self._repo.add_breaches(conn, breaches)
            await self._repo.advance(conn, group_id, topic, partition, max(c.offset for c in fresh) + 1)
        return len(fresh)

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
            notices = await self._notices(conn, period)
            breaches = await self._repo.breaches(conn, period.first_day, period.end_day)
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
            _complaints_promise(breaches),
            self._notices_promise(*notices),
        ]
        return QualityReport(period, self.clock.now(), promises, delay, days, availability, partners)

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

    def _notices_promise(self, windows: int, on_time: int) -> Promise:
        t = self.targets
        return Promise(
            key="maintenance_notice",
            name_zh="维护提前通知",
            name_en="Maintenance notices on time",
            target=f"announced ≥ {t.notice_hours:g} h before the start",
            measured="no maintenance in the period" if not windows else f"{on_time} of {windows} on time",
            met=True if not windows else on_time == windows,
            data_source=(
                "incident.maintenance windows that started in the period and their notices, as the "
                "availability rule reads them (an emergency or a start announced late is not on time)"
            ),
            figures={"windows": windows, "on_time": on_time},
            target_zh=f"维护开始前至少{t.notice_hours:g}小时通知",
            measured_zh="本期无维护" if not windows else f"{windows}次维护中{on_time}次按时通知",
            data_source_zh="本期开始的维护窗口及其通知（紧急维护或未按时通知的开始时间均不算按时）",
        )


def _complaints_promise(breaches: dict[str, int]) -> Promise:
    total = sum(breaches.values())
    listed = ", ".join(f"{clock} {n}" for clock, n in breaches.items())
    return Promise(
        key="complaint_clocks",
        name_zh="投诉处理时限",
        name_en="Complaint clocks",
        target="every clock met (the complaints service's SLA rules)",
        measured="no clock breached"
        if not total
        else f"{total} breached ({listed}); attainment share not measured here",
        # A breach is a promise broken; none breached is every clock met.
        met=total == 0,
        data_source=(
            "complaint.events: complaint.sla_breached per clock, counted on the day the breach fell due. "
            "The clocks that ran and were met are not in the events, so the attainment share is not "
            "computed here: it is the complaints service's own report (GET /v1/reports/attainment)"
        ),
        figures={"breaches": total, "by_clock": dict(breaches), "attainment_share": None},
        target_zh="各处理时限均按时完成（投诉处理服务的时限规则）",
        measured_zh="无超时" if not total else f"超时{total}次（{listed}）；达成率本报告未统计",
        data_source_zh=(
            "投诉事件（complaint.events）中的超时事件（complaint.sla_breached），按超时日期与时限统计；"
            "事件不含按时完成的时限，达成率以投诉处理服务的报表为准"
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
