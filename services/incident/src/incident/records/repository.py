"""SQL of the records: holds, what retention may delete (and deleting it), and the export.

An incident goes with its merge family: the incidents merged into it (at any depth), their
timelines, faults and regulator reports. A family is deleted only when its surviving incident was resolved before
the cut-off and no member is held. A maintenance window goes with its notices and regulator task
when it ended (completed or cancelled) before the cut-off and is not held."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from incident.records.domain import RecordHold
from vas_common.db import DbConnection

_HOLD_COLUMNS = "id, incident_id, window_id, holder, reason, placed_at, placed_by, released_at, released_by"

# Every incident with the surviving incident of its merge family (itself when not merged).
_FAMILIES = """
    WITH RECURSIVE family (id, survivor) AS (
        SELECT id, id FROM incidents WHERE merged_into IS NULL
        UNION ALL
        SELECT i.id, f.survivor FROM incidents i JOIN family f ON i.merged_into = f.id
    )
"""

_HELD_SURVIVORS = """
    held_survivors AS (
        SELECT DISTINCT f.survivor FROM family f
          JOIN record_holds h ON h.incident_id = f.id AND h.released_at IS NULL
    ),
    old_survivors AS (
        SELECT id AS survivor FROM incidents
         WHERE merged_into IS NULL AND status = 'resolved' AND resolved_at < $1
    )
"""

_OLD_WINDOWS = """
    SELECT id FROM maintenance_windows
     WHERE status IN ('completed', 'cancelled') AND coalesce(completed_at, cancelled_at) < $1
