"""The status page's rules (incident.status.domain) and the maintenance part of the availability
rule (incident.availability.domain.maintenance_intervals), case by case: each service's state
now, a bar a day by the availability rule (a day partly in an outage, a maintenance day, an
emergency maintenance day, today up to now), and the days an incident or a window touched."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from incident.availability.domain import (
    Announcement,
    AvailabilityRule,
    ImpactInterval,
    IntervalKind,
    compute,
    day_bounds,
    maintenance_intervals,
)
from incident.incidents.domain import (
    EntryKind,
    ImpactType,
    Incident,
    IncidentStatus,
    Origin,
    Severity,
    TimelineEntry,
    status_of,
)
from incident.maintenance.domain import Window, WindowStatus
from incident.status.domain import (
    DayLevel,
    ServiceState,
    day_bars,
    event_days,
    history_days,
    public_updates,
    state_now,
    upcoming,
)

H = timedelta(hours=1)
NOTICE = timedelta(hours=72)
RULE = AvailabilityRule()
TARGET = 0.996
# 2026-03-10 in Asia/Shanghai is [2026-03-09T16:00Z, 2026-03-10T16:00Z).
DAY = date(2026, 3, 10)
DAY_START, DAY_END = day_bounds(DAY)
NOW = DAY_START + timedelta(days=5)


def incident(
    impact: ImpactType = ImpactType.FULL,
    started: datetime = DAY_START,
    mitigated: datetime | None = None,
    resolved: datetime | None = None,
    services: tuple[str, ...] = ("sms-sender",),
    merged_into: uuid.UUID | None = None,
) -> Incident:
    i = Incident(
        id=uuid.uuid4(),
        title="短信发送延迟",
        summary="内部：某号段",
        severity=Severity.MAJOR,
        impact=impact,
        status=IncidentStatus.OPEN,
        origin=Origin.MANUAL,
        services=services,
        products=(),
        impact_started_at=started,
        detected_at=started,
        reported_at=None,
        mitigated_at=mitigated,
        resolved_at=resolved,
        commander="王芳",
        communications=None,
        merged_into=merged_into,
        created_by="王芳",
        created_at=started,
        updated_at=started,
    )
    return replace(i, status=status_of(i))


def window(
    starts: datetime,
    hours: float = 4,
    status: WindowStatus = WindowStatus.SCHEDULED,
    services: tuple[str, ...] = ("sms-sender",),
    emergency: bool = False,
) -> Window:
    return Window(
        id=uuid.uuid4(),
        status=status,
        product_codes=("TQYB",),
        services=services,
        starts_at=starts,
        ends_at=starts + hours * H,
        text_zh="系统升级",
        emergency=emergency,
        emergency_reason="安全补丁" if emergency else None,
        notice=1,
        remind_at=None,
        created_at=starts - NOTICE,
        created_by="王芳",
        updated_at=starts - NOTICE,
        started_at=starts if status in (WindowStatus.IN_PROGRESS, WindowStatus.COMPLETED) else None,
        completed_at=starts + hours * H if status is WindowStatus.COMPLETED else None,
    )


# -- the maintenance part of the availability rule ------------------------------------------


def test_maintenance_announced_on_time_is_excluded_up_to_the_end_users_were_told() -> None:
    start = DAY_START + 2 * H
    told = [Announcement(start - NOTICE, start, start + 4 * H, emergency=False)]
    wid = uuid.uuid4()
    [on_time] = maintenance_intervals(wid, start, start + 3 * H, False, told, NOTICE)
    assert (on_time.kind, on_time.start, on_time.end) == (
        IntervalKind.MAINTENANCE_ON_TIME,
        start,
        start + 3 * H,
    )
    # Extended while under way (told late): the hours past the end told on time count whole.
    late = [*told, Announcement(start + H, start, start + 6 * H, emergency=False)]
    parts = maintenance_intervals(wid, start, start + 6 * H, False, late, NOTICE)
    assert [(p.kind, p.start, p.end) for p in parts] == [
        (IntervalKind.MAINTENANCE_ON_TIME, start, start + 4 * H),
        (IntervalKind.MAINTENANCE, start + 4 * H, start + 6 * H),
    ]
    f = compute(parts, DAY_START, DAY_END, NOW, RULE)
    assert f.excluded_seconds == 4 * 3600
    assert f.weighted_down_seconds == 2 * 3600
    assert f.availability == pytest.approx(1 - 2 / 20)


def test_an_emergency_or_a_short_notice_counts_as_down_throughout() -> None:
    start = DAY_START + 2 * H
    wid = uuid.uuid4()
    emergency = [Announcement(start - H, start, start + 2 * H, emergency=True)]
    [whole] = maintenance_intervals(wid, start, start + 2 * H, True, emergency, NOTICE)
    assert whole.kind is IntervalKind.MAINTENANCE
    # Not flagged, but the start it ran at was told 71 h ahead (a notice period raised since).
    short = [Announcement(start - 71 * H, start, start + 2 * H, emergency=False)]
    [late] = maintenance_intervals(wid, start, start + 2 * H, False, short, NOTICE)
    assert late.kind is IntervalKind.MAINTENANCE
    # Moved: on time for the old start, the new start told late.
    moved = [
        Announcement(start - 100 * H, start - 24 * H, start - 22 * H, emergency=False),
        Announcement(start - 30 * H, start, start + 2 * H, emergency=False),
    ]
    [after_move] = maintenance_intervals(wid, start, start + 2 * H, False, moved, NOTICE)
    assert after_move.kind is IntervalKind.MAINTENANCE
    f = compute([whole], DAY_START, DAY_END, NOW, RULE)
    assert f.weighted_down_seconds == 2 * 3600
    assert f.excluded_seconds == 0


def test_still_going_maintenance_counts_up_to_now() -> None:
    start = DAY_START + 2 * H
    told = [Announcement(start - NOTICE, start, start + 4 * H, emergency=False)]
    parts = maintenance_intervals(uuid.uuid4(), start, None, False, told, NOTICE)
    f = compute(parts, DAY_START, DAY_END, start + 3 * H, RULE)
    assert f.excluded_seconds == 3 * 3600
    assert f.period_seconds == 5 * 3600


# -- each service's state now -------------------------------------------------------------


def test_the_state_now_is_the_worst_impact_going_on() -> None:
    now = DAY_START + 10 * H
    assert state_now("sms-sender", [], [], now) is ServiceState.OPERATIONAL
    partial = incident(ImpactType.PARTIAL)
    full = incident(ImpactType.FULL, services=("subscription",))
    under_way = window(now - H, status=WindowStatus.IN_PROGRESS)
    assert state_now("sms-sender", [partial], [], now) is ServiceState.DEGRADED
    assert state_now("sms-sender", [partial, full], [under_way], now) is ServiceState.DEGRADED
    assert state_now("sms-sender", [], [under_way], now) is ServiceState.MAINTENANCE
    assert state_now("subscription", [partial, full], [under_way], now) is ServiceState.OUTAGE
    # The impact ended (mitigated, resolved) or the incident was merged: no longer a state.
    mitigated = incident(ImpactType.FULL, mitigated=now - H)
    resolved = incident(ImpactType.FULL, resolved=now - H)
    merged = incident(ImpactType.FULL, merged_into=uuid.uuid4())
    assert state_now("sms-sender", [mitigated, resolved, merged], [], now) is ServiceState.OPERATIONAL
    # A window past its start whose start the tick has not marked yet is under way already;
    # one to come, cancelled or completed is not.
    due = window(now - timedelta(seconds=3))
    assert state_now("sms-sender", [], [due], now) is ServiceState.MAINTENANCE
    later = window(now + H)
    cancelled = window(now - H, status=WindowStatus.CANCELLED)
    done = window(now - 5 * H, hours=1, status=WindowStatus.COMPLETED)
    assert state_now("sms-sender", [], [later, cancelled, done], now) is ServiceState.OPERATIONAL
    assert upcoming([done, later, cancelled, under_way], now) == [under_way, later]


def test_only_public_status_updates_are_shown() -> None:
    iid = uuid.uuid4()

    def entry(kind: EntryKind, public: bool, minutes: int, text: str) -> TimelineEntry:
        at = DAY_START + timedelta(minutes=minutes)
        return TimelineEntry(uuid.uuid4(), iid, kind, at, at, "王芳 (wangfang)", text, public)

    updates = public_updates(
        [
            entry(EntryKind.STATUS_UPDATE, True, 20, "已恢复"),
            entry(EntryKind.NOTE, False, 5, "内部备注"),
            entry(EntryKind.EVIDENCE, False, 6, "p99 5.2 s"),
            entry(EntryKind.STATUS_UPDATE, True, 10, "正在处理"),
        ]
    )
    assert [u.text for u in updates] == ["正在处理", "已恢复"]
    assert not hasattr(updates[0], "actor")


# -- a bar a day ---------------------------------------------------------------------------


def iv(kind: IntervalKind, start: datetime, hours: float | None, source: str = "incident") -> ImpactInterval:
    return ImpactInterval(source, uuid.uuid4(), kind, start, None if hours is None else start + hours * H)


def test_the_days_are_shanghai_days_ending_today() -> None:
    days = history_days(datetime(2026, 3, 10, 17, tzinfo=UTC), 90)  # 01:00 on the 11th in Beijing
    assert len(days) == 90
    assert days[-1] == date(2026, 3, 11)
    assert days[0] == date(2025, 12, 12)


def test_a_day_partly_in_an_outage_and_a_maintenance_day() -> None:
    days = [DAY + timedelta(days=n) for n in range(4)]
    # Day 0: a full outage 22:00-02:00 Beijing, running over midnight into day 1 (2 h each).
    outage = iv(IntervalKind.FULL, DAY_START + 22 * H, 4)
    # Day 2: maintenance announced on time, 4 h, and a partial outage of 1 h outside it.
    planned = iv(IntervalKind.MAINTENANCE_ON_TIME, DAY_START + 2 * 24 * H + 2 * H, 4, source="maintenance")
    partial = iv(IntervalKind.PARTIAL, DAY_START + 2 * 24 * H + 10 * H, 1)
    # Day 3: only maintenance announced on time.
    quiet = iv(IntervalKind.MAINTENANCE_ON_TIME, DAY_START + 3 * 24 * H + H, 2, source="maintenance")
    bars = day_bars([outage, planned, partial, quiet], days, NOW, RULE, TARGET)
    first, second, third, fourth = bars
    assert first.figures.weighted_down_seconds == 2 * 3600
    assert first.figures.availability == pytest.approx(1 - 2 / 24)
    assert first.level is DayLevel.BREACHED
    assert first.incident_ids == (outage.source_id,)
    assert second.figures.availability == pytest.approx(1 - 2 / 24)
    assert second.incident_ids == (outage.source_id,)
    assert third.figures.excluded_seconds == 4 * 3600
    assert third.figures.availability == pytest.approx(1 - 0.3 / 20)
    assert third.level is DayLevel.BREACHED  # 98.5 % < 99.6 %
    assert third.maintenance_ids == (planned.source_id,)
    assert third.incident_ids == (partial.source_id,)
    assert fourth.level is DayLevel.MAINTENANCE
    assert fourth.figures.availability == 1.0
    # The same rule as a month's: the four days' down time is the sum of the bars'.
    month = compute([outage, planned, partial, quiet], DAY_START, DAY_START + 4 * 24 * H, NOW, RULE)
    assert month.weighted_down_seconds == pytest.approx(sum(b.figures.weighted_down_seconds for b in bars))


def test_levels_against_the_promise_and_days_to_come() -> None:
    days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    short = iv(IntervalKind.PARTIAL, DAY_START + 5 * H, 0.25)  # 4.5 min weighted: 99.69 %
    now = DAY_START + 30 * H  # 06:00 on the second day
    emergency = iv(IntervalKind.MAINTENANCE, DAY_START + 25 * H, 1, source="maintenance")
    first, second, third = day_bars([short, emergency], days, now, RULE, TARGET)
    assert first.level is DayLevel.WARNING
    assert second.figures.period_seconds == 6 * 3600  # today, up to now
    assert second.figures.availability == pytest.approx(5 / 6)
    assert second.level is DayLevel.BREACHED  # emergency maintenance counts whole
    assert third.level is DayLevel.NO_DATA
    assert third.figures.availability is None
    quiet = day_bars([], [DAY], now, RULE, TARGET)[0]
    assert (quiet.level, quiet.figures.availability) == (DayLevel.OK, 1.0)


def test_the_days_each_incident_and_window_touched() -> None:
    days = [DAY + timedelta(days=n) for n in range(3)]
    now = DAY_START + 2 * 24 * H + 5 * H
    over_midnight = incident(
        started=DAY_START + 23 * H, mitigated=DAY_START + 25 * H, resolved=DAY_START + 26 * H
    )
    going = incident(started=DAY_START + 2 * 24 * H + H)
    before = incident(started=DAY_START - 48 * H, resolved=DAY_START - 40 * H)
    ran = window(DAY_START + 2 * H, status=WindowStatus.COMPLETED)
    to_come = window(now + H)
    found = event_days([over_midnight, going, before], [ran, to_come], days, now)
    assert found == {
        DAY: ([over_midnight.id], [ran.id]),
        DAY + timedelta(days=1): ([over_midnight.id], []),
        DAY + timedelta(days=2): ([going.id], []),
    }
