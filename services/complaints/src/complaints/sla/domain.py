"""SLA clocks: which clocks run for a complaint (policies are data), and where each stands,
computed from the complaint's event history and the business calendar. Nothing here is ever
decremented by a timer: the same history and calendar always give the same due times, so a
calendar change or a late-logged call recomputes them. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class WorkingTime(Protocol):
    """What a clock needs of the business calendar (complaints.calendar.domain.BusinessCalendar)."""

    def working_time_between(self, start: datetime, end: datetime) -> timedelta: ...

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime: ...

    @property
    def working_day_length(self) -> timedelta: ...


class Channel(StrEnum):
    PHONE = "phone"
    WEB = "web"
    SMS = "sms"
    OPERATOR = "operator"  # forwarded by the mobile operator, with its own deadline


class Category(StrEnum):
    BILLING = "billing"
    SUBSCRIPTION = "subscription"
    CONTENT = "content"
    SERVICE = "service"
    FEEDBACK = "feedback"  # a suggestion: a reply within a day, no dispute
    OTHER = "other"


class EventKind(StrEnum):
    CREATED = "created"
    CONTACTED = "contacted"  # staff reached the user (a call back, an SMS)
    REPLIED = "replied"  # a substantive written or spoken reply to the user
    WAITING_ON_USER = "waiting_on_user"
    USER_REPLIED = "user_replied"
    SOLUTION_OFFERED = "solution_offered"
    RESOLVED = "resolved"
    SATISFACTION_RECORDED = "satisfaction_recorded"
    REOPENED = "reopened"
    CLOSED = "closed"
    ESCALATED = "escalated"  # no score from the user in time: a supervisor follows it up
    # The subscription service's answer to a refund asked at resolution: on the timeline, but
    # neither the complaint's status nor any clock moves (no clock stops, pauses or resumes on them).
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"


class ClockKind(StrEnum):
    SOLUTION = "solution"  # phone: a solution offered
    FIRST_REPLY = "first_reply"  # phone when not solved on the call; web: the first written reply
    ANSWERED = "answered"  # a substantive reply, 15 calendar days
    CLOSURE = "closure"  # internal closure, working days
    FEEDBACK_REPLY = "feedback_reply"
    FOLLOW_UP = "follow_up"  # a contact at least every N hours while open
    OPERATOR_DEADLINE = "operator_deadline"  # the forwarding operator's own deadline


class Basis(StrEnum):
    CALENDAR = "calendar"  # elapsed time, 7×24
    WORKING_HOURS = "working_hours"  # working time of the business calendar
    WORKING_DAYS = "working_days"  # whole days of working time (2 working days = 2 × 09:00–18:00)
    SHANGHAI_DAYS = "shanghai_days"  # whole Asia/Shanghai days: due at the end of the N-th day after


# What stops each clock, and what restarts the follow-up clock.
_STOPS: dict[ClockKind, frozenset[EventKind]] = {
    ClockKind.SOLUTION: frozenset({EventKind.SOLUTION_OFFERED, EventKind.RESOLVED, EventKind.CLOSED}),
    ClockKind.FIRST_REPLY: frozenset(
        {
            EventKind.CONTACTED,
            EventKind.REPLIED,
            EventKind.SOLUTION_OFFERED,
            EventKind.RESOLVED,
            EventKind.CLOSED,
        }
    ),
    ClockKind.ANSWERED: frozenset(
        {EventKind.REPLIED, EventKind.SOLUTION_OFFERED, EventKind.RESOLVED, EventKind.CLOSED}
    ),
    ClockKind.CLOSURE: frozenset({EventKind.RESOLVED, EventKind.CLOSED}),
    ClockKind.FEEDBACK_REPLY: frozenset({EventKind.REPLIED, EventKind.RESOLVED, EventKind.CLOSED}),
    ClockKind.FOLLOW_UP: frozenset({EventKind.RESOLVED, EventKind.CLOSED}),
    ClockKind.OPERATOR_DEADLINE: frozenset({EventKind.RESOLVED, EventKind.CLOSED}),
}
_FOLLOW_UP_CONTACTS = frozenset({EventKind.CONTACTED, EventKind.REPLIED, EventKind.SOLUTION_OFFERED})
# Waiting on the user pauses a pausable clock until the user answers, the complaint is reopened,
# or staff take it up again.
_PAUSE = EventKind.WAITING_ON_USER
_RESUME = frozenset({EventKind.USER_REPLIED, EventKind.REOPENED, EventKind.CONTACTED, EventKind.REPLIED})


@dataclass(frozen=True)
class Policy:
    """One clock that runs for complaints matching it. The most specific matching policy for a
    clock wins: a user's, then a partner's, then a channel+category, then a channel's or a
    category's, then one for every complaint. A special agreement (with a user or a partner) may
    only be stricter than the standard for the same clock."""

    id: UUID
    clock: ClockKind
    target: timedelta  # for SHANGHAI_DAYS: whole days
    basis: Basis
    channel: Channel | None = None
    category: Category | None = None
    partner_id: UUID | None = None
    msisdn: str | None = None
    pausable: bool = True  # the clock stops while the complaint waits on the user
    warn_at: tuple[float, ...] = (0.5, 0.8)
    only_if_not_solved_on_call: bool = False  # phone first reply: only when the call did not solve it
    note: str = ""

    @property
    def is_special_agreement(self) -> bool:
        return self.partner_id is not None or self.msisdn is not None

    def specificity(self) -> int:
        if self.msisdn is not None:
            return 5
        if self.partner_id is not None:
            return 4
        return 1 + (self.channel is not None) + (self.category is not None)

    def matches(self, subject: ComplaintSubject) -> bool:
        return (
            (self.channel is None or self.channel is subject.channel)
            and (self.category is None or self.category is subject.category)
            and (self.partner_id is None or self.partner_id == subject.partner_id)
            and (self.msisdn is None or self.msisdn == subject.msisdn)
            and not (self.only_if_not_solved_on_call and subject.solved_on_call)
        )


@dataclass(frozen=True)
class ComplaintSubject:
    """What policies are chosen by."""

    channel: Channel
    category: Category
    msisdn: str
    partner_id: UUID | None = None
    solved_on_call: bool = False
    operator_deadline: datetime | None = None


def policies_for(subject: ComplaintSubject, policies: Iterable[Policy]) -> list[Policy]:
    """The policy of each clock that runs for this complaint (the most specific per clock)."""
    chosen: dict[ClockKind, Policy] = {}
    for policy in policies:
        if not policy.matches(subject):
            continue
        best = chosen.get(policy.clock)
        if best is None or policy.specificity() > best.specificity():
            chosen[policy.clock] = policy
    return sorted(chosen.values(), key=lambda p: list(ClockKind).index(p.clock))


def looser_than_standard(
    agreement: Policy, standard: Sequence[Policy], working_day_length: timedelta
) -> Policy | None:
    """The standard policy that a special agreement would loosen, or None when the agreement is
    due no later than the standard for any start time: the same kind of time and no longer, or
    calendar time no longer than the least elapsed time the standard can take (working time
    cannot pass faster than the clock; N Shanghai days take at least N days). Anything else is
    not provably stricter and counts as looser."""
    for policy in standard:
        if policy.is_special_agreement or policy.clock is not agreement.clock:
            continue
        if policy.channel not in (None, agreement.channel) or policy.category not in (
            None,
            agreement.category,
        ):
            continue
        if not _no_later(agreement, policy, working_day_length):
            return policy
    return None


def _no_later(agreement: Policy, standard: Policy, day: timedelta) -> bool:
    def work(policy: Policy) -> timedelta | None:
        if policy.basis is Basis.WORKING_HOURS:
            return policy.target
        if policy.basis is Basis.WORKING_DAYS:
            return day * (policy.target / timedelta(days=1))
        return None

    if agreement.basis is standard.basis:
        return agreement.target <= standard.target
    agreed_work, standard_work = work(agreement), work(standard)
    if agreed_work is not None and standard_work is not None:
        return agreed_work <= standard_work
    if agreement.basis is Basis.CALENDAR:
        least = standard_work if standard_work is not None else standard.target
        return agreement.target <= least
    return False


# -- clocks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEvent:
    kind: EventKind
    occurred_at: datetime


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"  # past due, not stopped
    MET_LATE = "met_late"  # stopped after its due time


Pause = tuple[datetime, datetime | None]  # [start, end); end None: still waiting


@dataclass(frozen=True)
class Clock:
    """Where one clock of one complaint stands. It starts when the complaint is created, again
    when it is reopened, and (follow-up) at each contact: `started_at` names the run, so a warning
    or breach is emitted once per (complaint, clock, started_at)."""

    kind: ClockKind
    started_at: datetime
    due_at: datetime | None  # None while paused before reaching the target
    stopped_at: datetime | None
    warnings: tuple[tuple[float, datetime], ...]  # (share of the target, instant)
    pauses: tuple[Pause, ...] = ()

    @property
    def paused_since(self) -> datetime | None:
        if self.stopped_at is None and self.pauses and self.pauses[-1][1] is None:
            return self.pauses[-1][0]
        return None

    def state(self, now: datetime) -> ClockState:
        if self.stopped_at is not None:
            late = self.due_at is not None and self.stopped_at > self.due_at
            return ClockState.MET_LATE if late else ClockState.MET
        if self.due_at is not None and now >= self.due_at:
            return ClockState.BREACHED
        return ClockState.PAUSED if self.paused_since is not None else ClockState.RUNNING

    def alerts(self) -> list[tuple[str, datetime]]:
        """(kind, instant) of every warning and the breach this run will raise unless stopped:
        `warning_50`, `warning_80`, `breached`."""
        if self.stopped_at is not None:
            return []
        found = [(f"warning_{round(share * 100)}", at) for share, at in self.warnings]
        if self.due_at is not None:
            found.append(("breached", self.due_at))
        return found


@dataclass(frozen=True)
class StoppedRun:
    """A run of a clock that has stopped (clock_runs): by a reply or resolution, or by the
    clock's next run (`superseded`)."""

    clock: ClockKind
    started_at: datetime
    due_at: datetime | None  # None: stopped while paused, before its target ran out
    stopped_at: datetime
    superseded: bool

    @property
    def met(self) -> bool:
        return self.due_at is None or self.stopped_at <= self.due_at


