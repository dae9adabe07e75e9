"""The calendar's admin API against the real PostgreSQL (migrations applied by the app at start),
and what a change through it does to the calendar the SLA clocks count on.

The app's clock stands at 2026-12-03 10:00 Asia/Shanghai (conftest.TODAY): 2026 is in the pinned
chinesecalendar 1.11.0, 2027 is not."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest

from complaints.calendar.domain import SHANGHAI, BusinessCalendar
from complaints.calendar.repository import CalendarRepository
from complaints.calendar.service import CalendarService
from vas_common.clock import SystemClock
from vas_common.db import DbConnection
from vas_devstack.pytest_plugin import problem_of

Complaints = Any  # conftest.RunningComplaints: .app, .client, .clock, .calendar

DUE_FROM = datetime(2026, 9, 30, 16, tzinfo=SHANGHAI)  # the last working day before National Day


def sh(month: int, day: int, hour: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


async def test_a_year_lists_its_holidays_and_make_up_days_from_the_seed(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    shown = await complaints.client.get("/v1/calendar", params={"year": 2026}, headers=operator)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["year"], body["known"], body["known_by"]) == (2026, True, "chinesecalendar")
    assert body["hours"] == {"start": "09:00", "end": "18:00"}
    assert body["missing_years"] == [2027]
    days = {d["day"]: d for d in body["days"]}
    assert days["2026-10-01"]["kind"] == "holiday"
    assert days["2026-10-01"]["source"] == "seed"
    # Named in Chinese, as users read it; the English name is there for the staff console.
    assert (days["2026-10-01"]["note"], days["2026-10-01"]["seeded_name_en"]) == ("国庆节", "National Day")
    assert days["2026-02-14"]["kind"] == "workday"  # Saturday: make-up working day
    assert days["2026-02-14"]["note"] == "春节调休上班"
    assert days["2026-09-20"]["kind"] == "workday"  # Sunday: make-up working day
    assert "2026-10-08" not in days  # a plain Thursday
    assert [d["day"] for d in body["days"]] == sorted(days)

    this_year = await complaints.client.get("/v1/calendar", headers=operator)
    assert this_year.json()["year"] == 2026

    unknown = (await complaints.client.get("/v1/calendar?year=2027", headers=operator)).json()
    assert (unknown["known"], unknown["known_by"], unknown["days"]) == (False, None, [])


async def test_an_override_moves_a_due_time_and_its_removal_moves_it_back(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    service: CalendarService = complaints.calendar
    heard: list[tuple[BusinessCalendar, int]] = []

    async def listener(calendar: BusinessCalendar, version: int) -> None:
        heard.append((calendar, version))

    service.add_listener(listener)
    before = await service.calendar()
    version = service.version
    assert before.add_working_days(DUE_FROM, 2) == sh(10, 9, 16)

    put = await complaints.client.put(
        "/v1/calendar/days/2026-10-08",
        json={"kind": "holiday", "note": "国务院通知：国庆延长一天"},
        headers=operator,
    )
    assert put.status_code == 200, put.text
    assert put.json()["kind"] == "holiday"
    assert put.json()["updated_by"] == "operator"
    after = await service.calendar()
    # Thu Oct 8 off: 2 h on Sep 30, 9 h on Fri Oct 9, 7 h on the make-up Saturday Oct 10
    assert after.add_working_days(DUE_FROM, 2) == sh(10, 10, 16)
    assert service.version > version
    assert await service.changed_since(version)
    assert [v for _, v in heard] == [service.version]
    assert heard[0][0].add_working_days(DUE_FROM, 2) == sh(10, 10, 16)

    listed = (await complaints.client.get("/v1/calendar?year=2026", headers=operator)).json()
    [oct8] = [d for d in listed["days"] if d["day"] == "2026-10-08"]
    assert (oct8["kind"], oct8["source"], oct8["seeded_kind"]) == ("holiday", "override", None)
    assert oct8["note"] == "国务院通知：国庆延长一天"

    # an override of a seeded day keeps what the seed says
    await complaints.client.put("/v1/calendar/days/2026-10-10", json={"kind": "holiday"}, headers=operator)
    listed = (await complaints.client.get("/v1/calendar?year=2026", headers=operator)).json()
    [oct10] = [d for d in listed["days"] if d["day"] == "2026-10-10"]
    assert (oct10["kind"], oct10["source"], oct10["seeded_kind"]) == ("holiday", "override", "workday")
    assert (await service.calendar()).add_working_days(DUE_FROM, 2) == sh(10, 12, 16)

    for day in ("2026-10-08", "2026-10-10"):
        deleted = await complaints.client.delete(f"/v1/calendar/days/{day}", headers=operator)
        assert deleted.status_code == 204, deleted.text
    assert (await service.calendar()).add_working_days(DUE_FROM, 2) == sh(10, 9, 16)
    again = await complaints.client.delete("/v1/calendar/days/2026-10-08", headers=operator)
    problem_of(again, 404, "calendar_override_not_found")


async def test_a_missing_year_is_a_metric_and_a_readiness_warning_until_declared_complete(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    ready = await complaints.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "2027" in ready.json()["warnings"]["calendar"]
    assert "complaints_calendar_missing_years 1.0" in (await complaints.client.get("/metrics")).text

    # 2027's schedule entered by hand (two of its days here), then declared complete
    for day, kind in (("2027-01-01", "holiday"), ("2027-02-20", "workday")):
        put = await complaints.client.put(f"/v1/calendar/days/{day}", json={"kind": kind}, headers=operator)
        assert put.status_code == 200, put.text
    declared = await complaints.client.put(
        "/v1/calendar/years/2027", json={"complete": True, "note": "国办发明电〔2026〕"}, headers=operator
    )
    assert declared.status_code == 200, declared.text
    body = declared.json()
    assert (body["known"], body["known_by"], body["missing_years"]) == (True, "administrator", [])
    assert body["declaration"]["complete"] is True
    assert [d["day"] for d in body["days"]] == ["2027-01-01", "2027-02-20"]

    ready = await complaints.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["warnings"] == {}
    assert "complaints_calendar_missing_years 0.0" in (await complaints.client.get("/metrics")).text
    calendar = await complaints.calendar.calendar()
    assert calendar.missing_years(sh(12, 31, 9), sh(1, 2, 9, year=2027)) == set()
    assert not calendar.is_working_day(date(2027, 1, 1))

    withdrawn = await complaints.client.put(
        "/v1/calendar/years/2027", json={"complete": False}, headers=operator
    )
    assert withdrawn.json()["missing_years"] == [2027]
    # a seeded year stays known whatever is declared
    seeded = await complaints.client.put(
        "/v1/calendar/years/2026", json={"complete": False}, headers=operator
    )
    assert (seeded.json()["known"], seeded.json()["known_by"]) == (True, "chinesecalendar")


async def test_working_hours_are_data(complaints: Complaints, operator: dict[str, str]) -> None:
    put = await complaints.client.put(
        "/v1/calendar/hours", json={"start": "08:30", "end": "17:30:00"}, headers=operator
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"start": "08:30", "end": "17:30"}
    calendar = await complaints.calendar.calendar()
    # 1.5 h on Sep 30, 9 h on Oct 8, 7.5 h on Oct 9
    assert calendar.add_working_days(DUE_FROM, 2) == datetime(2026, 10, 9, 16, tzinfo=SHANGHAI)
    assert calendar.add_working_days(sh(9, 30, 17), 1) == sh(10, 8, 17)
    shown = (await complaints.client.get("/v1/calendar", headers=operator)).json()
    assert shown["hours"] == {"start": "08:30", "end": "17:30"}


async def test_a_change_through_another_replica_is_noticed(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    other = CalendarService(complaints.app.state.runtime.db(), SystemClock(), recheck_interval_s=3600)
    first = await other.calendar()
    version = other.version
    put = await complaints.client.put(
        "/v1/calendar/days/2026-10-08", json={"kind": "holiday"}, headers=operator
    )
    assert put.status_code == 200
    assert await other.changed_since(version)
    assert first.add_working_days(DUE_FROM, 2) == sh(10, 9, 16)  # a calendar read is not changed
    assert (await other.calendar()).add_working_days(DUE_FROM, 2) == sh(10, 10, 16)


BAD_INPUT: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
    ("PUT", "/v1/calendar/days/2026-02-30", {"kind": "holiday"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/days/tomorrow", {"kind": "holiday"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/days/1999-12-31", {"kind": "holiday"}, 422, "calendar_out_of_range"),
    ("PUT", "/v1/calendar/days/3000-01-01", {"kind": "holiday"}, 422, "calendar_out_of_range"),
    ("DELETE", "/v1/calendar/days/0001-01-01", None, 422, "calendar_out_of_range"),
    ("PUT", "/v1/calendar/days/2026-10-08", {"kind": "vacation"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/days/2026-10-08", {}, 422, "validation_failed"),
    (
        "PUT",
        "/v1/calendar/days/2026-10-08",
        {"kind": "holiday", "note": "a\u0000b"},
        422,
        "validation_failed",
    ),
    (
        "PUT",
        "/v1/calendar/days/2026-10-08",
        {"kind": "holiday", "note": "x" * 201},
        422,
        "validation_failed",
    ),
    ("PUT", "/v1/calendar/hours", {"start": "18:00", "end": "09:00"}, 422, "invalid_working_hours"),
    ("PUT", "/v1/calendar/hours", {"start": "09:00", "end": "09:00"}, 422, "invalid_working_hours"),
    ("PUT", "/v1/calendar/hours", {"start": "09:00+08:00", "end": "18:00"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/hours", {"start": 32400, "end": "18:00"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/hours", {"start": "25:00", "end": "18:00"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/years/2027", {"complete": "yes"}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/years/1999", {"complete": True}, 422, "validation_failed"),
    ("PUT", "/v1/calendar/years/twenty", {"complete": True}, 422, "validation_failed"),
    ("GET", "/v1/calendar?year=1999", None, 422, "validation_failed"),
    ("GET", "/v1/calendar?year=2026.5", None, 422, "validation_failed"),
]


async def test_bad_input_is_a_4xx_problem_with_a_stable_code(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    for method, path, body, status, code in BAD_INPUT:
        response = await complaints.client.request(method, path, json=body, headers=operator)
        assert response.status_code == status, (method, path, body, response.text)
        problem_of(response, status, code)
    # none of it reached the calendar
    shown = (await complaints.client.get("/v1/calendar", headers=operator)).json()
    assert shown["version"] == 1
    assert shown["hours"] == {"start": "09:00", "end": "18:00"}


async def test_the_calendar_is_for_the_operator_only(complaints: Complaints) -> None:
    client: httpx.AsyncClient = complaints.client
    for method, path, body in (
        ("GET", "/v1/calendar", None),
        ("PUT", "/v1/calendar/days/2026-10-08", {"kind": "holiday"}),
        ("DELETE", "/v1/calendar/days/2026-10-08", None),
        ("PUT", "/v1/calendar/years/2027", {"complete": True}),
        ("PUT", "/v1/calendar/hours", {"start": "09:00", "end": "18:00"}),
    ):
        problem_of(await client.request(method, path, json=body), 401, "unauthorized")
    assert (await complaints.calendar.calendar()).is_working_day(date(2026, 10, 8))


class FlakyCalendars(CalendarRepository):
    """The stored calendar's reads, failing as a database that went away does while `down`."""

    down = False

    async def revision(self, conn: DbConnection) -> int:
        if self.down:
            raise ConnectionRefusedError("database away")
        return await super().revision(conn)


async def test_with_the_database_away_the_last_calendar_read_is_used(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    calendars = FlakyCalendars()
    calendars.down = True
    service = CalendarService(
        complaints.app.state.runtime.db(), complaints.clock, calendars, recheck_interval_s=0
    )
    with pytest.raises(ConnectionRefusedError):  # nothing read yet: nothing to fall back on
        await service.calendar()
    calendars.down = False
    read = await service.calendar()
    calendars.down = True
    assert await service.calendar() is read
    assert await service.readiness_warning() is not None  # still answers, from the last read


async def test_a_failing_listener_neither_undoes_the_change_nor_silences_the_others(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    heard: list[int] = []

    async def failing(_calendar: BusinessCalendar, _version: int) -> None:
        raise RuntimeError("recompute failed")

    async def counting(_calendar: BusinessCalendar, version: int) -> None:
        heard.append(version)

    complaints.calendar.add_listener(failing)
    complaints.calendar.add_listener(counting)
    put = await complaints.client.put(
        "/v1/calendar/days/2026-10-08", json={"kind": "holiday"}, headers=operator
    )
    assert put.status_code == 200, put.text
    assert heard == [complaints.calendar.version]
    assert not (await complaints.calendar.calendar()).is_working_day(date(2026, 10, 8))
