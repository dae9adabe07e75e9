"""SLA use cases: compute a complaint's clocks and raise its due warnings and breaches once each;
the scheduler tick that finds due ones (safe on every replica); policies as data, where a special
agreement may only be stricter than the standard."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram

from complaints.complaint.domain import Complaint, ComplaintEvent
from complaints.complaint.repository import ComplaintRepository
from complaints.sla import domain
from complaints.sla.domain import Basis, Category, Channel, Clock, ClockKind, Policy, WorkingTime
from complaints.sla.repository import PolicyTaken, SlaRepository
from vas_common.clock import Clock as TimeSource
from vas_common.db import DbConnection
from vas_common.errors import Conflict, NotFound, ValidationFailed
from vas_common.events.complaints import ClockRun, ClockStopped, SlaAlert, SlaBreached, SlaWarning
from vas_common.events.topics import COMPLAINT_EVENTS
from vas_common.outbox import OutboxRepository

logger = logging.getLogger(__name__)

CalendarSource = Callable[[], Awaitable[WorkingTime]]


class PolicyLooserThanStandard(ValidationFailed):
    code = "policy_looser_than_standard"
    title = "A special agreement may be stricter than the standard, never looser"


class PolicyExists(Conflict):
    code = "policy_exists"
    title = "A live policy already covers this clock for the same complaints"


class PolicyNotFound(NotFound):
    code = "policy_not_found"
    title = "No such live policy"


class PolicyInvalid(ValidationFailed):
    code = "policy_invalid"
    title = "The policy cannot be applied"


@dataclass(frozen=True)
class NewPolicy:
    clock: ClockKind
    target: timedelta
    basis: Basis
    channel: Channel | None = None
    category: Category | None = None
    partner_id: UUID | None = None
    msisdn: str | None = None
    pausable: bool = True
    warn_at: tuple[float, ...] = (0.5, 0.8)
    note: str = ""


class SlaMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.alerts = Counter(
            "complaints_sla_alerts_total",
            "SLA warnings and breaches raised (once each per complaint, clock run and alert)",
            ["clock", "alert"],
            registry=registry,
        )
        self.stops = Counter(
            "complaints_clock_runs_stopped_total",
            "Clock runs that stopped (once each per complaint, clock and run), on time or late",
            ["clock", "on_time"],
            registry=registry,
        )
        self.tick_seconds = Histogram(
            "complaints_scheduler_tick_seconds",
            "How long an SLA scheduler tick took (finding the due complaints, recomputing them, raising alerts)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )


class SlaService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: TimeSource,
        calendar: CalendarSource,
        metrics: SlaMetrics | None = None,
        sla: SlaRepository | None = None,
        complaints: ComplaintRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self._metrics = metrics or SlaMetrics(None)
        self._sla = sla or SlaRepository()
        self._complaints = complaints or ComplaintRepository()
        self._outbox = outbox or OutboxRepository()

    # -- clocks -------------------------------------------------------------------------

    async def clocks(
        self,
        conn: DbConnection,
        complaint: Complaint,
        history: Sequence[ComplaintEvent],
        policies: Sequence[Policy] | None = None,
    ) -> list[Clock]:
        if policies is None:
            policies = await self._sla.live_policies(conn)
        return domain.compute_clocks(
            complaint.subject(), policies, [e.history() for e in history], await self._calendar()
        )

    async def recompute(
        self,
        conn: DbConnection,
        complaint: Complaint,
        history: Sequence[ComplaintEvent],
        now: datetime,
        policies: Sequence[Policy] | None = None,
        *,
        tell_stopped: bool = True,
    ) -> list[Clock]:
        """Inside the caller's transaction: the complaint's clocks from its history, each due
        warning or breach raised once, each run that stopped told once, and when the scheduler
        must look again. A batch passes the live policies it read once, and tells the stopped
        runs of all its complaints at the end (`tell_stopped=False`, then `tell_stopped`)."""
        clocks = await self.clocks(conn, complaint, history, policies)
        saved: list[tuple[Clock, str, datetime | None]] = []
        for clock in clocks:
            upcoming = []
            for alert, at in clock.alerts():
                if at > now:
                    upcoming.append(at)
                elif await self._sla.emit_once(conn, complaint.id, clock, alert, at, now):
                    await self._raise(conn, complaint, clock, alert, at)
            saved.append((clock, clock.state(now).value, min(upcoming) if upcoming else None))
        await self._sla.save_clocks(conn, complaint.id, saved, now)
        if tell_stopped:
            await self.tell_stopped(conn, [complaint], now)
        return clocks

    async def tell_stopped(self, conn: DbConnection, complaints: Sequence[Complaint], now: datetime) -> None:
        """Publish each run of these complaints that has stopped since it was last told (their
        clocks were saved: the runs follow by trigger), once."""
        by_id = {c.id: c for c in complaints}
        for complaint_id, run in await self._sla.stopped_once(conn, list(by_id), now):
            await self._publish_stop(conn, by_id[complaint_id], run)

    async def _publish_stop(self, conn: DbConnection, complaint: Complaint, run: domain.StoppedRun) -> None:
        payload = ClockRun(
            complaint_id=complaint.id,
            clock=run.clock.value,
            started_at=run.started_at,
            due_at=run.due_at,
            stopped_at=run.stopped_at,
            met=run.met,
            superseded=run.superseded,
            channel=complaint.channel.value,
            category=complaint.category.value,
            partner_id=complaint.partner_id,
        )
        await self._outbox.enqueue(conn, COMPLAINT_EVENTS, ClockStopped(payload=payload))
        self._metrics.stops.labels(run.clock.value, "true" if run.met else "false").inc()

    async def _raise(
        self, conn: DbConnection, complaint: Complaint, clock: Clock, alert: str, at: datetime
    ) -> None:
        assert clock.due_at is not None
        payload = SlaAlert(
            complaint_id=complaint.id,
            clock=clock.kind.value,
            alert=alert,
            started_at=clock.started_at,
            due_at=clock.due_at,
            at=at,
            channel=complaint.channel.value,
            category=complaint.category.value,
            partner_id=complaint.partner_id,
        )
        event = SlaBreached(payload=payload) if alert == "breached" else SlaWarning(payload=payload)
        await self._outbox.enqueue(conn, COMPLAINT_EVENTS, event)
        self._metrics.alerts.labels(clock.kind.value, alert).inc()

    async def tick(self, batch: int = 500) -> int:
        """Raise the warnings and breaches that have fallen due; returns how many complaints were
        looked at. Every replica may run it: a complaint is handled by one at a time (row locks,
        SKIP LOCKED) and an alert is recorded once (unique key) before its event is queued."""
        with self._metrics.tick_seconds.time():
            return await self._tick(batch)

    async def _tick(self, batch: int) -> int:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            ids = await self._sla.due(conn, now, batch)
            if not ids:
                return 0
            complaints = await self._complaints.many(conn, ids, for_update=True, skip_locked=True)
            histories = await self._complaints.histories(conn, [c.id for c in complaints])
            policies = await self._sla.live_policies(conn)
            for complaint in complaints:
                await self.recompute(
                    conn, complaint, histories[complaint.id], now, policies, tell_stopped=False
                )
            await self.tell_stopped(conn, complaints, now)
        return len(complaints)

    async def recompute_open(self, batch: int = 500) -> int:
        """Every complaint not closed, again (after a calendar or policy change); in batches.
        Each batch waits for the complaints someone is changing: their history is read after
        the change, so a clock is never written back from a history older than the one stored."""
        done, after = 0, None
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                ids = await self._complaints.open_ids(conn, after, batch)
                if not ids:
                    return done
                now = self._clock.now()
                complaints = await self._complaints.many(conn, ids, for_update=True)
                histories = await self._complaints.histories(conn, ids)
                policies = await self._sla.live_policies(conn)
                for complaint in complaints:
                    await self.recompute(
                        conn, complaint, histories[complaint.id], now, policies, tell_stopped=False
                    )
                await self.tell_stopped(conn, complaints, now)
            done += len(ids)
            after = ids[-1]

    # -- policies -------------------------------------------------------------------------

    async def policies(self) -> list[Policy]:
        async with self._pool.acquire() as conn:
            return await self._sla.live_policies(conn)

    async def add_policy(self, new: NewPolicy) -> Policy:
        """A policy row. A special agreement (for one partner or one user) is refused when it is
        looser than the standard for the same clock."""
        if new.basis is Basis.SHANGHAI_DAYS and new.target % timedelta(days=1):
            raise PolicyInvalid("a target in Shanghai days must be whole days")
        if new.basis is Basis.WORKING_DAYS and new.target % timedelta(days=1):
            raise PolicyInvalid("a target in working days must be whole days")
        if new.clock is ClockKind.OPERATOR_DEADLINE:
            raise PolicyInvalid("the operator's deadline comes with each forwarded complaint")
        policy = Policy(
            id=uuid.uuid4(),
            clock=new.clock,
            target=new.target,
            basis=new.basis,
            channel=new.channel,
            category=new.category,
            partner_id=new.partner_id,
            msisdn=new.msisdn,
            pausable=new.pausable,
            warn_at=tuple(sorted(set(new.warn_at))),
            note=new.note,
        )
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            live = await self._sla.live_policies(conn)
            if policy.is_special_agreement:
                looser = domain.looser_than_standard(
                    policy, live, (await self._calendar()).working_day_length
                )
                if looser is not None:
                    raise PolicyLooserThanStandard(
                        f"the standard {looser.clock} target is {_target_text(looser)}; "
                        f"an agreement may only shorten it (asked: {_target_text(policy)})",
                        extra={
                            "standard_policy_id": str(looser.id),
                            "standard_target_s": int(looser.target.total_seconds()),
                        },
                    )
            try:
                await self._sla.insert_policy(conn, policy, now)
            except PolicyTaken as exc:
                raise PolicyExists("retire the live policy for the same clock and scope first") from exc
        return policy

    async def retire_policy(self, policy_id: UUID) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._sla.retire_policy(conn, policy_id, self._clock.now()):
                raise PolicyNotFound(f"no live policy {policy_id}")


def _target_text(policy: Policy) -> str:
    if policy.basis in (Basis.WORKING_DAYS, Basis.SHANGHAI_DAYS):
        return f"{policy.target.days} {policy.basis.value.replace('_', ' ')}"
    return f"{int(policy.target.total_seconds() // 60)} min ({policy.basis.value.replace('_', ' ')})"
