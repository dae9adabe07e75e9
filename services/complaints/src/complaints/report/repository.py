"""Report SQL: the clock runs of a period with their complaints, the policies with their lives,
breach alerts, satisfaction, complaints and subscribers per product, and the open clocks for the
gauges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from complaints.report.domain import (
    Period,
    PolicyRecord,
    Run,
    Satisfaction,
    SubscriptionChange,
)
from complaints.sla.domain import Basis, Category, Channel, ClockKind, ComplaintSubject, Policy
from vas_common.db import DbConnection


def _run(row: asyncpg.Record) -> Run:
    return Run(
        complaint_id=row["complaint_id"],
        clock=ClockKind(row["clock"]),
        subject=ComplaintSubject(
            channel=Channel(row["channel"]),
            category=Category(row["category"]),
            msisdn=row["msisdn"],
            partner_id=row["partner_id"],
            solved_on_call=row["solved_on_call"],
            operator_deadline=row["operator_deadline"],
        ),
        started_at=row["started_at"],
        due_at=row["due_at"],
        stopped_at=row["stopped_at"],
        superseded=row["superseded"],
        computed_at=row["computed_at"],
    )


def _policy(row: asyncpg.Record) -> PolicyRecord:
    return PolicyRecord(
        policy=Policy(
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
        ),
        created_at=row["created_at"],
        retired_at=row["retired_at"],
    )


class ReportRepository:
    async def runs(self, conn: DbConnection, period: Period) -> list[Run]:
        """The runs whose due time, or start when they have none, lies in the period."""
        rows = await conn.fetch(
            """
            SELECT r.complaint_id, r.clock, r.started_at, r.due_at, r.stopped_at, r.superseded,
                   r.computed_at, c.channel, c.category, c.msisdn, c.partner_id, c.solved_on_call,
                   c.operator_deadline
              FROM clock_runs r JOIN complaints c ON c.id = r.complaint_id
             WHERE coalesce(r.due_at, r.started_at) >= $1 AND coalesce(r.due_at, r.started_at) < $2
             ORDER BY coalesce(r.due_at, r.started_at), r.complaint_id, r.clock
            """,
            period.start,
            period.end,
        )
        return [_run(r) for r in rows]

    async def policies(self, conn: DbConnection) -> list[PolicyRecord]:
        """Every policy, retired ones too: a run keeps the target it had."""
        rows = await conn.fetch(
            """
            SELECT id, clock, target_seconds, basis, channel, category, partner_id, msisdn, pausable,
                   warn_at, only_if_not_solved_on_call, note, created_at, retired_at
              FROM sla_policies ORDER BY clock, created_at, id
            """
        )
        return [_policy(r) for r in rows]

    async def breach_alerts(self, conn: DbConnection, period: Period) -> dict[ClockKind, int]:
        rows = await conn.fetch(
            """
            SELECT clock, count(*) AS n FROM sla_alerts
             WHERE alert = 'breached' AND due_at >= $1 AND due_at < $2 GROUP BY clock
            """,
            period.start,
            period.end,
        )
        return {ClockKind(r["clock"]): r["n"] for r in rows}

    async def satisfaction(self, conn: DbConnection, period: Period) -> list[Satisfaction]:
        """Per category, the scores of complaints whose satisfaction was last recorded in the period."""
        rows = await conn.fetch(
            """
            WITH recorded AS (
                SELECT complaint_id, max(occurred_at) AS last_at FROM complaint_events
                 WHERE kind = 'satisfaction_recorded' GROUP BY complaint_id
            )
            SELECT c.category, c.satisfaction AS score, count(*) AS n
              FROM recorded s JOIN complaints c ON c.id = s.complaint_id
             WHERE s.last_at >= $1 AND s.last_at < $2 AND c.satisfaction IS NOT NULL
             GROUP BY c.category, c.satisfaction
            """,
            period.start,
            period.end,
        )
        found: dict[Category, dict[int, int]] = {}
        for r in rows:
            found.setdefault(Category(r["category"]), {})[r["score"]] = r["n"]
        return [
            Satisfaction(category, {s: scores.get(s, 0) for s in range(1, 6)})
            for category, scores in sorted(found.items(), key=lambda kv: list(Category).index(kv[0]))
        ]

    async def complaints_per_product(self, conn: DbConnection, period: Period) -> dict[str, int]:
        rows = await conn.fetch(
            """
            SELECT upper(product_code) AS code, count(*) AS n FROM complaints
             WHERE product_code IS NOT NULL AND created_at >= $1 AND created_at < $2
             GROUP BY upper(product_code)
            """,
            period.start,
            period.end,
        )
        return {r["code"]: r["n"] for r in rows}

    async def subscribers_per_product(self, conn: DbConnection, period: Period) -> dict[str, int]:
        """Distinct numbers per product with a subscription active at some moment of the period:
        an active change before the period's end, not followed by another change by the
        period's start."""
        rows = await conn.fetch(
            """
            WITH spans AS (
                SELECT product_code, msisdn, status,
                       lead(occurred_at) OVER (PARTITION BY subscription_id
                                               ORDER BY occurred_at, status = 'active' DESC) AS until
                  FROM subscription_changes WHERE occurred_at < $2
            )
            SELECT upper(product_code) AS code, count(DISTINCT msisdn) AS n FROM spans
             WHERE status = 'active' AND (until IS NULL OR until > $1)
             GROUP BY upper(product_code)
            """,
            period.start,
            period.end,
        )
        return {r["code"]: r["n"] for r in rows}

    async def note_changes(
        self, conn: DbConnection, changes: Sequence[SubscriptionChange], now: datetime
    ) -> int:
        """Each change once (natural key); returns how many were new."""
        if not changes:
            return 0
        status = await conn.execute(
            """
            INSERT INTO subscription_changes (subscription_id, occurred_at, status, product_code,
                                              partner_id, msisdn, event_id, received_at)
            SELECT *, $8::timestamptz FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[],
                                                  $5::uuid[], $6::text[], $7::uuid[])
            ON CONFLICT DO NOTHING
            """,
            [c.subscription_id for c in changes],
            [c.occurred_at for c in changes],
            [c.status.value for c in changes],
            [c.product_code for c in changes],
            [c.partner_id for c in changes],
            [c.msisdn for c in changes],
            [c.event_id for c in changes],
            now,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def open_clocks(self, conn: DbConnection, now: datetime) -> list[tuple[str, str, int]]:
        """(clock, state, count) of the clocks not stopped of open complaints, their state as of now."""
        rows = await conn.fetch(
            """
            SELECT k.clock,
                   CASE WHEN k.due_at IS NULL THEN 'paused' WHEN k.due_at <= $1 THEN 'breached'
                        ELSE 'running' END AS state,
                   count(*) AS n
              FROM complaint_clocks k JOIN complaints c ON c.id = k.complaint_id
             WHERE k.stopped_at IS NULL AND c.status IN ('open', 'waiting_on_user')
             GROUP BY 1, 2
            """,
            now,
        )
        return [(r["clock"], r["state"], r["n"]) for r in rows]

    async def open_complaints(self, conn: DbConnection, now: datetime) -> list[tuple[str, int]]:
        """(SLA state, count) of open complaints: breached when any clock is, else running when
        any runs, else paused when any is, else no_clock_running."""
        rows = await conn.fetch(
            """
            SELECT state, count(*) AS n FROM (
                SELECT CASE WHEN bool_or(k.due_at <= $1) THEN 'breached'
                            WHEN bool_or(k.due_at > $1) THEN 'running'
                            WHEN bool_or(k.complaint_id IS NOT NULL) THEN 'paused'
                            ELSE 'no_clock_running' END AS state
                  FROM complaints c
                  LEFT JOIN complaint_clocks k ON k.complaint_id = c.id AND k.stopped_at IS NULL
                 WHERE c.status IN ('open', 'waiting_on_user')
                 GROUP BY c.id
            ) s GROUP BY state
            """,
            now,
        )
        return [(r["state"], r["n"]) for r in rows]
