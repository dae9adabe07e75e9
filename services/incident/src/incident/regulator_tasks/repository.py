"""Regulator task SQL: one task per (kind, window), written in the caller's transaction."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from incident.regulator_tasks.domain import RegulatorTask, TaskKind, TaskStatus
from vas_common.db import DbConnection

_SELECT = """
SELECT id, kind, window_id, status, summary, due_at, created_at, updated_at, done_at, done_by, note
  FROM regulator_tasks
"""


def _task(row: asyncpg.Record) -> RegulatorTask:
    values = dict(row)
    values["kind"] = TaskKind(values["kind"])
    values["status"] = TaskStatus(values["status"])
    return RegulatorTask(**values)


class RegulatorTaskRepository:
    async def get(
        self, conn: DbConnection, task_id: UUID, *, for_update: bool = False
    ) -> RegulatorTask | None:
        row = await conn.fetchrow(_SELECT + " WHERE id = $1" + (" FOR UPDATE" if for_update else ""), task_id)
        return _task(row) if row else None

    async def of_window(self, conn: DbConnection, kind: TaskKind, window_id: UUID) -> RegulatorTask | None:
        row = await conn.fetchrow(_SELECT + " WHERE kind = $1 AND window_id = $2", kind.value, window_id)
        return _task(row) if row else None

    async def tasks(self, conn: DbConnection, status: TaskStatus | None, limit: int) -> list[RegulatorTask]:
        rows = await conn.fetch(
            _SELECT + " WHERE ($1::text IS NULL OR status = $1) ORDER BY due_at, id LIMIT $2",
            status.value if status else None,
            limit,
        )
        return [_task(r) for r in rows]

    async def save(self, conn: DbConnection, task: RegulatorTask) -> None:
        """Insert, or replace the task of the same (kind, window) in place."""
        await conn.execute(
            """
            INSERT INTO regulator_tasks (id, kind, window_id, status, summary, due_at, created_at, updated_at,
                                         done_at, done_by, note)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (id) DO UPDATE
               SET status = EXCLUDED.status, summary = EXCLUDED.summary, due_at = EXCLUDED.due_at,
                   updated_at = EXCLUDED.updated_at, done_at = EXCLUDED.done_at, done_by = EXCLUDED.done_by,
                   note = EXCLUDED.note
            """,
            task.id,
            task.kind.value,
            task.window_id,
            task.status.value,
            task.summary,
            task.due_at,
            task.created_at,
            task.updated_at,
            task.done_at,
            task.done_by,
            task.note,
        )
