"""HTTP shapes of regulator tasks."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from incident.regulator_tasks.domain import RegulatorTask, TaskKind, TaskStatus
from vas_common.types import SingleLineText


class RegulatorTaskOut(BaseModel):
    id: UUID
    kind: TaskKind
    window_id: UUID | None = Field(description="The maintenance window the duty is about")
    status: TaskStatus
    overdue: bool = Field(description="Open and past its due time")
    summary: str = Field(description="What to tell the regulator, in Chinese")
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    done_by: str | None
    note: str | None

    @classmethod
    def of(cls, t: RegulatorTask, now: datetime) -> RegulatorTaskOut:
        return cls(
            id=t.id,
            kind=t.kind,
            window_id=t.window_id,
            status=t.status,
            overdue=t.overdue(now),
            summary=t.summary,
            due_at=t.due_at,
            created_at=t.created_at,
            updated_at=t.updated_at,
            done_at=t.done_at,
            done_by=t.done_by,
            note=t.note,
        )


class TaskDoneIn(BaseModel):
    note: SingleLineText | None = Field(
        default=None, max_length=500, description="How and when the regulator was told (reference, channel)"
    )
