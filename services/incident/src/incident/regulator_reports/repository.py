"""Regulator report SQL: the rules, the reports with their stages, the alerts raised once each,
and the messages outages delayed or failed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from incident.regulator_reports.domain import Alert, Report, Rule, Stage, StageRecord
from vas_common.db import DbConnection

_RULE_COLUMNS = """
id, severity, first_within_s, first_warn_before_s, final_within_s, final_warn_before_s, basis, revision,
updated_at, updated_by
"""
_REPORT_COLUMNS = "id, incident_id, rule, withdrawn_at, cause, actions, created_at, updated_at, updated_by"
_STAGE_COLUMNS = "report_id, stage, due_at, warn_at, sent_at, sent_by, sent_via, reference, recorded_at"


def _rule(row: asyncpg.Record) -> Rule:
    return Rule(
        id=row["id"],
        severity=row["severity"],
        first_within=timedelta(seconds=row["first_within_s"]),
        first_warn_before=timedelta(seconds=row["first_warn_before_s"]),
        final_within=timedelta(seconds=row["final_within_s"]),
        final_warn_before=timedelta(seconds=row["final_warn_before_s"]),
        basis=row["basis"],
        revision=row["revision"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _stage(row: asyncpg.Record) -> StageRecord:
    values = dict(row)
    values.pop("report_id")
    values["stage"] = Stage(values["stage"])
    return StageRecord(**values)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class RegulatorReportRepository:
    # -- rules ----------------------------------------------------------------------------

    async def rules(self, conn: DbConnection) -> list[Rule]:
        rows = await conn.fetch(f"SELECT {_RULE_COLUMNS} FROM regulator_report_rules ORDER BY id")
        return [_rule(r) for r in rows]

    async def rule_for(self, conn: DbConnection, severity: str) -> Rule | None:
        row = await conn.fetchrow(
            f"SELECT {_RULE_COLUMNS} FROM regulator_report_rules WHERE severity = $1", severity
        )
        return _rule(row) if row else None

    async def update_rule(self, conn: DbConnection, rule: Rule) -> Rule | None:
        """The rule's figures changed, its revision one more; None when there is no such rule."""
        row = await conn.fetchrow(
            f"""
            UPDATE regulator_report_rules
               SET first_within_s = $2, first_warn_before_s = $3, final_within_s = $4,
                   final_warn_before_s = $5, basis = $6, revision = revision + 1, updated_at = $7,
                   updated_by = $8
             WHERE id = $1
            RETURNING {_RULE_COLUMNS}
            """,
            rule.id,
            int(rule.first_within.total_seconds()),
            int(rule.first_warn_before.total_seconds()),
            int(rule.final_within.total_seconds()),
            int(rule.final_warn_before.total_seconds()),
            rule.basis,
            rule.updated_at,
            rule.updated_by,
        )
        return _rule(row) if row else None

    # -- reports --------------------------------------------------------------------------

    async def _reports(self, conn: DbConnection, where: str, *args: Any) -> list[Report]:
        rows = await conn.fetch(f"SELECT {_REPORT_COLUMNS} FROM regulator_reports WHERE {where}", *args)
        if not rows:
            return []
        stage_rows = await conn.fetch(
            f"SELECT {_STAGE_COLUMNS} FROM regulator_report_stages WHERE report_id = ANY($1::uuid[])",
            [r["id"] for r in rows],
        )
        by_report: dict[UUID, dict[Stage, StageRecord]] = {}
        for s in stage_rows:
            by_report.setdefault(s["report_id"], {})[Stage(s["stage"])] = _stage(s)
        return [
            Report(
                id=r["id"],
                incident_id=r["incident_id"],
                rule=Rule.of_snapshot(_json(r["rule"])),
                first=by_report[r["id"]][Stage.FIRST],
                final=by_report[r["id"]][Stage.FINAL],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                updated_by=r["updated_by"],
                withdrawn_at=r["withdrawn_at"],
                cause=r["cause"],
                actions=r["actions"],
            )
            for r in rows
        ]

    async def get(self, conn: DbConnection, report_id: UUID, *, for_update: bool = False) -> Report | None:
        lock = " FOR UPDATE" if for_update else ""
        found = await self._reports(conn, f"id = $1{lock}", report_id)
        return found[0] if found else None

    async def of_incident(self, conn: DbConnection, incident_id: UUID) -> Report | None:
        found = await self._reports(conn, "incident_id = $1 FOR UPDATE", incident_id)
        return found[0] if found else None

    async def page(self, conn: DbConnection, *, open_only: bool, limit: int) -> list[Report]:
        """Newest first; `open_only`: those whose final report is not sent, not withdrawn."""
        where = "true"
        if open_only:
            where = """withdrawn_at IS NULL AND EXISTS (
                SELECT 1 FROM regulator_report_stages s
                 WHERE s.report_id = regulator_reports.id AND s.stage = 'final' AND s.sent_at IS NULL)"""
        return await self._reports(conn, f"{where} ORDER BY created_at DESC, id LIMIT $1", limit)

    async def insert(self, conn: DbConnection, report: Report) -> bool:
        """False when the incident has its report already (another replica wrote it first)."""
        inserted = await conn.fetchval(
            f"""
            INSERT INTO regulator_reports ({_REPORT_COLUMNS}, rule_id)
            VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (incident_id) DO NOTHING RETURNING true
            """,
            report.id,
            report.incident_id,
            json.dumps(report.rule.snapshot()),
            report.withdrawn_at,
            report.cause,
            report.actions,
            report.created_at,
            report.updated_at,
            report.updated_by,
            report.rule.id,
        )
        if not inserted:
            return False
        await self._save_stages(conn, report)
        return True

    async def update(self, conn: DbConnection, report: Report) -> None:
        await conn.execute(
            """
            UPDATE regulator_reports SET withdrawn_at = $2, cause = $3, actions = $4, updated_at = $5,
                   updated_by = $6
             WHERE id = $1
            """,
            report.id,
            report.withdrawn_at,
            report.cause,
            report.actions,
            report.updated_at,
            report.updated_by,
        )
        await self._save_stages(conn, report)

    async def _save_stages(self, conn: DbConnection, report: Report) -> None:
        await conn.executemany(
            f"""
            INSERT INTO regulator_report_stages ({_STAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (report_id, stage) DO UPDATE
               SET due_at = EXCLUDED.due_at, warn_at = EXCLUDED.warn_at, sent_at = EXCLUDED.sent_at,
                   sent_by = EXCLUDED.sent_by, sent_via = EXCLUDED.sent_via, reference = EXCLUDED.reference,
                   recorded_at = EXCLUDED.recorded_at
            """,
            [
                (
                    report.id,
                    s.stage.value,
                    s.due_at,
                    s.warn_at,
                    s.sent_at,
                    s.sent_by,
                    s.sent_via,
                    s.reference,
                    s.recorded_at,
                )
                for s in (report.first, report.final)
            ],
        )

    # -- alerts ---------------------------------------------------------------------------

    async def alerting(self, conn: DbConnection, now: datetime, limit: int) -> list[Report]:
        """Reports with an unsent stage whose warning time has come and whose overdue alert for
        its current due time was not raised yet."""
        return await self._reports(
            conn,
            """withdrawn_at IS NULL AND id IN (
                SELECT s.report_id FROM regulator_report_stages s
                 WHERE s.sent_at IS NULL AND s.warn_at <= $1
                   AND NOT EXISTS (SELECT 1 FROM regulator_report_alerts a
                                    WHERE a.report_id = s.report_id AND a.stage = s.stage
                                      AND a.due_at = s.due_at AND a.alert = 'overdue')
                 ORDER BY s.warn_at LIMIT $2)""",
            now,
            limit,
        )

    async def emit_once(
        self,
        conn: DbConnection,
        report_id: UUID,
        stage: Stage,
        alert: Alert,
        due_at: datetime,
        fell_due_at: datetime,
        now: datetime,
    ) -> bool:
        """Records the alert; False when it was recorded before (by a replica, or before a restart)."""
        inserted: bool | None = await conn.fetchval(
            """
            INSERT INTO regulator_report_alerts (report_id, stage, due_at, alert, fell_due_at, emitted_at)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true
            """,
            report_id,
            stage.value,
            due_at,
            alert.value,
            fell_due_at,
            now,
        )
        return bool(inserted)

    async def unfinished(self, conn: DbConnection) -> list[Report]:
        """Reports not withdrawn whose final report is not sent (what the gauge judges by time)."""
        return await self.page(conn, open_only=True, limit=100_000)

    async def finished_counts(self, conn: DbConnection) -> dict[str, int]:
        """{"sent": reports whose final report was sent, "withdrawn": those withdrawn}."""
        row = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE r.withdrawn_at IS NOT NULL) AS withdrawn,
                   count(*) FILTER (WHERE r.withdrawn_at IS NULL AND s.sent_at IS NOT NULL) AS sent
              FROM regulator_reports r JOIN regulator_report_stages s ON s.report_id = r.id AND s.stage = 'final'
            """
        )
        assert row is not None
        return {"sent": row["sent"], "withdrawn": row["withdrawn"]}

    # -- message impacts (sms.status) -----------------------------------------------------

    async def record_impacts(self, conn: DbConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        """(message_id, recipient_hash, product_code, accepted_at, delay_s, delayed, failed);
        a message seen again keeps what it was flagged with before (a redelivery changes nothing)."""
        await conn.executemany(
            """
            INSERT INTO message_impacts (message_id, recipient_hash, product_code, accepted_at, delay_s,
                                         delayed, failed)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (message_id) DO UPDATE
               SET delay_s = coalesce(message_impacts.delay_s, EXCLUDED.delay_s),
                   delayed = message_impacts.delayed OR EXCLUDED.delayed,
                   failed = message_impacts.failed OR EXCLUDED.failed
            """,
            rows,
        )

    async def impact_counts(
        self, conn: DbConnection, start: datetime, end: datetime, products: Sequence[str]
    ) -> tuple[int, int, int]:
        """(delayed, failed, distinct users) of the messages the interval [start, end) touched,
        of `products` when some are named: accepted before its end and submitted (or, never
        submitted, accepted) after its start, so a message queued before the impact began and
        held up by it counts too. Messages held up longer than a day before the start are not
        looked for (the bound keeps the index in use)."""
        row = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE delayed) AS delayed, count(*) FILTER (WHERE failed) AS failed,
                   count(DISTINCT recipient_hash) AS users
              FROM message_impacts
             WHERE accepted_at < $2::timestamptz AND accepted_at >= $1::timestamptz - interval '1 day'
               AND accepted_at + coalesce(delay_s, 0) * interval '1 second' >= $1::timestamptz
               AND (cardinality($3::text[]) = 0 OR product_code = ANY($3::text[]))
            """,
            start,
            end,
            list(products),
        )
        assert row is not None
        return row["delayed"], row["failed"], row["users"]

    async def service_key(self, conn: DbConnection, name: str) -> bytes:
        key: bytes | None = await conn.fetchval("SELECT value FROM service_keys WHERE name = $1", name)
        if key is None:
            raise LookupError(f"no service key {name!r}: are the migrations applied?")
        return key
