"""Regulator tasks: one duty to tell the regulator something by a due time. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class TaskKind(StrEnum):
    MAINTENANCE_OVER_24H = "maintenance_over_24h"  # maintenance whose impact lasts longer than 24 h


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"  # the regulator was told
    WITHDRAWN = "withdrawn"  # the duty went away (the maintenance was cancelled or shortened)


@dataclass(frozen=True)
class RegulatorTask:
    id: UUID
    kind: TaskKind
    window_id: UUID | None
    status: TaskStatus
    summary: str
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None

    def overdue(self, now: datetime) -> bool:
        return self.status is TaskStatus.OPEN and now > self.due_at


def done(task: RegulatorTask, actor: str, note: str | None, now: datetime) -> RegulatorTask | None:
    """Marked done by staff; None when it is done already (the same call again)."""
    if task.status is TaskStatus.DONE:
        return None
    return replace(task, status=TaskStatus.DONE, done_at=now, done_by=actor, note=note, updated_at=now)


def follow(
    existing: RegulatorTask | None,
    wanted: bool,
    summary: str,
    due_at: datetime,
    now: datetime,
    new: RegulatorTask,
) -> RegulatorTask | None:
    """A duty as its subject now wants it: `new` when there was none, the open one with its new
    due time and summary, withdrawn when the duty went away; None for no change. A task done stays
    done (what was sent was sent)."""
    if existing is None:
        return new if wanted else None
    if existing.status is TaskStatus.DONE:
        return None
    if not wanted:
        if existing.status is TaskStatus.WITHDRAWN:
            return None
        return replace(existing, status=TaskStatus.WITHDRAWN, updated_at=now)
    if existing.status is TaskStatus.OPEN and (existing.due_at, existing.summary) == (due_at, summary):
        return None
    return replace(existing, status=TaskStatus.OPEN, summary=summary, due_at=due_at, updated_at=now)
