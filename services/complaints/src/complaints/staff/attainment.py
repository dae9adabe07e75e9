"""SLA attainment for a period, per clock, channel, category and partner: the one query the
console's attainment page reads.

Interim: the suite's attainment report (`GET /v1/reports/attainment`, complaints/report/) is the
figure of record; at the merge this function is replaced by a call to it. Until then it counts
here, from `complaint_clocks` (each clock's current run: met, met late, breached and still open,
running, by its times against `now`, not the stored state that the tick may not have caught up
with) and `sla_alerts` (the breaches of earlier runs: a reopened complaint, a follow-up clock
restarted by a contact, replace the run in `complaint_clocks` but not the breach raised)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

TARGET_SHARE = 0.95  # the share of deadlines to meet on time (the chart's target line)

_OUTCOMES = """
SELECT k.clock, c.channel, c.category, c.partner_id,
       CASE WHEN k.stopped_at IS NOT NULL AND (k.due_at IS NULL OR k.stopped_at <= k.due_at) THEN 'met'
            WHEN k.stopped_at IS NOT NULL THEN 'met_late'
            WHEN k.due_at IS NOT NULL AND k.due_at <= $3 THEN 'breached'
            ELSE 'running' END AS outcome,
       count(*) AS n
  FROM complaint_clocks k JOIN complaints c ON c.id = k.complaint_id
 WHERE k.started_at >= $1 AND k.started_at < $2
 GROUP BY 1, 2, 3, 4, 5
UNION ALL
SELECT a.clock, c.channel, c.category, c.partner_id, 'breached', count(*)
  FROM sla_alerts a JOIN complaints c ON c.id = a.complaint_id
 WHERE a.alert = 'breached' AND a.started_at >= $1 AND a.started_at < $2
   AND NOT EXISTS (SELECT FROM complaint_clocks k WHERE k.complaint_id = a.complaint_id
                      AND k.clock = a.clock AND k.started_at = a.started_at)
 GROUP BY 1, 2, 3, 4
"""


@dataclass
class Tally:
    met: int = 0
    met_late: int = 0
    breached: int = 0
    running: int = 0

    def add(self, outcome: str, count: int) -> None:
        setattr(self, outcome, getattr(self, outcome) + count)

    @property
    def decided(self) -> int:
        """Met, met late, or past due: those whose outcome is known."""
        return self.met + self.met_late + self.breached

    @property
    def share_on_time(self) -> float | None:
        return self.met / self.decided if self.decided else None


@dataclass
class Attainment:
    start: datetime
    end: datetime
    total: Tally = field(default_factory=Tally)
    by_clock: dict[str, Tally] = field(default_factory=dict)
    by_channel: dict[str, Tally] = field(default_factory=dict)
    by_category: dict[str, Tally] = field(default_factory=dict)
    by_partner: dict[UUID | None, Tally] = field(default_factory=dict)


async def attainment(pool: asyncpg.Pool, start: datetime, end: datetime, now: datetime) -> Attainment:
    """Clocks that started in [start, end), their outcomes as of `now`."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_OUTCOMES, start, end, now)
    return tallied(
        start,
        end,
        ((r["clock"], r["channel"], r["category"], r["partner_id"], r["outcome"], r["n"]) for r in rows),
    )


def tallied(
    start: datetime, end: datetime, rows: Iterable[tuple[str, str, str, UUID | None, str, int]]
) -> Attainment:
    result = Attainment(start, end)
    for clock, channel, category, partner, outcome, count in rows:
        result.total.add(outcome, count)
        result.by_clock.setdefault(clock, Tally()).add(outcome, count)
        result.by_channel.setdefault(channel, Tally()).add(outcome, count)
        result.by_category.setdefault(category, Tally()).add(outcome, count)
        result.by_partner.setdefault(partner, Tally()).add(outcome, count)
    return result
