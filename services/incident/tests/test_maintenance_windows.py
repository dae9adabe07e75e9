"""Maintenance windows on the real database and broker: the 72 h notice refused with the earliest
start, the emergency exception, a numbered notice event for each schedule, reschedule,
cancellation and reminder (the reminder once, with two ticks racing), start and completion by the
clock, the regulator task of a window longer than 24 h, and the subscription service's count of
each notice kept with it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from incident.main import create_app
from incident.maintenance.service import MaintenanceService
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_common.events import Event
from vas_common.events.incident_maintenance import (
    MaintenanceCancelled,
    MaintenanceCompleted,
    MaintenanceReminder,
    MaintenanceRescheduled,
    MaintenanceScheduled,
    MaintenanceStarted,
)
from vas_common.events.subscription import MaintenanceNoticeCount, MaintenanceNoticesSent
from vas_common.events.topics import INCIDENT_EVENTS, SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.pytest_plugin import (
    OPERATOR_TOKEN,
    eventually,
    problem_of,
    read_events,
    serve,
    service_settings_kwargs,
)

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
H = timedelta(hours=1)


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock

    @property
    def maintenance(self) -> MaintenanceService:
        service = self.app.state.maintenance_service
        assert isinstance(service, MaintenanceService)
        return service

    def at(self, delta: timedelta) -> str:
        return (self.clock.now() + delta).isoformat()


@pytest.fixture
async def incident(database: str, kafka: Any) -> AsyncIterator[Running]:
    clock = ManualClock()
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        maintenance_tick_interval_s=3600,  # the tests tick by hand
    )
    app = create_app(settings, clock=clock)
    async with serve(app) as client:
        yield Running(app, client, clock)


def body(running: Running, starts_in: timedelta, lasts: timedelta = 4 * H, **more: Any) -> dict[str, Any]:
    return {
        "product_codes": ["NEWS"],
        "services": ["sms-sender"],
        "starts_at": running.at(starts_in),
        "ends_at": running.at(starts_in + lasts),
        "text_zh": "短信网关升级。",
        **more,
    }


async def events_of(kafka: Any, window_id: str, count: int) -> list[Event]:
    def ours(event: Event) -> bool:
        return str(getattr(getattr(event, "payload", None), "window_id", "")) == window_id and (
            event.type.startswith("incident.maintenance_")
        )

    return [e for e, _ in await read_events(kafka.bootstrap, INCIDENT_EVENTS.name, ours, count)]


async def test_less_than_the_notice_period_is_refused_with_the_earliest_start(incident: Running) -> None:
    refused = problem_of(
        await incident.client.post(
            "/v1/maintenance-windows", json=body(incident, 71 * H + timedelta(minutes=59)), headers=OPERATOR
        ),
        422,
        "maintenance_notice_too_short",
    )
    earliest = datetime.fromisoformat(refused["earliest_start"])
    assert abs(earliest - (incident.clock.now() + 72 * H)) < timedelta(seconds=5)
    assert refused["notice_period_hours"] == 72
    problem_of(
        await incident.client.post(
            "/v1/maintenance-windows", json=body(incident, H, emergency=True), headers=OPERATOR
        ),
        422,
        "emergency_reason_required",
    )
    urgent = await incident.client.post(
        "/v1/maintenance-windows",
        json=body(incident, H, emergency=True, emergency_reason="核心网设备故障"),
        headers=OPERATOR,
    )
    assert urgent.status_code == 201, urgent.text
    assert urgent.json()["emergency_reason"] == "核心网设备故障"
    problem_of(
        await incident.client.post(
            "/v1/maintenance-windows", json=body(incident, 80 * H, -H), headers=OPERATOR
        ),
        422,
        "maintenance_times_invalid",
    )
    problem_of(
        await incident.client.post(
            "/v1/maintenance-windows",
            json={**body(incident, 80 * H), "product_codes": [], "services": []},
            headers=OPERATOR,
        ),
        422,
        "validation_failed",
    )
    unknown = problem_of(
        await incident.client.post(
            "/v1/maintenance-windows",
            json={**body(incident, 80 * H), "services": ["sms-sender", "billing"]},
            headers=OPERATOR,
        ),
        422,
        "unknown_service",
    )
    assert "billing" in unknown["detail"]
    assert unknown["known_services"] == ["sms-sender", "subscription", "complaints", "incident"]


async def test_each_change_is_a_numbered_notice_and_the_reminder_is_sent_once(
    incident: Running, kafka: Any
) -> None:
    created = await incident.client.post(
        "/v1/maintenance-windows", json=body(incident, 72 * H + H), headers=OPERATOR
    )
    assert created.status_code == 201, created.text
    window = created.json()
    wid = window["id"]
    assert (window["status"], window["notice"], window["created_by"]) == ("scheduled", 1, "operator")

    new_start = incident.clock.now() + 96 * H
    moved = await incident.client.put(
        f"/v1/maintenance-windows/{wid}/schedule",
        json={"starts_at": new_start.isoformat(), "ends_at": (new_start + 2 * H).isoformat()},
        headers=OPERATOR,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["notice"] == 2
    same = await incident.client.put(
        f"/v1/maintenance-windows/{wid}/schedule",
        json={"starts_at": new_start.isoformat(), "ends_at": (new_start + 2 * H).isoformat()},
        headers=OPERATOR,
    )
    assert same.json()["notice"] == 2  # the same times: no new notice
    problem_of(
        await incident.client.put(
            f"/v1/maintenance-windows/{wid}/schedule",
            json={"starts_at": incident.at(10 * H), "ends_at": incident.at(12 * H)},
            headers=OPERATOR,
        ),
        422,
        "maintenance_notice_too_short",
    )

    # The reminder, 24 h before the new start: two replicas' ticks at once send it once.
    assert await incident.maintenance.tick() == 0
    incident.clock.advance(96 * H - 24 * H + timedelta(minutes=1))
    assert sum(await asyncio.gather(incident.maintenance.tick(), incident.maintenance.tick())) == 1
    assert await incident.maintenance.tick() == 0

    events = await events_of(kafka, wid, 3)
    assert [type(e) for e in events] == [MaintenanceScheduled, MaintenanceRescheduled, MaintenanceReminder]
    assert [e.payload.notice for e in events] == [1, 2, 3]  # type: ignore[attr-defined]
    rescheduled = events[1]
    assert isinstance(rescheduled, MaintenanceRescheduled)
    assert rescheduled.payload.previous_starts_at == datetime.fromisoformat(window["starts_at"])
    assert rescheduled.payload.starts_at == new_start
    assert rescheduled.payload.product_codes == ["NEWS"]
    assert rescheduled.payload.text_zh == "短信网关升级。"

    # The subscription service's count of each notice lands with it (redelivered: the same).
    publisher = EventPublisher(ServiceSettings(kafka_bootstrap=kafka.bootstrap), Metrics("test"))
    await publisher.start()
    try:
        count = MaintenanceNoticesSent(
            payload=MaintenanceNoticeCount(
                window_id=uuid.UUID(wid),
                notice=2,
                notice_type="incident.maintenance_rescheduled",
                product_codes=["NEWS"],
                subscribers_notified=7,
                completed_at=incident.clock.now(),
            )
        )
        await publisher.publish(SUBSCRIPTION_EVENTS, count)
        await publisher.publish(SUBSCRIPTION_EVENTS, count)
    finally:
        await publisher.stop()

    async def counted() -> list[Any]:
        detail = (await incident.client.get(f"/v1/maintenance-windows/{wid}", headers=OPERATOR)).json()
        notified = [n["subscribers_notified"] for n in detail["notices"]]
        assert notified == [None, 7, None], detail
        return list(detail["notices"])

    notices = await eventually(counted)
    assert [n["kind"] for n in notices] == ["scheduled", "rescheduled", "reminder"]
    assert notices[2]["actor"] == "system"

    # Started and completed by the clock.
    incident.clock.advance(24 * H)
    assert await incident.maintenance.tick() == 1
    detail = (await incident.client.get(f"/v1/maintenance-windows/{wid}", headers=OPERATOR)).json()
    assert detail["status"] == "in_progress"
    problem_of(
        await incident.client.post(
            f"/v1/maintenance-windows/{wid}/cancellation", json={"reason": "晚了"}, headers=OPERATOR
        ),
        409,
        "maintenance_not_changeable",
    )
    incident.clock.advance(2 * H)
    assert await incident.maintenance.tick() == 1
    events = await events_of(kafka, wid, 5)
    assert [type(e) for e in events[3:]] == [MaintenanceStarted, MaintenanceCompleted]


async def test_a_cancellation_is_a_notice_and_withdraws_the_regulator_task(
    incident: Running, kafka: Any
) -> None:
    created = await incident.client.post(
        "/v1/maintenance-windows", json=body(incident, 100 * H, lasts=30 * H), headers=OPERATOR
    )
    assert created.status_code == 201, created.text
    wid = created.json()["id"]
    detail = (await incident.client.get(f"/v1/maintenance-windows/{wid}", headers=OPERATOR)).json()
    task = detail["regulator_task"]
    assert (task["kind"], task["status"], task["overdue"]) == ("maintenance_over_24h", "open", False)
    assert (
        datetime.fromisoformat(task["due_at"]) == datetime.fromisoformat(created.json()["starts_at"]) - 72 * H
    )
    listed = (
        await incident.client.get("/v1/regulator-tasks", params={"status": "open"}, headers=OPERATOR)
    ).json()
    assert task["id"] in [t["id"] for t in listed]

    cancelled = await incident.client.post(
        f"/v1/maintenance-windows/{wid}/cancellation", json={"reason": "改用备用方案"}, headers=OPERATOR
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["notice"]) == ("cancelled", 2)
    again = await incident.client.post(
        f"/v1/maintenance-windows/{wid}/cancellation", json={"reason": "改用备用方案"}, headers=OPERATOR
    )
    assert again.json()["notice"] == 2  # cancelled once
    events = await events_of(kafka, wid, 2)
    assert [type(e) for e in events] == [MaintenanceScheduled, MaintenanceCancelled]
    detail = (await incident.client.get(f"/v1/maintenance-windows/{wid}", headers=OPERATOR)).json()
    assert detail["regulator_task"]["status"] == "withdrawn"
    problem_of(
        await incident.client.post(
            f"/v1/regulator-tasks/{task['id']}/completion", json={"note": "已报"}, headers=OPERATOR
        ),
        409,
        "regulator_task_withdrawn",
    )


async def test_a_regulator_task_is_marked_done_and_goes_overdue_when_not(incident: Running) -> None:
    urgent = await incident.client.post(
        "/v1/maintenance-windows",
        json=body(incident, 2 * H, lasts=26 * H, emergency=True, emergency_reason="光缆中断抢修"),
        headers=OPERATOR,
    )
    assert urgent.status_code == 201, urgent.text
    other = await incident.client.post(
        "/v1/maintenance-windows", json=body(incident, 100 * H, lasts=25 * H), headers=OPERATOR
    )
    incident.clock.advance(H)
    tasks = (await incident.client.get("/v1/regulator-tasks", headers=OPERATOR)).json()
    by_window = {t["window_id"]: t for t in tasks}
    late = by_window[urgent.json()["id"]]
    assert late["overdue"] is True  # due at once: an emergency leaves no lead time
    assert "紧急维护" in late["summary"]
    assert by_window[other.json()["id"]]["overdue"] is False
    done = await incident.client.post(
        f"/v1/regulator-tasks/{late['id']}/completion", json={"note": "已通过管局系统报送"}, headers=OPERATOR
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["done_by"], done.json()["overdue"]) == (
        "done",
        "operator",
        False,
    )
    problem_of(
        await incident.client.post(
            f"/v1/regulator-tasks/{uuid.uuid4()}/completion", json={}, headers=OPERATOR
        ),
        404,
        "regulator_task_not_found",
    )