"""


def _hold(row: Any) -> RecordHold:
    return RecordHold(**{k: row[k] for k in _HOLD_COLUMNS.split(", ")})


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class RecordsRepository:
    # -- holds ------------------------------------------------------------------------------

    async def place_hold(self, conn: DbConnection, hold: RecordHold) -> RecordHold | None:
        """The hold, or None when the holder already holds the record (the one in force stays)."""
        row = await conn.fetchrow(
            f"""
            INSERT INTO record_holds ({_HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)
            ON CONFLICT DO NOTHING
            RETURNING {_HOLD_COLUMNS}
            """,
            hold.id,
            hold.incident_id,
            hold.window_id,
            hold.holder,
            hold.reason,
            hold.placed_at,
            hold.placed_by,
        )
        return _hold(row) if row else None

    async def hold_in_force(
        self, conn: DbConnection, incident_id: UUID | None, window_id: UUID | None, holder: str
    ) -> RecordHold | None:
        row = await conn.fetchrow(
            f"""
            SELECT {_HOLD_COLUMNS} FROM record_holds
             WHERE incident_id IS NOT DISTINCT FROM $1 AND window_id IS NOT DISTINCT FROM $2
               AND holder = $3 AND released_at IS NULL
            """,
            incident_id,
            window_id,
            holder,
        )
        return _hold(row) if row else None

    async def release_hold(
        self, conn: DbConnection, hold_id: UUID, at: datetime, by: str
    ) -> RecordHold | None:
        row = await conn.fetchrow(
            f"""
            UPDATE record_holds SET released_at = coalesce(released_at, $2), released_by = coalesce(released_by, $3)
             WHERE id = $1
            RETURNING {_HOLD_COLUMNS}
            """,
            hold_id,
            at,
            by,
        )
        return _hold(row) if row else None

    async def holds(self, conn: DbConnection, *, in_force_only: bool) -> list[RecordHold]:
        where = "WHERE released_at IS NULL" if in_force_only else ""
        rows = await conn.fetch(f"SELECT {_HOLD_COLUMNS} FROM record_holds {where} ORDER BY placed_at, id")
        return [_hold(r) for r in rows]

    async def incident_exists(self, conn: DbConnection, incident_id: UUID) -> bool:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM incidents WHERE id = $1)", incident_id))

    async def window_exists(self, conn: DbConnection, window_id: UUID) -> bool:
        found = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM maintenance_windows WHERE id = $1)", window_id
        )
        return bool(found)

    # -- retention ----------------------------------------------------------------------------

    async def delete_old_incidents(self, conn: DbConnection, cutoff: datetime) -> tuple[int, int]:
        """(incidents deleted, incidents old enough but held)."""
        doomed = await conn.fetch(
            f"""
            {_FAMILIES}, {_HELD_SURVIVORS}
            SELECT f.id, (f.survivor IN (SELECT survivor FROM held_survivors)) AS held
              FROM family f WHERE f.survivor IN (SELECT survivor FROM old_survivors)
            """,
            cutoff,
        )
        ids = [r["id"] for r in doomed if not r["held"]]
        held = sum(1 for r in doomed if r["held"])
        if ids:
            await conn.execute("DELETE FROM incident_timeline WHERE incident_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM signal_faults WHERE incident_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM record_holds WHERE incident_id = ANY($1::uuid[])", ids)
            reports = "SELECT id FROM regulator_reports WHERE incident_id = ANY($1::uuid[])"
            await conn.execute(f"DELETE FROM regulator_report_alerts WHERE report_id IN ({reports})", ids)
            await conn.execute(f"DELETE FROM regulator_report_stages WHERE report_id IN ({reports})", ids)
            await conn.execute("DELETE FROM regulator_reports WHERE incident_id = ANY($1::uuid[])", ids)
            # one statement: a survivor and the incidents merged into it go together
            await conn.execute("DELETE FROM incidents WHERE id = ANY($1::uuid[])", ids)
        return len(ids), held

    async def delete_old_message_impacts(self, conn: DbConnection, cutoff: datetime) -> int:
        """The delayed or failed messages noted for regulator reports' figures, accepted before the
        cut-off: the reports that counted them were made long before."""
        done = await conn.execute("DELETE FROM message_impacts WHERE accepted_at < $1", cutoff)
        return int(str(done).rsplit(" ", 1)[-1])

    async def delete_old_windows(self, conn: DbConnection, cutoff: datetime) -> tuple[int, int]:
        """(windows deleted, windows old enough but held)."""
        rows = await conn.fetch(
            f"""
            SELECT w.id, EXISTS (
                       SELECT 1 FROM record_holds h WHERE h.window_id = w.id AND h.released_at IS NULL
                   ) AS held
              FROM ({_OLD_WINDOWS}) w
            """,
            cutoff,
        )
        ids = [r["id"] for r in rows if not r["held"]]
        if ids:
            await conn.execute("DELETE FROM maintenance_notices WHERE window_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM regulator_tasks WHERE window_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM record_holds WHERE window_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM maintenance_windows WHERE id = ANY($1::uuid[])", ids)
        return len(ids), sum(1 for r in rows if r["held"])

    async def note_run(self, conn: DbConnection, run_id: UUID, at: datetime, counts: tuple[Any, ...]) -> None:
        await conn.execute(
            """
            INSERT INTO retention_runs
                (id, ran_at, cutoff, incidents_deleted, windows_deleted, incidents_held, windows_held)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            run_id,
            at,
            *counts,
        )

    # -- export -------------------------------------------------------------------------------

    async def export(self, conn: DbConnection, start: datetime, end: datetime) -> dict[str, list[Any]]:
        """The records of a period as stored (each row as JSON): incidents whose impact started
        in it with their timelines and regulator reports, maintenance windows starting in it with their notices and
        regulator tasks, and every hold on them."""
        incidents = await conn.fetch(
            """
            SELECT to_jsonb(i)
                   || jsonb_build_object('timeline', coalesce((
                          SELECT jsonb_agg(to_jsonb(t) - 'incident_id' ORDER BY t.at, t.recorded_at)
                            FROM incident_timeline t WHERE t.incident_id = i.id), '[]'::jsonb))
                   || jsonb_build_object('regulator_reports', coalesce((
                          SELECT jsonb_agg(to_jsonb(r) || jsonb_build_object('stages', coalesce((
                                     SELECT jsonb_agg(to_jsonb(st) - 'report_id' ORDER BY st.stage)
                                       FROM regulator_report_stages st WHERE st.report_id = r.id), '[]'::jsonb)))
                            FROM regulator_reports r WHERE r.incident_id = i.id), '[]'::jsonb))
              FROM incidents i WHERE i.impact_started_at >= $1 AND i.impact_started_at < $2
             ORDER BY i.seq
            """,
            start,
            end,
        )
        windows = await conn.fetch(
            """
            SELECT to_jsonb(w)
                   || jsonb_build_object('notices', coalesce((
                          SELECT jsonb_agg(to_jsonb(n) - 'window_id' ORDER BY n.notice)
                            FROM maintenance_notices n WHERE n.window_id = w.id), '[]'::jsonb))
                   || jsonb_build_object('regulator_tasks', coalesce((
                          SELECT jsonb_agg(to_jsonb(r) - 'window_id' ORDER BY r.created_at)
                            FROM regulator_tasks r WHERE r.window_id = w.id), '[]'::jsonb))
              FROM maintenance_windows w WHERE w.starts_at >= $1 AND w.starts_at < $2
             ORDER BY w.starts_at, w.id
            """,
            start,
            end,
        )
        holds = await conn.fetch(
            """
            SELECT to_jsonb(h) FROM record_holds h
             WHERE h.incident_id IN (SELECT id FROM incidents WHERE impact_started_at >= $1 AND impact_started_at < $2)
                OR h.window_id IN (SELECT id FROM maintenance_windows WHERE starts_at >= $1 AND starts_at < $2)
             ORDER BY h.placed_at, h.id
            """,
            start,
            end,
        )
        return {
            "incidents": [_json(r[0]) for r in incidents],
            "maintenance_windows": [_json(r[0]) for r in windows],
            "holds": [_json(r[0]) for r in holds],
        }