def compute_clocks(
    subject: ComplaintSubject,
    policies: Sequence[Policy],
    history: Sequence[HistoryEvent],
    calendar: WorkingTime,
) -> list[Clock]:
    """Every clock of the complaint as its history stands (ordered by occurred_at, so a
    late-logged event lands where it happened)."""
    events = sorted(history, key=lambda e: e.occurred_at)
    created = next((e.occurred_at for e in events if e.kind is EventKind.CREATED), None)
    if created is None:
        return []
    run_start = max([created] + [e.occurred_at for e in events if e.kind is EventKind.REOPENED])
    clocks = []
    for policy in policies_for(subject, policies):
        start = run_start
        if policy.clock is ClockKind.FOLLOW_UP:
            contacts = [
                e.occurred_at for e in events if e.kind in _FOLLOW_UP_CONTACTS and e.occurred_at >= start
            ]
            start = max([start, *contacts])
        if policy.clock is ClockKind.OPERATOR_DEADLINE and subject.operator_deadline is None:
            continue
        run = [e for e in events if e.occurred_at >= start]
        stopped_at = next((e.occurred_at for e in run if e.kind in _STOPS[policy.clock]), None)
        pauses = pauses_in(run) if policy.pausable else []
        if policy.clock is ClockKind.OPERATOR_DEADLINE:
            assert subject.operator_deadline is not None
            due: datetime | None = subject.operator_deadline
            span = max(subject.operator_deadline - start, timedelta(0))
            warnings = tuple((share, start + span * share) for share in policy.warn_at)
        else:
            due = advance(start, policy, 1.0, pauses, calendar)
            warnings = tuple(
                (share, at)
                for share in policy.warn_at
                if (at := advance(start, policy, share, pauses, calendar))
            )
        clocks.append(Clock(policy.clock, start, due, stopped_at, warnings, tuple(pauses)))
    return clocks


