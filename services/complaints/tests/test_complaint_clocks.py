"""Complaint clocks on the real 2026 Chinese calendar, through the API on the real database and
broker: each case asserts the exact due time (Asia/Shanghai). Then the alerts: each warning and
breach is raised once, with two replicas ticking at once and a restart in between."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from complaints.main import create_app
from complaints.settings import ComplaintsSettings
from vas_common.clock import ManualClock
from vas_common.events import Event
from vas_common.events.complaints import ClockStopped, SlaBreached, SlaWarning
from vas_devstack.pytest_plugin import (
    OPERATOR_TOKEN,
    eventually,
    problem_of,
    read_events,
    serve,
    service_settings_kwargs,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def settings(database: str, kafka: Any, *, consumers: bool = True) -> ComplaintsSettings:
    # The scheduler is driven by the test (POST /v1/jobs/sla-tick), not by its own timer.
    return ComplaintsSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        sla_tick_interval_s=3600,
        consumers_enabled=consumers,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def complaints(database: str, kafka: Any, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings(database, kafka), clock=clock)) as client:
        yield client


async def log(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "channel": "web",
        "category": "billing",
        "msisdn": "8613800001234",
        "summary": "扣费不明",
        **fields,
    }
    for key in ("occurred_at", "operator_deadline"):
        if isinstance(body.get(key), datetime):
            body[key] = body[key].isoformat()
    response = await client.post("/v1/complaints", json=body, headers=OPERATOR)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def clocks(client: httpx.AsyncClient, complaint_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/v1/complaints/{complaint_id}", headers=OPERATOR)
    assert response.status_code == 200, response.text
    return {c["clock"]: c for c in response.json()["clocks"]}


async def due(client: httpx.AsyncClient, complaint_id: str, clock: str) -> datetime | None:
    found = (await clocks(client, complaint_id))[clock]["due_at"]
    return datetime.fromisoformat(found).astimezone(SHANGHAI) if found else None


async def event(
    client: httpx.AsyncClient, complaint_id: str, kind: str, at: datetime | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"kind": kind}
    if at is not None:
        body["occurred_at"] = at.isoformat()
    return await client.post(f"/v1/complaints/{complaint_id}/events", json=body, headers=OPERATOR)


async def test_a_web_complaint_at_16_00_before_the_national_day_week(complaints: httpx.AsyncClient) -> None:
    # 2026-09-30 (Wed) is the last working day before 1–7 October; 8 October is the next.
    made = await log(complaints, occurred_at=shanghai("2026-09-30T16:00"))
    assert await due(complaints, made["id"], "first_reply") == shanghai("2026-09-30T20:00")  # 4 h, 7×24
    # 2 working days of 09:00–18:00: 2 h on the 30th, 9 h on the 8th, 7 h on the 9th.
    assert await due(complaints, made["id"], "closure") == shanghai("2026-10-09T16:00")
    # Answered within 15 calendar days: by the end of 15 October, Beijing time.
    assert await due(complaints, made["id"], "answered") == shanghai("2026-10-16T00:00")


async def test_a_complaint_on_a_make_up_working_saturday_counts_that_day(
    complaints: httpx.AsyncClient,
) -> None:
    # 2026-10-10 is a Saturday worked in exchange for the holiday (调休); 2026-10-17 is a plain one.
    on_make_up_day = await log(complaints, occurred_at=shanghai("2026-10-10T10:00"))
    assert await due(complaints, on_make_up_day["id"], "closure") == shanghai("2026-10-13T10:00")
    on_a_saturday = await log(complaints, occurred_at=shanghai("2026-10-17T10:00"))
    assert await due(complaints, on_a_saturday["id"], "closure") == shanghai("2026-10-20T18:00")


async def test_waiting_on_the_user_over_a_weekend_pauses_the_closure_clock(
    complaints: httpx.AsyncClient,
) -> None:
    made = await log(complaints, occurred_at=shanghai("2026-11-06T10:00"))  # a Friday
    assert await due(complaints, made["id"], "closure") == shanghai("2026-11-10T10:00")
    assert (
        await event(complaints, made["id"], "waiting_on_user", shanghai("2026-11-06T17:00"))
    ).status_code == 200
    paused = (await clocks(complaints, made["id"]))["closure"]
    assert paused["state"] == "paused"
    assert paused["due_at"] is None
    assert (
        await event(complaints, made["id"], "user_replied", shanghai("2026-11-09T10:00"))
    ).status_code == 200
    # 7 working hours before the pause; 11 left from Monday 10:00: 8 on Monday, 3 on Tuesday.
    assert await due(complaints, made["id"], "closure") == shanghai("2026-11-10T12:00")


async def test_a_calendar_change_moves_an_open_clock(complaints: httpx.AsyncClient, database: str) -> None:
    made = await log(complaints, occurred_at=shanghai("2026-11-16T16:00"))  # a Monday
    assert await due(complaints, made["id"], "closure") == shanghai("2026-11-18T16:00")
    holiday = await complaints.put(
        "/v1/calendar/days/2026-11-17", json={"kind": "holiday", "note": "临时休假"}, headers=OPERATOR
    )
    assert holiday.status_code == 200, holiday.text
    assert await due(complaints, made["id"], "closure") == shanghai("2026-11-19T16:00")
    # The scheduler's copy moved too (the calendar's listener recomputed the open complaints).
    conn = await asyncpg.connect(database)
    try:
        stored = await conn.fetchval(
            "SELECT due_at FROM complaint_clocks WHERE complaint_id = $1 AND clock = 'closure'",
            uuid.UUID(made["id"]),
        )
    finally:
        await conn.close()
    assert stored == shanghai("2026-11-19T16:00")


async def test_a_calendar_recompute_waits_for_a_complaint_being_changed(
    complaints: httpx.AsyncClient, database: str
) -> None:
    """A reply being recorded while the calendar changes: the recompute must read the history
    with the reply in it, not write back a running clock from the history before it."""
    made = await log(complaints, occurred_at=shanghai("2026-11-16T16:00"))
    complaint_id = uuid.UUID(made["id"])
    change = await asyncpg.connect(database)
    try:
        async with change.transaction():
            # what recording a reply does: the complaint locked, the event added (its clocks are
            # recomputed in the same transaction; here that is left to the calendar's recompute)
            await change.execute("SELECT 1 FROM complaints WHERE id = $1 FOR UPDATE", complaint_id)
            await change.execute(
                """INSERT INTO complaint_events (id, complaint_id, kind, occurred_at, recorded_at, actor)
                   VALUES ($1, $2, 'replied', $3, $3, 'agent')""",
                uuid.uuid4(),
                complaint_id,
                shanghai("2026-11-16T17:00"),
            )
            holiday = asyncio.create_task(
                complaints.put("/v1/calendar/days/2026-11-17", json={"kind": "holiday"}, headers=OPERATOR)
            )

            async def recompute_waits() -> bool:
                blocked = await change.fetchval(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"""
                )
                return bool(blocked)

            await eventually(recompute_waits)
            assert not holiday.done()
        assert (await holiday).status_code == 200
        first_reply = await change.fetchrow(
            "SELECT state, stopped_at FROM complaint_clocks WHERE complaint_id = $1 AND clock = 'first_reply'",
            complaint_id,
        )
    finally:
        await change.close()
    assert first_reply["stopped_at"] == shanghai("2026-11-16T17:00")
    assert first_reply["state"] != "running"


