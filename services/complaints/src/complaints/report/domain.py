"""The quality report's rules: which clock runs belong to a period, what became of each, the
attainment share, which policy (target) each run had and that rule in words, and the complaint
rate per 10,000 subscribers. Pure: no I/O; anyone holding the same rows gets the same figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from complaints.sla import domain as sla
from complaints.sla.domain import Basis, Category, Channel, ClockKind, ComplaintSubject, Policy

PERIOD_RULE = (
    "A clock run belongs to the period [from, to) that holds its due time; a run without a due "
    "time (paused, waiting on the user, before its target ran out) belongs to the period in which "
    "it started."
)
OUTCOME_RULE = (
    "Each run as of `as_of`: met = stopped no later than its due time (or stopped while paused); "
    "met_late = stopped after its due time; breached = not stopped and past its due time; "
    "running = not stopped and due after as_of; paused = waiting on the user, no due time. "
    "decided = met + met_late + breached; attainment = met / decided (null when nothing is decided)."
)
RUN_RULE = (
    "A clock starts a run when the complaint is made and again when it is reopened; the follow-up "
    "clock also at each contact, which ends the run before it (met if the contact came in time). "
    "Due times are the service's own, computed from the complaint's history, its policy and the "
    "business calendar (Asia/Shanghai working days, holidays and make-up working days)."
)
TARGET_RULE = (
    "The target of a run is the most specific policy for its clock that was live when the service "
    "last computed the run (a user's, a partner's, channel and category, channel or category, every "
    "complaint)."
)
SATISFACTION_RULE = (
    "Scores (1-5) of complaints whose satisfaction was last recorded in [from, to), by category."
)
RATE_RULE = (
    "Complaints about a product made in [from, to) (complaints.product_code, by the time the user "
    "complained) per 10,000 subscribers: the distinct numbers with a subscription to the product "
    "active at some moment of [from, to), as learnt from subscription.events. No subscribers known: "
    "no rate."
)


class Outcome(StrEnum):
    MET = "met"
    MET_LATE = "met_late"
    BREACHED = "breached"
    RUNNING = "running"
    PAUSED = "paused"


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    def holds(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class Run:
    """One run of one clock of one complaint, as the service last computed it."""

    complaint_id: UUID
    clock: ClockKind
    subject: ComplaintSubject
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    superseded: bool  # stopped by the clock's next run (a contact restarted the follow-up)
    computed_at: datetime

    @property
    def channel(self) -> Channel:
        return self.subject.channel

    @property
    def category(self) -> Category:
        return self.subject.category

    @property
    def partner_id(self) -> UUID | None:
        return self.subject.partner_id

    @property
    def reported_at(self) -> datetime:
        """The instant that puts the run in a period: its due time, else its start."""
        return self.due_at if self.due_at is not None else self.started_at

    def outcome(self, as_of: datetime) -> Outcome:
        if self.stopped_at is not None:
            late = self.due_at is not None and self.stopped_at > self.due_at
            return Outcome.MET_LATE if late else Outcome.MET
        if self.due_at is None:
            return Outcome.PAUSED
        return Outcome.BREACHED if self.due_at <= as_of else Outcome.RUNNING


@dataclass(frozen=True)
class PolicyRecord:
    """A policy row with its life: live from created_at until retired_at."""

    policy: Policy
    created_at: datetime
    retired_at: datetime | None

    def live_at(self, instant: datetime) -> bool:
        return self.created_at <= instant and (self.retired_at is None or instant < self.retired_at)


def policy_of(run: Run, policies: Sequence[PolicyRecord]) -> Policy | None:
    """The policy the run was computed under: the most specific one for its clock live when the
    run was last computed. A run computed before any policy of its clock was created (a clock
    set back, as in tests) takes the most specific one not yet retired then."""
    of_clock = [p for p in policies if p.policy.clock is run.clock]
    for candidates in (
        [p.policy for p in of_clock if p.live_at(run.computed_at)],
        [p.policy for p in of_clock if p.retired_at is None or run.computed_at < p.retired_at],
    ):
        chosen = sla.policies_for(run.subject, candidates)
        if chosen:
            return chosen[0]
    return None


# -- tallies ------------------------------------------------------------------------------------


@dataclass
class Tally:
    runs: int = 0
    met: int = 0
    met_late: int = 0
    breached: int = 0
    running: int = 0
    paused: int = 0
    targets: dict[UUID | None, int] = field(default_factory=dict)  # policy id -> runs

    def add(self, outcome: Outcome, policy: Policy | None) -> None:
        self.runs += 1
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
        key = policy.id if policy is not None else None
        self.targets[key] = self.targets.get(key, 0) + 1

    @property
    def decided(self) -> int:
        return self.met + self.met_late + self.breached

    @property
    def attainment(self) -> float | None:
        return self.met / self.decided if self.decided else None


@dataclass
class ClockAttainment:
    clock: ClockKind
    total: Tally = field(default_factory=Tally)
    by_channel: dict[Channel, Tally] = field(default_factory=dict)
    by_category: dict[Category, Tally] = field(default_factory=dict)
    by_partner: dict[UUID | None, Tally] = field(default_factory=dict)
    breach_alerts: int = 0  # breaches the scheduler raised for runs due in the period (a cross-check)


@dataclass(frozen=True)
class RunResult:
    """A run of the period with what the report made of it: the data it came from."""

    run: Run
    outcome: Outcome
    policy: Policy | None


def judge(runs: Iterable[Run], policies: Sequence[PolicyRecord], as_of: datetime) -> list[RunResult]:
    return [RunResult(run, run.outcome(as_of), policy_of(run, policies)) for run in runs]


def attainment(results: Iterable[RunResult], breach_alerts: dict[ClockKind, int]) -> list[ClockAttainment]:
    """Per clock (in the order of ClockKind), with every clock that has runs or raised alerts."""
    clocks: dict[ClockKind, ClockAttainment] = {}
    for r in results:
        entry = clocks.setdefault(r.run.clock, ClockAttainment(r.run.clock))
        entry.total.add(r.outcome, r.policy)
        entry.by_channel.setdefault(r.run.channel, Tally()).add(r.outcome, r.policy)
        entry.by_category.setdefault(r.run.category, Tally()).add(r.outcome, r.policy)
        entry.by_partner.setdefault(r.run.partner_id, Tally()).add(r.outcome, r.policy)
    for clock, count in breach_alerts.items():
        clocks.setdefault(clock, ClockAttainment(clock)).breach_alerts = count
    order = list(ClockKind)
    return [clocks[k] for k in sorted(clocks, key=order.index)]


# -- targets in words ---------------------------------------------------------------------------

_WHAT: dict[ClockKind, str] = {
    ClockKind.SOLUTION: "a solution offered",
    ClockKind.FIRST_REPLY: "a first reply",
    ClockKind.ANSWERED: "a substantive answer to the user",
    ClockKind.CLOSURE: "internal closure (resolved)",
    ClockKind.FEEDBACK_REPLY: "a reply to the feedback",
    ClockKind.FOLLOW_UP: "a contact with the user",
    ClockKind.OPERATOR_DEADLINE: "resolved",
}


def _duration(amount: timedelta) -> str:
    seconds = int(amount.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def scope_in_words(p: Policy) -> str:
    parts = []
    if p.channel is not None:
        parts.append(f"{p.channel.value}")
    if p.category is not None:
        parts.append(f"{p.category.value}")
    scope = (" ".join(parts) + " complaints") if parts else "every complaint"
    if p.partner_id is not None:
        scope += f" about partner {p.partner_id} (special agreement)"
    if p.msisdn is not None:
        scope += " of one user (special agreement)"
    if p.only_if_not_solved_on_call:
        scope += " not solved on the call"
    return scope


def rule_in_words(p: Policy) -> str:
    """The target as a sentence, e.g. 'web complaints: a first reply within 4 h of calendar time
    (7x24)'."""
    what = _WHAT[p.clock]
    if p.clock is ClockKind.OPERATOR_DEADLINE:
        when = "by the deadline the operator set when forwarding it"
    elif p.clock is ClockKind.FOLLOW_UP:
        when = f"at least every {_duration(p.target)} while it is open (calendar time)"
    elif p.basis is Basis.CALENDAR:
        when = f"within {_duration(p.target)} of calendar time (7x24)"
    elif p.basis is Basis.WORKING_HOURS:
        when = f"within {_duration(p.target)} of working time (working hours of working days)"
    elif p.basis is Basis.WORKING_DAYS:
        days = p.target.days
        when = (
            f"within {days} working day{'s' if days != 1 else ''} "
            "(that many full working days of working time: holidays and weekends do not count, "
            "make-up working days do)"
        )
    else:
        days = p.target.days
        when = f"by the end of the {_ordinal(days)} Asia/Shanghai day after it starts"
    pause = "; waiting on the user does not count" if p.pausable else ""
    return f"{scope_in_words(p)}: {what} {when}{pause}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -- satisfaction and the complaint rate ------------------------------------------------------


@dataclass(frozen=True)
class Satisfaction:
    category: Category
    scores: dict[int, int]  # score 1..5 -> complaints

    @property
    def count(self) -> int:
        return sum(self.scores.values())

    @property
    def average(self) -> float | None:
        return sum(s * n for s, n in self.scores.items()) / self.count if self.count else None


@dataclass(frozen=True)
class ProductRate:
    product_code: str
    complaints: int
    subscribers: int

    @property
    def per_10k(self) -> float | None:
        return self.complaints * 10_000 / self.subscribers if self.subscribers else None


def complaint_rates(complaints: dict[str, int], subscribers: dict[str, int]) -> list[ProductRate]:
    """Every product with complaints or subscribers in the period, by code."""
    return [
        ProductRate(code, complaints.get(code, 0), subscribers.get(code, 0))
        for code in sorted(complaints.keys() | subscribers.keys())
    ]


# -- subscribers ------------------------------------------------------------------------------


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    ENDED = "ended"


@dataclass(frozen=True)
class SubscriptionChange:
    """A subscription's status from an instant on (one subscription.events event)."""

    subscription_id: UUID
    occurred_at: datetime
    status: SubscriberStatus
    product_code: str
    partner_id: UUID
    msisdn: str
    event_id: UUID