def pauses_in(events: Sequence[HistoryEvent]) -> list[Pause]:
    """The intervals in which the complaint waited on the user, in order."""
    pauses: list[Pause] = []
    since: datetime | None = None
    for event in events:
        if event.kind is _PAUSE and since is None:
            since = event.occurred_at
        elif event.kind in _RESUME and since is not None:
            pauses.append((since, event.occurred_at))
            since = None
    if since is not None:
        pauses.append((since, None))
    return pauses


def advance(
    start: datetime, policy: Policy, share: float, pauses: Sequence[Pause], calendar: WorkingTime
) -> datetime | None:
    """The instant at which `share` of the policy's target has run since `start`, the pauses
    not counting; None when the clock waits in a pause that has not ended before that."""
    basis, amount = _work(start, policy, share, calendar)
    cursor = start
    for pause_start, pause_end in pauses:
        if pause_start > cursor:
            capacity = calendar.working_time_between(cursor, pause_start) if basis else pause_start - cursor
            if amount <= capacity:
                break
            amount -= capacity
        if pause_end is None:
            return None
        cursor = max(cursor, pause_end)
    return calendar.add_working_time(cursor, amount) if basis else cursor + amount


def _work(start: datetime, policy: Policy, share: float, calendar: WorkingTime) -> tuple[bool, timedelta]:
    """(whether it is working time, how much of it) that `share` of the target is."""
    if policy.basis is Basis.WORKING_HOURS:
        return True, policy.target * share
    if policy.basis is Basis.WORKING_DAYS:
        return True, calendar.working_day_length * (policy.target / timedelta(days=1)) * share
    if policy.basis is Basis.SHANGHAI_DAYS:
        # The end of the N-th Shanghai day after the start day; a share of it is that share of
        # the span. Pauses push it back by their calendar length.
        day = start.astimezone(SHANGHAI).date() + timedelta(days=policy.target.days + 1)
        end_of_days = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
        return False, (end_of_days - start) * share
    return False, policy.target * share