async def test_a_year_without_calendar_data_falls_back_to_monday_to_friday(
    complaints: httpx.AsyncClient, clock: ManualClock
) -> None:
    ready = (await complaints.get("/readyz")).json()
    assert "2027" in ready["warnings"]["calendar"]
    clock.advance(shanghai("2027-02-06T00:00") - clock.now())
    made = await log(complaints, occurred_at=shanghai("2027-02-05T16:00"))  # a Friday, no data for 2027
    assert await due(complaints, made["id"], "closure") == shanghai("2027-02-09T16:00")
    # The year's schedule is entered: Spring Festival from 8 February. The open clock follows.
    for day in ("2027-02-08", "2027-02-09", "2027-02-10"):
        response = await complaints.put(
            f"/v1/calendar/days/{day}", json={"kind": "holiday", "note": "春节"}, headers=OPERATOR
        )
        assert response.status_code == 200, response.text
    assert await due(complaints, made["id"], "closure") == shanghai("2027-02-12T16:00")


async def test_a_call_solved_on_the_call_and_calls_back_at_minute_29_and_31(
    complaints: httpx.AsyncClient, clock: ManualClock, database: str
) -> None:
    solved = await log(complaints, channel="phone", solved_on_call=True)
    assert set(await clocks(complaints, solved["id"])) == {"solution", "answered", "closure", "follow_up"}
    assert (await clocks(complaints, solved["id"]))["solution"]["state"] == "met"

    on_time, late = await log(complaints, channel="phone"), await log(complaints, channel="phone")
    clock.advance(timedelta(minutes=29))
    assert (await event(complaints, on_time["id"], "contacted")).status_code == 200
    assert (await clocks(complaints, on_time["id"]))["first_reply"]["state"] == "met"
    clock.advance(timedelta(minutes=2))  # minute 31
    assert (await complaints.post("/v1/jobs/sla-tick", headers=OPERATOR)).status_code == 200
    assert (await event(complaints, late["id"], "contacted")).status_code == 200
    assert (await clocks(complaints, late["id"]))["first_reply"]["state"] == "met_late"
    alerts = await alerts_of(database, late["id"])
    assert ("first_reply", "breached") in alerts
    assert ("first_reply", "breached") not in await alerts_of(database, on_time["id"])


