"""HTTP shapes of the reports; every instant in Asia/Shanghai (+08:00)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from urllib.parse import urlencode
from uuid import UUID

from pydantic import BaseModel, Field

from complaints.report import domain
from complaints.report.domain import ClockAttainment, ProductRate, RunResult, Satisfaction, Tally
from complaints.report.service import AttainmentReport, RateReport
from complaints.sla.domain import SHANGHAI, Basis, Category, Channel, ClockKind

TIME_ZONE = SHANGHAI.key
CSV_COLUMNS = (
    "complaint_id",
    "clock",
    "channel",
    "category",
    "partner_id",
    "started_at",
    "due_at",
    "stopped_at",
    "superseded",
    "computed_at",
    "outcome",
    "policy_id",
)


def shown(instant: datetime | None) -> datetime | None:
    return instant.astimezone(SHANGHAI) if instant is not None else None


class TargetCountOut(BaseModel):
    policy_id: UUID | None = Field(description="null: no policy of the clock matched (should not happen)")
    runs: int


class TallyOut(BaseModel):
    runs: int = Field(description="clock runs of the period (see rules.period)")
    met: int
    met_late: int
    breached: int
    running: int
    paused: int
    decided: int = Field(description="met + met_late + breached")
    attainment: float | None = Field(description="met / decided; null when nothing is decided")
    targets: list[TargetCountOut] = Field(description="how many runs had each policy (see policies)")

    @classmethod
    def of(cls, t: Tally) -> TallyOut:
        return cls(
            runs=t.runs,
            met=t.met,
            met_late=t.met_late,
            breached=t.breached,
            running=t.running,
            paused=t.paused,
            decided=t.decided,
            attainment=round(t.attainment, 4) if t.attainment is not None else None,
            targets=[
                TargetCountOut(policy_id=pid, runs=n)
                for pid, n in sorted(t.targets.items(), key=lambda kv: (-kv[1], str(kv[0])))
            ],
        )


class ChannelTallyOut(TallyOut):
    channel: Channel


class CategoryTallyOut(TallyOut):
    category: Category


class PartnerTallyOut(TallyOut):
    partner_id: UUID | None = Field(description="null: complaints about no partner")


class ClockAttainmentOut(BaseModel):
    clock: ClockKind
    total: TallyOut
    by_channel: list[ChannelTallyOut]
    by_category: list[CategoryTallyOut]
    by_partner: list[PartnerTallyOut]
    breach_alerts: int = Field(
        description="breaches the scheduler raised (sla_alerts) with a due time in the period: a cross-check"
    )

    @classmethod
    def of(cls, c: ClockAttainment) -> ClockAttainmentOut:
        def tally(t: Tally) -> dict[str, object]:
            return TallyOut.of(t).model_dump()

        return cls(
            clock=c.clock,
            total=TallyOut.of(c.total),
            by_channel=[
                ChannelTallyOut(channel=k, **tally(t))
                for k, t in sorted(c.by_channel.items(), key=lambda kv: list(Channel).index(kv[0]))
            ],
            by_category=[
                CategoryTallyOut(category=k, **tally(t))
                for k, t in sorted(c.by_category.items(), key=lambda kv: list(Category).index(kv[0]))
            ],
            by_partner=[
                PartnerTallyOut(partner_id=k, **tally(t))
                for k, t in sorted(c.by_partner.items(), key=lambda kv: (kv[0] is not None, str(kv[0])))
            ],
            breach_alerts=c.breach_alerts,
        )


class PolicyTargetOut(BaseModel):
    id: UUID
    clock: ClockKind
    rule: str = Field(description="the target in words")
    target_seconds: int
    basis: Basis
    channel: Channel | None
    category: Category | None
    partner_id: UUID | None
    special_agreement: bool
    pausable: bool
    note: str
    retired_at: datetime | None


class SatisfactionOut(BaseModel):
    category: Category
    count: int
    average: float | None
    scores: dict[str, int] = Field(description="complaints per score, '1' to '5'")

    @classmethod
    def of(cls, s: Satisfaction) -> SatisfactionOut:
        return cls(
            category=s.category,
            count=s.count,
            average=round(s.average, 2) if s.average is not None else None,
            scores={str(k): v for k, v in sorted(s.scores.items())},
        )


class RulesOut(BaseModel):
    period: str = domain.PERIOD_RULE
    outcomes: str = domain.OUTCOME_RULE
    runs: str = domain.RUN_RULE
    targets: str = domain.TARGET_RULE
    satisfaction: str = domain.SATISFACTION_RULE


class DataOut(BaseModel):
    runs: int = Field(description="how many runs the figures come from")
    csv: str = Field(
        description="the runs with their outcomes and policies, one a line (this report, format=csv)"
    )
    columns: list[str]


class AttainmentOut(BaseModel):
    """SLA attainment of each clock for a period, with the rules and the data it came from."""

    from_: datetime = Field(alias="from")
    to: datetime
    as_of: datetime = Field(description="runs not stopped are judged as of this instant")
    time_zone: str
    rules: RulesOut
    clocks: list[ClockAttainmentOut]
    policies: list[PolicyTargetOut] = Field(description="the policies the runs had")
    satisfaction: list[SatisfactionOut]
    data: DataOut

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, report: AttainmentReport, path: str) -> AttainmentOut:
        query = urlencode(
            {
                "from": report.period.start.isoformat(),
                "to": report.period.end.isoformat(),
                "format": "csv",
            }
        )
        return cls(
            from_=shown(report.period.start),
            to=shown(report.period.end),
            as_of=shown(report.as_of),
            time_zone=TIME_ZONE,
            rules=RulesOut(),
            clocks=[ClockAttainmentOut.of(c) for c in report.clocks],
            policies=[
                PolicyTargetOut(
                    id=p.policy.id,
                    clock=p.policy.clock,
                    rule=domain.rule_in_words(p.policy),
                    target_seconds=int(p.policy.target.total_seconds()),
                    basis=p.policy.basis,
                    channel=p.policy.channel,
                    category=p.policy.category,
                    partner_id=p.policy.partner_id,
                    special_agreement=p.policy.is_special_agreement,
                    pausable=p.policy.pausable,
                    note=p.policy.note,
                    retired_at=shown(p.retired_at),
                )
                for p in report.policies
            ],
            satisfaction=[SatisfactionOut.of(s) for s in report.satisfaction],
            data=DataOut(runs=len(report.runs), csv=f"{path}?{query}", columns=list(CSV_COLUMNS)),
        )


def attainment_csv(report: AttainmentReport) -> str:
    """The runs of the report, one a line, in the order of their reporting instant. UTF-8 with a
    BOM, so that a spreadsheet opens it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in report.runs:
        writer.writerow(_csv_row(r))
    return out.getvalue()


