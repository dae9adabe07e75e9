"""GET /v1/availability on the real database: the figures, the rule in words and the intervals
they came from; merged incidents are not counted twice; maintenance windows that ran, excluded
when announced on time, counted whole when an emergency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vas_devstack.pytest_plugin import problem_of

OPERATOR = {"Authorization": "Bearer test-operator-token"}
Running = Any  # conftest.RunningIncident
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _incident(incident: Running, impact: str, start: datetime, hours: float, **fields: Any) -> str:
    body = {
        "title": "故障",
        "severity": "major",
        "impact": impact,
        "services": ["sms-sender"],
        "impact_started_at": start.isoformat(),
        "detected_at": start.isoformat(),
        **fields,
    }
    created = await incident.client.post("/v1/incidents", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    incident_id = str(created.json()["incident"]["id"])
    resolved = await incident.client.post(
        f"/v1/incidents/{incident_id}/resolve",
        json={"resolved_at": (start + timedelta(hours=hours)).isoformat()},
        headers=OPERATOR,
    )
    assert resolved.status_code == 200, resolved.text
    return incident_id


async def test_a_month_of_one_service_with_the_intervals_it_came_from(incident: Running) -> None:
    start = datetime(2026, 6, 1, 0, tzinfo=UTC)  # June 2026 in Asia/Shanghai: 2026-05-31T16:00Z ..
    full = await _incident(incident, "full", start, 2)
    partial = await _incident(incident, "partial", start + timedelta(days=3), 10)
    duplicate = await _incident(incident, "full", start + timedelta(minutes=30), 1)
    merged = await incident.client.post(
        f"/v1/incidents/{duplicate}/merge", json={"into": full}, headers=OPERATOR
    )
    assert merged.status_code == 200, merged.text
    await _incident(incident, "full", start, 1, services=["complaints"])  # another service

    answer = await incident.client.get(
        "/v1/availability", params={"service": "sms-sender", "month": "2026-06"}
    )
    assert answer.status_code == 401
    answer = await incident.client.get(
        "/v1/availability", params={"service": "sms-sender", "month": "2026-06"}, headers=OPERATOR
    )
    assert answer.status_code == 200, answer.text
    f = answer.json()
    month = 30 * 86400
    down = 2 * 3600 + 0.3 * 10 * 3600
    assert f["period_seconds"] == month
    assert f["weighted_down_seconds"] == pytest.approx(down)
    assert f["availability"] == pytest.approx(1 - down / month)
    assert f["mttr_seconds"] == pytest.approx((2 + 10) / 2 * 3600)
    assert f["mtbf_seconds"] == pytest.approx((month - 12 * 3600) / 2)
    assert {(i["source_id"], i["kind"], i["weight"]) for i in f["intervals"]} == {
        (full, "full", 1.0),
        (partial, "partial", 0.3),
    }
    assert f["rule"]["partial_weight"] == 0.3
    assert "excluded" in f["rule"]["text"]
    bad = await incident.client.get(
        "/v1/availability", params={"service": "sms-sender", "month": "2026-13"}, headers=OPERATOR
    )
    assert bad.status_code == 422
    problem_of(bad, 422, "validation_failed")


async def _window(incident: Running, service: str, starts: datetime, hours: float, **more: Any) -> str:
    body = {
        "services": [service],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=hours)).isoformat(),
        "text_zh": "系统维护。",
        **more,
    }
    created = await incident.client.post("/v1/maintenance-windows", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _counted(incident: Running, service: str, window_id: str) -> list[dict[str, Any]]:
    """The window's intervals as every month it touched counts them (it may cross a month's end)."""
    now = incident.clock.now().astimezone(SHANGHAI)
    months = {f"{(now - timedelta(days=d)):%Y-%m}" for d in (0, 1)}
    found = []
    for month in sorted(months):
        answer = await incident.client.get(
            "/v1/availability", params={"service": service, "month": month}, headers=OPERATOR
        )
        assert answer.status_code == 200, answer.text
        found += [i for i in answer.json()["intervals"] if i["source_id"] == window_id]
    return found


async def test_maintenance_announced_on_time_is_excluded_and_an_emergency_counts_whole(
    incident: Running,
) -> None:
    now = incident.clock.now()
    planned = await _window(incident, "subscription", now + timedelta(hours=73), 2)
    urgent = await _window(
        incident, "sms-sender", now + timedelta(hours=73), 1, emergency=True, emergency_reason="安全漏洞修补"
    )
    to_come = await _window(incident, "complaints", now + timedelta(hours=80), 1)
    cancelled = await _window(incident, "complaints", now + timedelta(hours=74), 1)
    assert (
        await incident.client.post(
            f"/v1/maintenance-windows/{cancelled}/cancellation", json={"reason": "推迟"}, headers=OPERATOR
        )
    ).status_code == 200
    incident.clock.advance(timedelta(hours=73, minutes=1))
    assert (await incident.client.post("/v1/jobs/maintenance-tick", headers=OPERATOR)).status_code == 200
    incident.clock.advance(timedelta(hours=3))
    assert (await incident.client.post("/v1/jobs/maintenance-tick", headers=OPERATOR)).status_code == 200

    excluded = await _counted(incident, "subscription", planned)
    assert [(i["kind"], i["weight"]) for i in excluded] == [("maintenance_on_time", None)]
    assert sum(i["seconds"] for i in excluded) == pytest.approx(2 * 3600)
    down = await _counted(incident, "sms-sender", urgent)
    assert [(i["kind"], i["weight"]) for i in down] == [("maintenance", 1.0)]
    assert sum(i["seconds"] for i in down) == pytest.approx(3600)
    # Not run (still to come, or cancelled): nothing counted.
    assert await _counted(incident, "complaints", to_come) == []
    assert await _counted(incident, "complaints", cancelled) == []

    month = f"{(now + timedelta(hours=73, minutes=30)).astimezone(SHANGHAI):%Y-%m}"
    answer = (
        await incident.client.get(
            "/v1/availability", params={"service": "subscription", "month": month}, headers=OPERATOR
        )
    ).json()
    assert answer["weighted_down_seconds"] == 0
    assert answer["availability"] == 1.0
    assert answer["rule"]["maintenance_notice_hours"] == 72
    assert "emergency" in answer["rule"]["text"]
