"""Report use cases: the attainment of each SLA clock for a period (with the runs it came from),
the complaint rate per 10,000 subscribers per product, the subscriber changes learnt from
subscription.events, and the gauges of open complaints by SLA state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Gauge, Histogram

from complaints.report import domain
from complaints.report.domain import (
    ClockAttainment,
    Period,
    PolicyRecord,
    ProductRate,
    RunResult,
    Satisfaction,
    SubscriptionChange,
)
from complaints.report.repository import ReportRepository
from complaints.sla.domain import ClockKind
from vas_common.clock import Clock as TimeSource
from vas_common.errors import ValidationFailed

MAX_PERIOD = timedelta(days=366)
OPEN_CLOCK_STATES = ("running", "paused", "breached")
OPEN_COMPLAINT_STATES = ("running", "paused", "breached", "no_clock_running")


class InvalidPeriod(ValidationFailed):
    code = "invalid_period"
    title = "The period must end after it starts and span at most 366 days"


@dataclass(frozen=True)
class AttainmentReport:
    period: Period
    as_of: datetime
    clocks: list[ClockAttainment]
    runs: list[RunResult]
    policies: list[PolicyRecord]  # those the runs had
    satisfaction: list[Satisfaction]


@dataclass(frozen=True)
class RateReport:
    period: Period
    as_of: datetime
    products: list[ProductRate]


class ReportMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.open_clocks = Gauge(
            "complaints_open_clocks",
            "Clocks not stopped of open complaints, by clock and SLA state (refreshed by the scheduler)",
            ["clock", "state"],
            registry=registry,
        )
        self.open_complaints = Gauge(
            "complaints_open",
            "Open complaints by their worst SLA state: breached, else running, else paused",
            ["sla_state"],
            registry=registry,
        )
        self.refresh_seconds = Histogram(
            "complaints_sla_gauges_refresh_seconds",
            "How long counting the open complaints by SLA state took",
            registry=registry,
        )


class ReportService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: TimeSource,
        metrics: ReportMetrics | None = None,
        reports: ReportRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._metrics = metrics or ReportMetrics(None)
        self._reports = reports or ReportRepository()

    @staticmethod
    def period(start: datetime, end: datetime) -> Period:
        if end <= start or end - start > MAX_PERIOD:
            raise InvalidPeriod(
                f"from {start.isoformat()} to {end.isoformat()}",
                extra={"max_days": MAX_PERIOD.days},
            )
        return Period(start, end)

    async def attainment(self, start: datetime, end: datetime) -> AttainmentReport:
        """Every clock run of the period judged as of now, tallied per clock and by channel,
        category and partner, with the policy each run had; satisfaction per category."""
        period = self.period(start, end)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            as_of = self._clock.now()
            runs = await self._reports.runs(conn, period)
            policies = await self._reports.policies(conn)
            alerts = await self._reports.breach_alerts(conn, period)
            satisfaction = await self._reports.satisfaction(conn, period)
        results = domain.judge(runs, policies, as_of)
        used = {r.policy.id for r in results if r.policy is not None}
        return AttainmentReport(
            period=period,
            as_of=as_of,
            clocks=domain.attainment(results, alerts),
            runs=results,
            policies=[p for p in policies if p.policy.id in used],
            satisfaction=satisfaction,
        )

    async def complaint_rate(self, start: datetime, end: datetime) -> RateReport:
        period = self.period(start, end)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            as_of = self._clock.now()
            complaints = await self._reports.complaints_per_product(conn, period)
            subscribers = await self._reports.subscribers_per_product(conn, period)
        return RateReport(period, as_of, domain.complaint_rates(complaints, subscribers))

    async def note_subscription_changes(self, changes: list[SubscriptionChange]) -> int:
        """From subscription.events; a change seen before (redelivery) is not counted again."""
        async with self._pool.acquire() as conn:
            return await self._reports.note_changes(conn, changes, self._clock.now())

    async def refresh_gauges(self) -> None:
        """Open complaints by SLA state, as of now (the scheduler calls it every few seconds)."""
        started = time.perf_counter()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            clocks = await self._reports.open_clocks(conn, now)
            complaints = await self._reports.open_complaints(conn, now)
        counts = {(clock, state): n for clock, state, n in clocks}
        for kind in ClockKind:
            for state in OPEN_CLOCK_STATES:
                self._metrics.open_clocks.labels(kind.value, state).set(counts.get((kind.value, state), 0))
        by_state = dict(complaints)
        for state in OPEN_COMPLAINT_STATES:
            self._metrics.open_complaints.labels(state).set(by_state.get(state, 0))
        self._metrics.refresh_seconds.observe(time.perf_counter() - started)