def _csv_row(r: RunResult) -> tuple[str, ...]:
    def text(instant: datetime | None) -> str:
        return instant.astimezone(SHANGHAI).isoformat() if instant is not None else ""

    run = r.run
    return (
        str(run.complaint_id),
        run.clock.value,
        run.channel.value,
        run.category.value,
        str(run.partner_id) if run.partner_id else "",
        text(run.started_at),
        text(run.due_at),
        text(run.stopped_at),
        "true" if run.superseded else "false",
        text(run.computed_at),
        r.outcome.value,
        str(r.policy.id) if r.policy else "",
    )


class ProductRateOut(BaseModel):
    product_code: str
    complaints: int
    subscribers: int
    per_10k_subscribers: float | None

    @classmethod
    def of(cls, p: ProductRate) -> ProductRateOut:
        rate = p.per_10k
        return cls(
            product_code=p.product_code,
            complaints=p.complaints,
            subscribers=p.subscribers,
            per_10k_subscribers=round(rate, 2) if rate is not None else None,
        )


class ComplaintRateOut(BaseModel):
    """Complaints per 10,000 subscribers per product for a period."""

    from_: datetime = Field(alias="from")
    to: datetime
    as_of: datetime
    time_zone: str
    rule: str
    products: list[ProductRateOut]

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, report: RateReport) -> ComplaintRateOut:
        return cls(
            from_=shown(report.period.start),
            to=shown(report.period.end),
            as_of=shown(report.as_of),
            time_zone=TIME_ZONE,
            rule=domain.RATE_RULE,
            products=[ProductRateOut.of(p) for p in report.products],
        )
