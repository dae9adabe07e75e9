"""Regulator task use cases for staff: the list, with what is due first, and marking one done
once the regulator was told. Tasks are created by the use cases whose subject owes the duty
(maintenance windows), in their own transactions."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from incident.regulator_tasks import domain
from incident.regulator_tasks.domain import RegulatorTask, TaskStatus
from incident.regulator_tasks.repository import RegulatorTaskRepository
from vas_common.clock import Clock
from vas_common.errors import Conflict, NotFound


class RegulatorTaskNotFound(NotFound):
    code = "regulator_task_not_found"
    title = "No such regulator task"


class RegulatorTaskWithdrawn(Conflict):
    code = "regulator_task_withdrawn"
    title = "The duty went away: there is nothing to tell the regulator"


class RegulatorTaskService:
    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, tasks: RegulatorTaskRepository | None = None
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._tasks = tasks or RegulatorTaskRepository()

    @property
    def clock(self) -> Clock:
        return self._clock

    async def tasks(self, status: TaskStatus | None, limit: int) -> list[RegulatorTask]:
        async with self._pool.acquire() as conn:
            return await self._tasks.tasks(conn, status, limit)

    async def mark_done(self, task_id: UUID, actor: str, note: str | None) -> RegulatorTask:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            task = await self._tasks.get(conn, task_id, for_update=True)
            if task is None:
                raise RegulatorTaskNotFound(f"no regulator task {task_id}")
            if task.status is TaskStatus.WITHDRAWN:
                raise RegulatorTaskWithdrawn(f"task {task_id} was withdrawn")
            done = domain.done(task, actor, note, now)
            if done is None:
                return task
            await self._tasks.save(conn, done)
        return done
