"""SLA SQL: policies, the clocks as last computed, and the alerts emitted once each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from complaints.sla.domain import Basis, Category, Channel, Clock, ClockKind, Policy, StoppedRun
from vas_common.db import DbConnection

_POLICY_COLUMNS = """
id, clock, target_seconds, basis, channel, category, partner_id, msisdn, pausable, warn_at,
only_if_not_solved_on_call, note
"""


def _policy(row: asyncpg.Record) -> Policy:
    return Policy(
        id=row["id"],
        clock=ClockKind(row["clock"]),
        target=timedelta(seconds=row["target_seconds"]),
        basis=Basis(row["basis"]),
        channel=Channel(row["channel"]) if row["channel"] else None,
        category=Category(row["category"]) if row["category"] else None,
        partner_id=row["partner_id"],
        msisdn=row["msisdn"],
        pausable=row["pausable"],
        warn_at=tuple(round(float(share), 4) for share in row["warn_at"]),
        only_if_not_solved_on_call=row["only_if_not_solved_on_call"],
        note=row["note"],
    )


class PolicyTaken(Exception):
    pass


class SlaRepository:
    async def live_policies(self, conn: DbConnection) -> list[Policy]:
        rows = await conn.fetch(
            f"SELECT {_POLICY_COLUMNS} FROM sla_policies WHERE retired_at IS NULL ORDER BY clock, id"
        )
        return [_policy(r) for r in rows]

    async def insert_policy(self, conn: DbConnection, p: Policy, now: datetime) -> None:
        try:
            await conn.execute(
                f"""
                INSERT INTO sla_policies ({_POLICY_COLUMNS}, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                """,
                p.id,
                p.clock.value,
                int(p.target.total_seconds()),
                p.basis.value,
                p.channel.value if p.channel else None,
                p.category.value if p.category else None,
                p.partner_id,
                p.msisdn,
                p.pausable,
                list(p.warn_at),
                p.only_if_not_solved_on_call,
                p.note,
                now,
            )
        except asyncpg.UniqueViolationError as exc:
            raise PolicyTaken(str(p.id)) from exc

    async def retire_policy(self, conn: DbConnection, policy_id: UUID, now: datetime) -> bool:
        status = await conn.execute(
            "UPDATE sla_policies SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL", policy_id, now
        )
        return status.endswith(" 1")

    # -- clocks ---------------------------------------------------------------------------

    async def save_clocks(
        self,
        conn: DbConnection,
        complaint_id: UUID,
        clocks: Sequence[tuple[Clock, str, datetime | None]],
        now: datetime,
    ) -> None:
        """The complaint's clocks as just computed (with state and next alert time); clocks no
        longer running for it are removed."""
        await conn.execute(
            """
            WITH fresh AS (
                SELECT * FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                                     $6::text[], $7::timestamptz[])
                    AS f(clock, started_at, due_at, stopped_at, state, next_alert_at)
            ), gone AS (
                DELETE FROM complaint_clocks k WHERE k.complaint_id = $1
                   AND NOT EXISTS (SELECT FROM fresh WHERE fresh.clock = k.clock)
            )
            INSERT INTO complaint_clocks (complaint_id, clock, started_at, due_at, stopped_at, state, next_alert_at, computed_at)
            SELECT $1, clock, started_at, due_at, stopped_at, state, next_alert_at, $8 FROM fresh
            ON CONFLICT (complaint_id, clock) DO UPDATE
               SET started_at = EXCLUDED.started_at, due_at = EXCLUDED.due_at, stopped_at = EXCLUDED.stopped_at,
                   state = EXCLUDED.state, next_alert_at = EXCLUDED.next_alert_at, computed_at = EXCLUDED.computed_at
            """,
            complaint_id,
            [c.kind.value for c, _, _ in clocks],
            [c.started_at for c, _, _ in clocks],
            [c.due_at for c, _, _ in clocks],
            [c.stopped_at for c, _, _ in clocks],
            [state for _, state, _ in clocks],
            [next_at for _, _, next_at in clocks],
            now,
        )

    async def due(self, conn: DbConnection, now: datetime, limit: int) -> list[UUID]:
        """Complaints with a clock whose next warning or breach has fallen due, locked for this
        tick (another replica's tick skips them)."""
        rows = await conn.fetch(
            """
            SELECT DISTINCT complaint_id FROM (
                SELECT complaint_id FROM complaint_clocks
                 WHERE next_alert_at <= $1 ORDER BY next_alert_at LIMIT $2
                   FOR UPDATE SKIP LOCKED
            ) d
            """,
            now,
            limit,
        )
        return [r["complaint_id"] for r in rows]

    async def emit_once(
        self,
        conn: DbConnection,
        complaint_id: UUID,
        clock: Clock,
        alert: str,
        fell_due_at: datetime,
        now: datetime,
    ) -> bool:
        """Records the alert; False when it was recorded before (by a replica, or before a restart)."""
        assert clock.due_at is not None
        inserted: bool | None = await conn.fetchval(
            """
            INSERT INTO sla_alerts (complaint_id, clock, started_at, alert, due_at, fell_due_at, emitted_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true
            """,
            complaint_id,
            clock.kind.value,
            clock.started_at,
            alert,
            clock.due_at,
            fell_due_at,
            now,
        )
        return bool(inserted)

    async def stopped_once(
        self, conn: DbConnection, complaint_ids: Sequence[UUID], now: datetime
    ) -> list[tuple[UUID, StoppedRun]]:
        """The complaints' runs that have stopped and were not told before, each recorded as told
        (alert 'stopped') in the same statement: a run is returned once, whatever the replicas.
        One statement for a whole batch of complaints (a recompute of 100,000 open ones)."""
        rows = await conn.fetch(
            """
            WITH stopped AS (
                SELECT r.complaint_id, r.clock, r.started_at, r.due_at, r.stopped_at, r.superseded
                  FROM clock_runs r
                 WHERE r.complaint_id = ANY($1::uuid[]) AND r.stopped_at IS NOT NULL
                   AND NOT EXISTS (SELECT FROM sla_alerts a
                                    WHERE a.complaint_id = r.complaint_id AND a.clock = r.clock
                                      AND a.started_at = r.started_at AND a.alert = 'stopped')
            ), told AS (
                INSERT INTO sla_alerts (complaint_id, clock, started_at, alert, due_at, fell_due_at, emitted_at)
                SELECT complaint_id, clock, started_at, 'stopped', due_at, stopped_at, $2 FROM stopped
                ON CONFLICT DO NOTHING RETURNING complaint_id, clock, started_at
            )
            SELECT s.* FROM stopped s JOIN told t USING (complaint_id, clock, started_at)
             ORDER BY s.complaint_id, s.started_at, s.clock
            """,
            list(complaint_ids),
            now,
        )
        return [
            (
                r["complaint_id"],
                StoppedRun(
                    ClockKind(r["clock"]), r["started_at"], r["due_at"], r["stopped_at"], r["superseded"]
                ),
            )
            for r in rows
        ]

    async def emitted(self, conn: DbConnection, complaint_id: UUID) -> set[tuple[str, datetime, str]]:
        rows = await conn.fetch(
            "SELECT clock, started_at, alert FROM sla_alerts WHERE complaint_id = $1", complaint_id
        )
        return {(r["clock"], r["started_at"], r["alert"]) for r in rows}

    async def clocks_of(self, conn: DbConnection, complaint_id: UUID) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                "SELECT clock, started_at, due_at, stopped_at, state, next_alert_at FROM complaint_clocks"
                " WHERE complaint_id = $1 ORDER BY clock",
                complaint_id,
            )
        )