async def test_the_queue_puts_the_complaint_due_soonest_first(
    complaints: httpx.AsyncClient, clock: ManualClock
) -> None:
    web = await log(complaints, channel="web")  # first reply within 4 h
    phone = await log(complaints, channel="phone")  # a solution within 15 min
    done = await log(complaints, channel="phone", solved_on_call=True)
    assert (await event(complaints, done["id"], "resolved")).status_code == 200
    queue = (await complaints.get("/v1/complaints", headers=OPERATOR)).json()
    assert [item["complaint"]["id"] for item in queue] == [phone["id"], web["id"]]
    soonest = datetime.fromisoformat(queue[0]["next_due"])
    assert soonest == datetime.fromisoformat(phone["created_at"]) + timedelta(minutes=15)


async def alerts_of(database: str, complaint_id: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT clock, alert FROM sla_alerts WHERE complaint_id = $1 ORDER BY fell_due_at, clock",
            uuid.UUID(complaint_id),
        )
    finally:
        await conn.close()
    return [(r["clock"], r["alert"]) for r in rows]


async def test_bad_events_are_refused_with_a_problem(
    complaints: httpx.AsyncClient, clock: ManualClock
) -> None:
    made = await log(complaints)
    problem_of(await event(complaints, made["id"], "closed"), 409, "complaint_state_conflict")
    problem_of(
        await event(complaints, made["id"], "replied", clock.now() + timedelta(hours=1)),
        422,
        "occurred_in_future",
    )
    problem_of(
        await event(complaints, made["id"], "replied", clock.now() - timedelta(days=1)),
        422,
        "occurred_before_complaint",
    )
    problem_of(await event(complaints, str(uuid.uuid4()), "replied"), 404, "complaint_not_found")
    forwarded = await complaints.post(
        "/v1/complaints",
        json={"channel": "operator", "category": "billing", "msisdn": "8613800001234", "summary": "转办"},
        headers=OPERATOR,
    )
    problem_of(forwarded, 422, "operator_deadline_missing")


async def sla_events(bootstrap: str, complaint_id: str, count: int) -> list[str]:
    """The SLA warnings and breaches about this complaint on complaint.events, to the end of the
    topic (so a duplicate would be among them)."""

    def raised(event: Event) -> bool:
        return isinstance(event, SlaWarning | SlaBreached) and str(event.payload.complaint_id) == complaint_id

    found = await read_events(bootstrap, "complaint.events", raised, count)
    return [f"{e.type}:{e.payload.clock}:{e.payload.alert}" for e, _ in found]


async def test_each_warning_and_breach_is_raised_once_by_two_replicas_and_after_a_restart(
    database: str, kafka: Any
) -> None:
    clock = ManualClock()

    async def tick_all(*replicas: httpx.AsyncClient) -> None:
        answers = await asyncio.gather(*(r.post("/v1/jobs/sla-tick", headers=OPERATOR) for r in replicas))
        assert all(a.status_code == 200 for a in answers)

    # The replicas race on the database; none reads a topic (three members joining and leaving
    # one consumer group in seconds leaves the dev broker's group unable to take a new member).
    replica = settings(database, kafka, consumers=False)
    async with serve(create_app(replica, clock=clock)) as one:
        async with serve(create_app(replica, clock=clock)) as two:
            made = await log(one)  # a web complaint: first reply within 4 h
            clock.advance(timedelta(hours=2, minutes=1))  # past 50 %
            await tick_all(one, two, one, two)
        # replica two restarts
        async with serve(create_app(replica, clock=clock)) as two_again:
            await tick_all(one, two_again)
            clock.advance(timedelta(hours=2))  # past 80 % and the due time
            await tick_all(one, two_again, one, two_again)

            async def drained() -> bool:
                conn = await asyncpg.connect(database)
                try:
                    return int(await conn.fetchval("SELECT count(*) FROM outbox")) == 0
                finally:
                    await conn.close()

            await eventually(drained)
    assert await alerts_of(database, made["id"]) == [
        ("first_reply", "warning_50"),
        ("first_reply", "warning_80"),
        ("first_reply", "breached"),
    ]
    raised = await sla_events(kafka.bootstrap, made["id"], 3)
    assert sorted(raised) == [
        "complaint.sla_breached:first_reply:breached",
        "complaint.sla_warning:first_reply:warning_50",
        "complaint.sla_warning:first_reply:warning_80",
    ]


