"""The incident service's records (incident/records/): kept at least 6 months, never deleted
while a legal hold applies, exportable as JSON. On the real database: records are aged past the
retention period by moving the clock, and the retention run keeps the held ones (a hold on an
incident merged into another keeps the whole family)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from incident.main import create_app
from incident.records.service import RecordsService
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, problem_of, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
H = timedelta(hours=1)
RETENTION_DAYS = 200


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock

    @property
    def records(self) -> RecordsService:
        service = self.app.state.records_service
        assert isinstance(service, RecordsService)
        return service

    async def incident(self, title: str, *, resolve: bool = True, severity: str = "major") -> str:
        opened = await self.client.post(
            "/v1/incidents",
            json={"title": title, "severity": severity, "impact": "full", "services": ["sms-sender"]},
            headers=OPERATOR,
        )
        assert opened.status_code == 201, opened.text
        incident_id = str(opened.json()["incident"]["id"])
        entry = await self.client.post(
            f"/v1/incidents/{incident_id}/timeline", json={"kind": "note", "text": "已定位"}, headers=OPERATOR
        )
        assert entry.status_code == 201, entry.text
        if resolve:
            done = await self.client.post(f"/v1/incidents/{incident_id}/resolve", json={}, headers=OPERATOR)
            assert done.status_code == 200, done.text
        return incident_id

    async def cancelled_window(self) -> str:
        start = self.clock.now() + 80 * H
        made = await self.client.post(
            "/v1/maintenance-windows",
            json={
                "product_codes": ["NEWS"],
                "services": ["sms-sender"],
                "starts_at": start.isoformat(),
                "ends_at": (start + 2 * H).isoformat(),
                "text_zh": "短信网关升级。",
            },
            headers=OPERATOR,
        )
        assert made.status_code == 201, made.text
        window_id = str(made.json()["id"])
        cancelled = await self.client.post(
            f"/v1/maintenance-windows/{window_id}/cancellation", json={"reason": "推迟"}, headers=OPERATOR
        )
        assert cancelled.status_code == 200, cancelled.text
        return window_id

    async def hold(self, **target: str) -> httpx.Response:
        body = {"holder": "regulator", "reason": "通信管理局调查", **target}
        return await self.client.post("/v1/records/holds", json=body, headers=OPERATOR)

    async def exists(self, incident_id: str) -> bool:
        found = await self.client.get(f"/v1/incidents/{incident_id}", headers=OPERATOR)
        assert found.status_code in (200, 404), found.text
        return found.status_code == 200


@pytest.fixture
async def running(database: str, kafka: Any) -> AsyncIterator[Running]:
    clock = ManualClock()
    settings = IncidentSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        records_retention_days=RETENTION_DAYS,
        records_retention_interval_s=3600,  # run by the test
        maintenance_tick_interval_s=3600,
    )
    app = create_app(settings, clock=clock)
    async with serve(app) as client:
        yield Running(app, client, clock)


def test_a_retention_under_six_months_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 183"):
        IncidentSettings(records_retention_days=90)


async def test_retention_deletes_only_old_records_nothing_holds(running: Running) -> None:
    plain = await running.incident("网关中断（无保全）", severity="major_outage")  # with its regulator report
    held = await running.incident("网关中断（保全）")
    merged = await running.incident("重复上报", resolve=False)
    survivor = await running.incident("核心网故障")
    still_open = await running.incident("仍在处理", resolve=False)
    merging = await running.client.post(
        f"/v1/incidents/{merged}/merge", json={"into": survivor}, headers=OPERATOR
    )
    assert merging.status_code == 200, merging.text
    window = await running.cancelled_window()
    held_window = await running.cancelled_window()

    assert (await running.hold(incident_id=held)).status_code == 201
    assert (await running.hold(incident_id=merged)).status_code == 201  # keeps its survivor too
    assert (await running.hold(window_id=held_window)).status_code == 201

    # younger than the retention period: nothing goes
    running.clock.advance(timedelta(days=RETENTION_DAYS - 1))
    young = await running.records.run_retention()
    assert young is not None
    assert (young.incidents_deleted, young.windows_deleted) == (0, 0)

    running.clock.advance(timedelta(days=2))
    old = await running.records.run_retention()
    assert old is not None
    assert (old.incidents_deleted, old.windows_deleted) == (1, 1)
    assert (old.incidents_held, old.windows_held) == (3, 1)  # held, and the merged family of two
    assert not await running.exists(plain)
    for kept in (held, merged, survivor, still_open):
        assert await running.exists(kept), kept
    gone = await running.client.get(f"/v1/maintenance-windows/{window}", headers=OPERATOR)
    assert gone.status_code == 404
    kept_window = await running.client.get(f"/v1/maintenance-windows/{held_window}", headers=OPERATOR)
    assert kept_window.status_code == 200

    # a hold released: the next run deletes the record
    [hold] = [
        h
        for h in (await running.client.get("/v1/records/holds", headers=OPERATOR)).json()
        if h["incident_id"] == held
    ]
    released = await running.client.post(f"/v1/records/holds/{hold['id']}/release", headers=OPERATOR)
    assert released.status_code == 200
    assert released.json()["released_by"] == "operator"
    after = await running.records.run_retention()
    assert after is not None
    assert after.incidents_deleted == 1
    assert not await running.exists(held)
    assert await running.exists(survivor)


async def test_the_export_has_every_record_of_the_period_as_stored(running: Running) -> None:
    start = running.clock.now() - H
    incident_id = await running.incident("短信网关中断", severity="major_outage")
    window_id = await running.cancelled_window()
    assert (await running.hold(incident_id=incident_id)).status_code == 201
    end = running.clock.now() + 100 * H

    exported = await running.client.get(
        "/v1/records/export", params={"from": start.isoformat(), "to": end.isoformat()}, headers=OPERATOR
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"].startswith('attachment; filename="incident-records-')
    body = exported.json()
    [incident] = [i for i in body["incidents"] if i["id"] == incident_id]
    assert incident["status"] == "resolved"
    assert [e["text"] for e in incident["timeline"] if e["kind"] == "note"] == ["已定位"]
    [report] = incident["regulator_reports"]
    assert {st["stage"] for st in report["stages"]} == {"first", "final"}
    [window] = [w for w in body["maintenance_windows"] if w["id"] == window_id]
    assert [n["kind"] for n in window["notices"]] == ["scheduled", "cancelled"]
    assert [h["incident_id"] for h in body["holds"]] == [incident_id]

    earlier = await running.client.get(
        "/v1/records/export",
        params={"from": (start - 100 * H).isoformat(), "to": start.isoformat()},
        headers=OPERATOR,
    )
    assert all(i["id"] != incident_id for i in earlier.json()["incidents"])
    backwards = await running.client.get(
        "/v1/records/export", params={"from": end.isoformat(), "to": start.isoformat()}, headers=OPERATOR
    )
    problem_of(backwards, 422, "export_period_invalid")


async def test_holds_are_one_per_holder_and_name_one_existing_record(running: Running) -> None:
    incident_id = await running.incident("短信网关中断")
    first = await running.hold(incident_id=incident_id)
    again = await running.hold(incident_id=incident_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other = await running.client.post(
        "/v1/records/holds",
        json={"incident_id": incident_id, "holder": "legal", "reason": "诉讼"},
        headers=OPERATOR,
    )
    assert other.status_code == 201
    problem_of(
        await running.hold(incident_id="00000000-0000-0000-0000-000000000000"), 404, "record_not_found"
    )
    both = await running.hold(incident_id=incident_id, window_id=await running.cancelled_window())
    problem_of(both, 422, "validation_failed")
    problem_of(
        await running.client.post(
            "/v1/records/holds/00000000-0000-0000-0000-000000000000/release", headers=OPERATOR
        ),
        404,
        "record_hold_not_found",
    )
    assert (
        await running.client.post("/v1/records/holds", json={"incident_id": incident_id})
    ).status_code == 401