# -- the standard --------------------------------------------------------------------------

STANDARD_TARGETS: tuple[
    tuple[ClockKind, Channel | None, Category | None, timedelta, Basis, bool, bool], ...
] = (
    # clock, channel, category, target, basis, pausable, only if not solved on the call
    (ClockKind.SOLUTION, Channel.PHONE, None, timedelta(minutes=15), Basis.CALENDAR, False, False),
    (ClockKind.FIRST_REPLY, Channel.PHONE, None, timedelta(minutes=30), Basis.CALENDAR, False, True),
    (ClockKind.FIRST_REPLY, Channel.WEB, None, timedelta(hours=4), Basis.CALENDAR, False, False),
    (ClockKind.ANSWERED, None, None, timedelta(days=15), Basis.SHANGHAI_DAYS, True, False),
    (ClockKind.CLOSURE, None, None, timedelta(days=2), Basis.WORKING_DAYS, True, False),
    (ClockKind.FEEDBACK_REPLY, None, Category.FEEDBACK, timedelta(days=1), Basis.CALENDAR, True, False),
    (ClockKind.FOLLOW_UP, None, None, timedelta(hours=24), Basis.CALENDAR, True, False),
    (ClockKind.OPERATOR_DEADLINE, Channel.OPERATOR, None, timedelta(0), Basis.CALENDAR, False, False),
)
"""The seed's promises, seeded as policy rows (migration); the rows, not this table, are read."""
