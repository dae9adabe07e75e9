"""SLA rules that need no calendar: which policy runs a clock, what a special agreement may
change, pauses, and when a clock is met, late or breached (calendar time only; the working-time
cases on the real 2026 calendar are in test_clocks_2026.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from complaints.sla.domain import (
    Basis,
    Category,
    Channel,
    ClockKind,
    ClockState,
    ComplaintSubject,
    EventKind,
    HistoryEvent,
    Policy,
    compute_clocks,
    looser_than_standard,
    pauses_in,
    policies_for,
)

T0 = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Wednesday
NINE_HOURS = timedelta(hours=9)


class NoWorkingTime:
    """Calendar-time policies never ask the calendar; this one fails if they do."""

    working_day_length = NINE_HOURS

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        raise AssertionError("a calendar-time clock asked for working time")

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        raise AssertionError("a calendar-time clock asked for working time")


def policy(clock: ClockKind, minutes: int, **fields: object) -> Policy:
    values: dict[str, object] = {"basis": Basis.CALENDAR, "pausable": False, **fields}
    return Policy(id=uuid.uuid4(), clock=clock, target=timedelta(minutes=minutes), **values)  # type: ignore[arg-type]


PHONE = ComplaintSubject(Channel.PHONE, Category.BILLING, "8613800000001")
STANDARD = [
    policy(ClockKind.SOLUTION, 15, channel=Channel.PHONE),
    policy(ClockKind.FIRST_REPLY, 30, channel=Channel.PHONE, only_if_not_solved_on_call=True),
    policy(ClockKind.FIRST_REPLY, 240, channel=Channel.WEB),
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_most_specific_policy_runs_each_clock() -> None:
    partner = uuid.uuid4()
    agreement = policy(ClockKind.SOLUTION, 10, channel=Channel.PHONE, partner_id=partner)
    user = policy(ClockKind.SOLUTION, 5, msisdn=PHONE.msisdn)
    chosen = policies_for(
        ComplaintSubject(Channel.PHONE, Category.BILLING, PHONE.msisdn, partner), [*STANDARD, agreement, user]
    )
    assert {p.clock: p.target for p in chosen} == {
        ClockKind.SOLUTION: timedelta(minutes=5),
        ClockKind.FIRST_REPLY: timedelta(minutes=30),
    }
    web = policies_for(ComplaintSubject(Channel.WEB, Category.OTHER, PHONE.msisdn), STANDARD)
    assert [(p.clock, p.target) for p in web] == [(ClockKind.FIRST_REPLY, timedelta(hours=4))]


def test_a_call_solved_on_the_call_runs_no_first_reply_clock() -> None:
    solved = ComplaintSubject(Channel.PHONE, Category.BILLING, PHONE.msisdn, solved_on_call=True)
    assert [p.clock for p in policies_for(solved, STANDARD)] == [ClockKind.SOLUTION]


def test_an_agreement_may_be_stricter_never_looser() -> None:
    partner = uuid.uuid4()
    stricter = policy(ClockKind.FIRST_REPLY, 120, channel=Channel.WEB, partner_id=partner)
    looser = policy(ClockKind.FIRST_REPLY, 300, channel=Channel.WEB, partner_id=partner)
    assert looser_than_standard(stricter, STANDARD, NINE_HOURS) is None
    assert looser_than_standard(looser, STANDARD, NINE_HOURS) == STANDARD[2]
    closure = Policy(uuid.uuid4(), ClockKind.CLOSURE, timedelta(days=2), Basis.WORKING_DAYS)
    # 18 calendar hours can never be later than 2 working days of 9 hours; 19 can.
    in_hours = policy(ClockKind.CLOSURE, 18 * 60, msisdn=PHONE.msisdn)
    assert looser_than_standard(in_hours, [closure], NINE_HOURS) is None
    assert (
        looser_than_standard(policy(ClockKind.CLOSURE, 19 * 60, msisdn=PHONE.msisdn), [closure], NINE_HOURS)
        == closure
    )
    one_working_day = Policy(
        uuid.uuid4(), ClockKind.CLOSURE, timedelta(days=1), Basis.WORKING_DAYS, msisdn="1"
    )
    assert looser_than_standard(one_working_day, [closure], NINE_HOURS) is None
    in_shanghai_days = Policy(
        uuid.uuid4(), ClockKind.CLOSURE, timedelta(days=1), Basis.SHANGHAI_DAYS, msisdn="1"
    )
    assert looser_than_standard(in_shanghai_days, [closure], NINE_HOURS) == closure  # not comparable


def history(*events: tuple[EventKind, float]) -> list[HistoryEvent]:
    return [HistoryEvent(kind, at(minutes)) for kind, minutes in events]


def clock_of(
    kind: ClockKind,
    events: list[HistoryEvent],
    subject: ComplaintSubject = PHONE,
    policies: list[Policy] | None = None,
):  # type: ignore[no-untyped-def]
    [found] = [
        c for c in compute_clocks(subject, policies or STANDARD, events, NoWorkingTime()) if c.kind is kind
    ]
    return found


def test_called_back_at_minute_29_is_met_and_at_minute_31_is_late() -> None:
    on_time = clock_of(ClockKind.FIRST_REPLY, history((EventKind.CREATED, 0), (EventKind.CONTACTED, 29)))
    assert on_time.due_at == at(30)
    assert on_time.state(at(60)) is ClockState.MET
    late = clock_of(ClockKind.FIRST_REPLY, history((EventKind.CREATED, 0), (EventKind.CONTACTED, 31)))
    assert late.state(at(60)) is ClockState.MET_LATE
    running = clock_of(ClockKind.FIRST_REPLY, history((EventKind.CREATED, 0)))
    assert running.state(at(29)) is ClockState.RUNNING
    assert running.state(at(30)) is ClockState.BREACHED
    assert running.alerts() == [("warning_50", at(15)), ("warning_80", at(24)), ("breached", at(30))]
    assert late.alerts() == []


def test_a_late_logged_event_lands_where_it_happened() -> None:
    events = history((EventKind.CREATED, 0), (EventKind.CONTACTED, 20))
    events.reverse()  # logged in another order than it happened
    assert clock_of(ClockKind.FIRST_REPLY, events).stopped_at == at(20)


def test_a_pause_pushes_a_pausable_clock_back_by_its_length() -> None:
    pausable = [policy(ClockKind.FIRST_REPLY, 240, channel=Channel.WEB, pausable=True)]
    web = ComplaintSubject(Channel.WEB, Category.OTHER, PHONE.msisdn)
    events = history((EventKind.CREATED, 0), (EventKind.WAITING_ON_USER, 60), (EventKind.USER_REPLIED, 180))
    assert pauses_in(events) == [(at(60), at(180))]
    assert clock_of(ClockKind.FIRST_REPLY, events, web, pausable).due_at == at(240 + 120)
    waiting = clock_of(ClockKind.FIRST_REPLY, events[:2], web, pausable)
    assert waiting.due_at is None  # still waiting on the user: no due time while paused
    assert waiting.state(at(1000)) is ClockState.PAUSED
    assert waiting.alerts() == []
    later = clock_of(
        ClockKind.FIRST_REPLY,
        history((EventKind.CREATED, 0), (EventKind.WAITING_ON_USER, 150)),
        web,
        pausable,
    )
    assert later.alerts() == [("warning_50", at(120))]  # reached before the pause; the rest waits
    not_pausable = [policy(ClockKind.FIRST_REPLY, 240, channel=Channel.WEB)]
    assert clock_of(ClockKind.FIRST_REPLY, events, web, not_pausable).due_at == at(240)


def test_a_reopened_complaint_runs_its_clocks_again_from_the_reopening() -> None:
    events = history(
        (EventKind.CREATED, 0),
        (EventKind.SOLUTION_OFFERED, 10),
        (EventKind.RESOLVED, 12),
        (EventKind.REOPENED, 100),
    )
    solution = clock_of(ClockKind.SOLUTION, events)
    assert (solution.started_at, solution.due_at, solution.stopped_at) == (at(100), at(115), None)


def test_the_follow_up_clock_restarts_at_each_contact() -> None:
    follow_up = [policy(ClockKind.FOLLOW_UP, 24 * 60)]
    events = history((EventKind.CREATED, 0), (EventKind.CONTACTED, 600), (EventKind.REPLIED, 900))
    clock = clock_of(ClockKind.FOLLOW_UP, events, policies=follow_up)
    assert (clock.started_at, clock.due_at) == (at(900), at(900 + 24 * 60))
    resolved = clock_of(
        ClockKind.FOLLOW_UP, [*events, HistoryEvent(EventKind.RESOLVED, at(1000))], policies=follow_up
    )
    assert resolved.alerts() == []


def test_the_operators_deadline_is_a_clock_of_its_own() -> None:
    deadline = at(48 * 60)
    forwarded = ComplaintSubject(Channel.OPERATOR, Category.BILLING, PHONE.msisdn, operator_deadline=deadline)
    operator = [policy(ClockKind.OPERATOR_DEADLINE, 0, channel=Channel.OPERATOR)]
    clock = clock_of(ClockKind.OPERATOR_DEADLINE, history((EventKind.CREATED, 0)), forwarded, operator)
    assert clock.due_at == deadline
    assert dict(clock.warnings)[0.5] == at(24 * 60)