async def test_each_stopped_run_is_told_once_on_time_or_late_by_two_replicas(
    database: str, kafka: Any
) -> None:
    """complaint.clock_stopped: what the service quality report counts attainment from (with the
    breaches). Once per (complaint, clock, run), whatever recomputes two replicas run at once."""
    clock = ManualClock()
    replica = settings(database, kafka, consumers=False)
    async with serve(create_app(replica, clock=clock)) as one, serve(create_app(replica, clock=clock)) as two:
        on_time, late = await log(one, channel="phone"), await log(one, channel="phone")
        clock.advance(timedelta(minutes=29))
        assert (await event(one, on_time["id"], "contacted")).status_code == 200
        clock.advance(timedelta(minutes=2))  # minute 31: the late one's first reply is past due
        assert (await one.post("/v1/jobs/sla-tick", headers=OPERATOR)).status_code == 200
        assert (await event(two, late["id"], "contacted")).status_code == 200
        for _ in range(2):  # everything open computed again, by both replicas at once
            answers = await asyncio.gather(
                *(r.post("/v1/jobs/recompute-clocks", headers=OPERATOR) for r in (one, two))
            )
            assert all(a.status_code == 200 for a in answers)

    ids = {on_time["id"], late["id"]}

    def stopped(e: Event) -> bool:
        return isinstance(e, ClockStopped) and str(e.payload.complaint_id) in ids

    found = [e.payload for e, _ in await read_events(kafka.bootstrap, "complaint.events", stopped, 2)]
    runs = [(str(p.complaint_id), p.clock, p.started_at) for p in found]
    assert len(runs) == len(set(runs))  # each run told once
    first_replies = {str(p.complaint_id): p for p in found if p.clock == "first_reply"}
    assert first_replies[on_time["id"]].met is True
    assert first_replies[late["id"]].met is False
    late_run = first_replies[late["id"]]
    assert late_run.due_at is not None
    assert late_run.stopped_at > late_run.due_at
    assert (late_run.channel, late_run.category) == ("phone", "billing")
    # Told runs are recorded beside the alerts: the late run was breached, then stopped.
    alerts = await alerts_of(database, late["id"])
    assert alerts.count(("first_reply", "breached")) == 1
    assert alerts.count(("first_reply", "stopped")) == 1
    assert alerts.index(("first_reply", "breached")) < alerts.index(("first_reply", "stopped"))


async def test_the_public_form_gives_a_tracking_code_and_is_limited_per_number(
    complaints: httpx.AsyncClient,
) -> None:
    form = {"msisdn": "+8613800005678", "category": "billing", "summary": "上月多扣了5元"}
    codes = []
    for _ in range(3):
        made = await complaints.post("/v1/public/complaints", json=form)
        assert made.status_code == 201, made.text
        codes.append(made.json()["tracking_code"])
    limited = problem_of(
        await complaints.post("/v1/public/complaints", json=form), 429, "too_many_complaints"
    )
    assert limited["detail"]
    # staff logging for the same number are not limited
    await log(complaints, msisdn="8613800005678")

    tracked = await complaints.get(f"/v1/public/complaints/{codes[0]}", params={"last4": "5678"})
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["status"] == "open"
    assert "8613800005678" not in tracked.text
    wrong_number = await complaints.get(f"/v1/public/complaints/{codes[0]}", params={"last4": "0000"})
    wrong_code = await complaints.get("/v1/public/complaints/TS2345678923", params={"last4": "5678"})
    assert problem_of(wrong_number, 404, "complaint_not_found") == {
        **problem_of(wrong_code, 404, "complaint_not_found"),
        "instance": wrong_number.json()["instance"],
    }
