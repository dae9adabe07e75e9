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
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import asyncpg

from incident.availability.domain import Figures, IntervalKind
from incident.availability.service import AvailabilityService
from incident.quality import domain
from incident.quality.domain import (
    ChargeSeen,
    Contributions,
    DelayFigures,
    Histogram,
    NoticeGiven,
    OrderChange,
    PartnerName,
    Period,
    ReportedRecords,
    SatisfactionReply,
    Submitted,
)
from incident.quality.repository import OrderRepository, QualityRepository
from incident.quality.service import promises as judge
from incident.quality.service.figures import (
    AvailabilityFigures,
    Consumed,
    DayFigures,
    HourFigures,
    InvalidDay,
    InvalidMonth,
    InvalidPeriod,
    QualityMetrics,
    QualityReport,
    QualityTargets,
    RecordsInFuture,
    Servqual,
    ServqualMonth,
    UnknownStore,
)
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.events.complaints import ClockRun, SlaAlert
from vas_common.events.sms_sender import ContentRejection, MessageState, MoMessage


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
        user_rows_retention: timedelta | None = None,
    ) -> None:
        self._pool = pool
        self.clock = clock
        self._availability = availability
        self._services = tuple(services)
        self.targets = targets
        self._repo = repository or QualityRepository()
        self._minute_retention = minute_retention
        self._user_rows_retention = user_rows_retention
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
        user_rows_retention: timedelta | None = None,
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
            user_rows_retention=user_rows_retention,
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
        """Delete the per-minute delay rows older than their retention (the hourly view's data;
        the day rows the reports read, and the traffic per minute, are kept) and the rows per
        user action older than theirs. Returns how many."""
        deleted = 0
        now = self.clock.now()
        async with self._pool.acquire() as conn:
            if self._minute_retention is not None:
                deleted += await self._repo.delete_minutes_before(conn, now - self._minute_retention, 5000)
            if self._user_rows_retention is not None:
                deleted += await self._orders.delete_user_rows_before(
                    conn, now - self._user_rows_retention, 5000
                )
        return deleted

    def user_rows_kept_since(self) -> datetime | None:
        """The instant before which the rows per user action have been deleted (None: kept)."""
        if self._user_rows_retention is None:
            return None
        return self.clock.now() - self._user_rows_retention

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
            judge.delay_promise(self.targets, delay),
            judge.capacity_promise(self.targets, days),
            *judge.availability_promises(self.targets, availability),
            judge.complaints_promise(clock_runs),
            judge.notices_promise(self.targets, maintenance, changes),
            judge.registration_promise(self.targets, registration),
            judge.unsubscribe_promise(self.targets, unsubscription),
            judge.content_review_promise(delay.messages, blocked),
            judge.records_promise(self.targets, self.clock.now(), oldest, reported),
        ]
        kept_since = self.user_rows_kept_since()
        if kept_since is not None and period.start < kept_since:
            promises = [
                judge.not_kept_in_full(p, kept_since) if p.key in judge.FROM_USER_ROWS else p
                for p in promises
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
