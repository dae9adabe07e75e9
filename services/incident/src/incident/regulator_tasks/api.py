"""Regulator task endpoints: supervisors (or the operator token) list the duties and mark them
done."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request

from incident.regulator_tasks.domain import TaskStatus
from incident.regulator_tasks.schemas import RegulatorTaskOut, TaskDoneIn
from incident.regulator_tasks.service import (
    RegulatorTaskNotFound,
    RegulatorTaskService,
    RegulatorTaskWithdrawn,
)
from vas_common.access import Audience, audience_router
from vas_common.app import app_state
from vas_common.errors import documented
from vas_common.staff import Role, StaffMember, require_role

router = audience_router(
    Audience.STAFF,
    prefix="/v1/regulator-tasks",
    tags=["regulator tasks (supervisor)"],
    dependencies=[require_role(Role.SUPERVISOR)],
)


async def _service(request: Request) -> RegulatorTaskService:
    return app_state(request, "regulator_task_service", RegulatorTaskService)


Tasks = Annotated[RegulatorTaskService, Depends(_service)]
Supervisor = Annotated[StaffMember, require_role(Role.SUPERVISOR)]


@router.get("", response_model=list[RegulatorTaskOut])
async def list_tasks(
    tasks: Tasks,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RegulatorTaskOut]:
    """What the regulator must be told, the earliest due first; `overdue` when open past its due."""
    now = tasks.clock.now()
    return [RegulatorTaskOut.of(t, now) for t in await tasks.tasks(status, limit)]


@router.post(
    "/{task_id}/completion",
    response_model=RegulatorTaskOut,
    responses=documented(RegulatorTaskNotFound, RegulatorTaskWithdrawn),
)
async def mark_done(task_id: UUID, body: TaskDoneIn, tasks: Tasks, member: Supervisor) -> RegulatorTaskOut:
    """The regulator was told: the task is done (again: no change)."""
    task = await tasks.mark_done(task_id, member.actor, body.note)
    return RegulatorTaskOut.of(task, tasks.clock.now())
