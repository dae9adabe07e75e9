"""Maintenance use cases. Each change of a window is one transaction: the window locked, a pure
transition from `domain`, the window written, the notice recorded once (window, notice), its
event queued in the outbox, and the regulator task following the window. The subscription
service tells the subscribers (it knows who subscribes to what) and answers with how many it told
(`count_notices`). The tick (every replica runs it) reminds, starts and completes windows whose
time has come; row locks with SKIP LOCKED and the notice key make each happen once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from incident.incidents.errors import UnknownService
from incident.maintenance import domain
from incident.maintenance.domain import (
    SYSTEM_ACTOR,
    Notice,
    NoticeKind,
    NoticeRules,
    RefusalKind,
    Refused,
    Window,
    WindowStatus,
)
from incident.maintenance.repository import MaintenanceRepository
from incident.regulator_tasks import domain as tasks_domain
from incident.regulator_tasks.domain import RegulatorTask, TaskKind, TaskStatus
from incident.regulator_tasks.repository import RegulatorTaskRepository
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.errors import AppError, Conflict, NotFound, ValidationFailed
from vas_common.events import Event
from vas_common.events import incident_maintenance as events
from vas_common.events.topics import INCIDENT_EVENTS
from vas_common.outbox import OutboxRepository


class MaintenanceNotFound(NotFound):
    code = "maintenance_window_not_found"
    title = "No such maintenance window"


class NoticeTooShort(ValidationFailed):
    code = "maintenance_notice_too_short"
    title = "Users must be told of maintenance 72 h ahead (the notice period), unless it is an emergency"


class EmergencyReasonRequired(ValidationFailed):
    code = "emergency_reason_required"
    title = "An emergency maintenance must give its reason"


class MaintenanceTimesInvalid(ValidationFailed):
    code = "maintenance_times_invalid"
    title = "The maintenance times cannot be used"


class MaintenanceNotChangeable(Conflict):
    code = "maintenance_not_changeable"
    title = "The maintenance window cannot change that way now"


_ERRORS: dict[RefusalKind, type[AppError]] = {
    RefusalKind.NOTICE_TOO_SHORT: NoticeTooShort,
    RefusalKind.EMERGENCY_REASON_MISSING: EmergencyReasonRequired,
    RefusalKind.TIMES_INVALID: MaintenanceTimesInvalid,
    RefusalKind.NOT_CHANGEABLE: MaintenanceNotChangeable,
}


def _error(refused: Refused, rules: NoticeRules) -> AppError:
    refusal = refused.refusal
    extra: dict[str, object] = {}
    if refusal.earliest_start is not None:
        extra["earliest_start"] = refusal.earliest_start.isoformat()
        extra["notice_period_hours"] = rules.notice_period.total_seconds() / 3600
    return _ERRORS[refusal.kind](refusal.detail, extra=extra)


@dataclass(frozen=True)
class NewWindow:
    product_codes: tuple[str, ...]
    services: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    text_zh: str
    emergency: bool = False
    emergency_reason: str | None = None


@dataclass(frozen=True)
class WindowDetail:
    window: Window
    notices: list[Notice]
    regulator_task: RegulatorTask | None


_EVENT_OF_NOTICE: dict[NoticeKind, Callable[[events.MaintenanceWindowState], Event]] = {
    NoticeKind.SCHEDULED: lambda state: events.MaintenanceScheduled(payload=state),
    NoticeKind.RESCHEDULED: lambda state: events.MaintenanceRescheduled(payload=state),
    NoticeKind.CANCELLED: lambda state: events.MaintenanceCancelled(payload=state),
    NoticeKind.REMINDER: lambda state: events.MaintenanceReminder(payload=state),
}


def _state(w: Window, now: datetime, before: Window | None = None) -> events.MaintenanceWindowState:
    moved = before is not None and (before.starts_at, before.ends_at) != (w.starts_at, w.ends_at)
    return events.MaintenanceWindowState(
        window_id=w.id,
        notice=w.notice,
        status=w.status.value,
        product_codes=list(w.product_codes),
        services=list(w.services),
        starts_at=w.starts_at,
        ends_at=w.ends_at,
        text_zh=w.text_zh,
        emergency=w.emergency,
        emergency_reason=w.emergency_reason,
        previous_starts_at=before.starts_at if moved and before else None,
        previous_ends_at=before.ends_at if moved and before else None,
        occurred_at=now,
    )


class MaintenanceService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        rules: NoticeRules,
        known_services: Sequence[str],
        windows: MaintenanceRepository | None = None,
        tasks: RegulatorTaskRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self.rules = rules
        self._known = tuple(known_services)
        self._windows = windows or MaintenanceRepository()
        self._tasks = tasks or RegulatorTaskRepository()
        self._outbox = outbox or OutboxRepository()

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- staff ------------------------------------------------------------------------------

    async def schedule(self, new: NewWindow, actor: str) -> Window:
        now = self._clock.now()
        # The services name what availability is counted for (and what the status page shows):
        # one the provider does not run would be a window that counts for nothing.
        unknown = sorted(set(new.services) - set(self._known))
        if unknown:
            raise UnknownService(
                f"unknown service {', '.join(unknown)}", extra={"known_services": list(self._known)}
            )
        try:
            window = domain.schedule(
                uuid.uuid4(),
                new.product_codes,
                new.services,
                new.starts_at,
                new.ends_at,
                new.text_zh,
                new.emergency,
                new.emergency_reason,
                actor,
                now,
                self.rules,
            )
        except Refused as refused:
            raise _error(refused, self.rules) from refused
        async with self._pool.acquire() as conn, conn.transaction():
            await self._windows.save(conn, window)
            await self._notify(conn, window, NoticeKind.SCHEDULED, actor, now, window.emergency_reason)
            await self._follow_regulator(conn, window, now)
        return window

    async def reschedule(
        self,
        window_id: UUID,
        starts_at: datetime,
        ends_at: datetime,
        emergency: bool,
        emergency_reason: str | None,
        actor: str,
    ) -> Window:
        """New times, and a new notice with them; the same times again change nothing."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._locked(conn, window_id)
            try:
                after = domain.reschedule(
                    before, starts_at, ends_at, emergency, emergency_reason, now, self.rules
                )
            except Refused as refused:
                raise _error(refused, self.rules) from refused
            if after is None:
                return before
            await self._windows.save(conn, after)
            reason = emergency_reason if emergency else None
            await self._notify(conn, after, NoticeKind.RESCHEDULED, actor, now, reason, before)
            await self._follow_regulator(conn, after, now)
        return after

    async def cancel(self, window_id: UUID, reason: str, actor: str) -> Window:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._locked(conn, window_id)
            if before.status is WindowStatus.CANCELLED:
                return before  # cancelled already: users were told
            try:
                after = domain.cancel(before, reason, now)
            except Refused as refused:
                raise _error(refused, self.rules) from refused
            await self._windows.save(conn, after)
            await self._notify(conn, after, NoticeKind.CANCELLED, actor, now, reason)
            await self._follow_regulator(conn, after, now)
        return after

    async def complete(self, window_id: UUID) -> Window:
        """Over before its expected end (staff say so); completed already changes nothing."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            before = await self._locked(conn, window_id)
            if before.status is WindowStatus.COMPLETED:
                return before
            try:
                after = domain.complete(before, now, early=True)
            except Refused as refused:
                raise _error(refused, self.rules) from refused
            assert after is not None
            await self._windows.save(conn, after)
            await self._outbox.enqueue(
                conn, INCIDENT_EVENTS, events.MaintenanceCompleted(payload=_state(after, now))
            )
        return after

    async def detail(self, window_id: UUID) -> WindowDetail:
        async with self._pool.acquire() as conn:
            window = await self._windows.get(conn, window_id)
            if window is None:
                raise MaintenanceNotFound(f"no maintenance window {window_id}")
            notices = await self._windows.notices_of(conn, window_id)
            task = await self._tasks.of_window(conn, TaskKind.MAINTENANCE_OVER_24H, window_id)
        return WindowDetail(window, notices, task)

    async def windows(
        self, statuses: list[WindowStatus] | None, ending_after: datetime | None, limit: int
    ) -> list[Window]:
        async with self._pool.acquire() as conn:
            return await self._windows.windows(conn, statuses, ending_after, limit)

    # -- the clock and the subscription service ---------------------------------------------

    async def tick(self, batch: int = 100) -> int:
        """Reminders, starts and completions that have fallen due; returns how many windows
        changed. Safe on every replica (see the module's docstring)."""
        now = self._clock.now()
        changed = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for window in await self._windows.due(conn, now, batch):
                changed += await self._on_time(conn, window, now)
        return changed

    async def _on_time(self, conn: DbConnection, window: Window, now: datetime) -> int:
        started = domain.start(window, now)
        if started is not None:
            window = started
            await self._windows.save(conn, window)
            await self._outbox.enqueue(
                conn, INCIDENT_EVENTS, events.MaintenanceStarted(payload=_state(window, now))
            )
        completed = domain.complete(window, now)
        if completed is not None:
            window = completed
            await self._windows.save(conn, window)
            await self._outbox.enqueue(
                conn, INCIDENT_EVENTS, events.MaintenanceCompleted(payload=_state(window, now))
            )
        if started is not None or completed is not None:
            return 1
        reminded = domain.remind(window, now)
        if reminded is None:
            return 0
        await self._windows.save(conn, reminded)
        await self._notify(conn, reminded, NoticeKind.REMINDER, SYSTEM_ACTOR, now, None)
        return 1

    async def count_notices(self, window_id: UUID, notice: int, subscribers_notified: int) -> bool:
        """How many subscribers a notice went to (the subscription service's answer)."""
        async with self._pool.acquire() as conn:
            return await self._windows.count_sent(
                conn, window_id, notice, subscribers_notified, self._clock.now()
            )

    # -- inside a use case's transaction -----------------------------------------------------

    async def _locked(self, conn: DbConnection, window_id: UUID) -> Window:
        window = await self._windows.get(conn, window_id, for_update=True)
        if window is None:
            raise MaintenanceNotFound(f"no maintenance window {window_id}")
        return window

    async def _notify(
        self,
        conn: DbConnection,
        window: Window,
        kind: NoticeKind,
        actor: str,
        now: datetime,
        reason: str | None,
        before: Window | None = None,
    ) -> None:
        notice = Notice(
            window_id=window.id,
            notice=window.notice,
            kind=kind,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            emergency=window.emergency,
            reason=reason,
            actor=actor,
            published_at=now,
        )
        if await self._windows.add_notice(conn, notice):
            event = _EVENT_OF_NOTICE[kind](_state(window, now, before))
            await self._outbox.enqueue(conn, INCIDENT_EVENTS, event)

    async def _follow_regulator(self, conn: DbConnection, window: Window, now: datetime) -> None:
        existing = await self._tasks.of_window(conn, TaskKind.MAINTENANCE_OVER_24H, window.id)
        summary = domain.regulator_summary(window)
        due_at = domain.regulator_due_at(window, now, self.rules)
        new = RegulatorTask(
            id=uuid.uuid4(),
            kind=TaskKind.MAINTENANCE_OVER_24H,
            window_id=window.id,
            status=TaskStatus.OPEN,
            summary=summary,
            due_at=due_at,
            created_at=now,
            updated_at=now,
        )
        wanted = domain.regulator_task_wanted(window, self.rules)
        task = tasks_domain.follow(existing, wanted, summary, due_at, now, new)
        if task is not None:
            await self._tasks.save(conn, task)
