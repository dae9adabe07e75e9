"""SLA attainment for a period, per clock, channel, category and partner, as the console's
attainment page shows it: the runs of the suite's attainment report (`complaints/report/`,
`GET /v1/reports/attainment`), tallied for the page's tables and chart, so the page and the
report of record give the same figures by the same rule (a run counts in the period that
holds its due time; a paused one without a due time, in the period it started)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from complaints.report.domain import RunResult

TARGET_SHARE = 0.95  # the share of deadlines to meet on time (the chart's target line)


@dataclass
class Tally:
    met: int = 0
    met_late: int = 0
    breached: int = 0
    running: int = 0
    paused: int = 0

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


def of_report(start: datetime, end: datetime, runs: Iterable[RunResult]) -> Attainment:
    """The report's runs, tallied per clock, channel, category and partner."""
    return tallied(
        start,
        end,
        (
            (
                r.run.clock.value,
                r.run.channel.value,
                r.run.category.value,
                r.run.partner_id,
                r.outcome.value,
                1,
            )
            for r in runs
        ),
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
