"""Incidents by hand through the API, on the real database and broker: open, read, edit times
and roles, status updates, merge, resolve; who may do what; the events on incident.events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from incident.settings import IncidentSettings
from vas_common.events.incident import IncidentOpened, IncidentResolved, IncidentUpdated
from vas_common.staff import Role
from vas_devstack.pytest_plugin import problem_of, read_events

OPERATOR = {"Authorization": "Bearer test-operator-token"}
Running = Any  # conftest.RunningIncident


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


async def _open(incident: Running, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "短信发送失败",
        "severity": "major",
        "impact": "partial",
        "services": ["sms-sender"],
        **fields,
    }
    created = await incident.client.post("/v1/incidents", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_a_supervisor_opens_an_incident_with_separate_times_and_an_agent_reads_it(
    incident: Running,
) -> None:
    now = incident.clock.now()
    started, detected = now - timedelta(minutes=20), now - timedelta(minutes=12)
    body = {
        "title": "短信网关故障",
        "severity": "major_outage",
        "impact": "full",
        "services": ["sms-sender"],
        "products": ["NEWS01"],
        "impact_started_at": _iso(started),
        "detected_at": _iso(detected),
        "commander": "王芳",
    }
    agent = incident.staff(Role.AGENT)
    refused = await incident.client.post("/v1/incidents", json=body, headers=agent)
    problem_of(refused, 403, "role_required")
    created = await incident.client.post("/v1/incidents", json=body, headers=incident.staff(Role.SUPERVISOR))
    assert created.status_code == 201, created.text
    detail = created.json()
    opened = detail["incident"]
    assert opened["status"] == "open"
    assert opened["origin"] == "manual"
    assert opened["regulator_duty"] is True  # a major outage
    assert datetime.fromisoformat(opened["impact_started_at"]) == started
    assert datetime.fromisoformat(opened["detected_at"]) == detected
    assert opened["reported_at"] is None
    assert opened["resolved_at"] is None
    assert opened["created_by"] == "supervisor 一号 (supervisor1)"
    assert [e["kind"] for e in detail["timeline"]] == ["opened"]

    read = await incident.client.get(f"/v1/incidents/{opened['id']}", headers=agent)
    assert read.status_code == 200
    assert read.json()["incident"]["title"] == "短信网关故障"

    events = await read_events(
        incident.settings.kafka_bootstrap,
        "incident.events",
        lambda e: isinstance(e, IncidentOpened) and str(e.payload.incident_id) == opened["id"],
        1,
    )
    assert len(events) == 1
    assert events[0][0].payload.regulator_duty is True


async def test_times_that_contradict_each_other_and_unknown_services_are_refused(incident: Running) -> None:
    now = incident.clock.now()
    later = await incident.client.post(
        "/v1/incidents",
        json={
            "title": "x",
            "severity": "minor",
            "impact": "partial",
            "services": ["sms-sender"],
            "impact_started_at": _iso(now - timedelta(minutes=1)),
            "detected_at": _iso(now - timedelta(minutes=5)),
        },
        headers=OPERATOR,
    )
    assert (
        "detected_at is before impact_started_at"
        in problem_of(later, 422, "incident_times_invalid")["problems"]
    )
    unknown = await incident.client.post(
        "/v1/incidents",
        json={"title": "x", "severity": "minor", "impact": "partial", "services": ["billing"]},
        headers=OPERATOR,
    )
    assert problem_of(unknown, 422, "unknown_service")["known_services"] == list(IncidentSettings().services)
    future = await _open(incident)
    patch = await incident.client.patch(
        f"/v1/incidents/{future['incident']['id']}",
        json={"resolved_at": _iso(now + timedelta(hours=1))},
        headers=OPERATOR,
    )
    problem_of(patch, 422, "incident_times_invalid")
    missing = await incident.client.get(f"/v1/incidents/{uuid.uuid4()}", headers=OPERATOR)
    problem_of(missing, 404, "incident_not_found")


async def test_edits_roles_status_updates_mitigation_and_resolution_each_leave_a_timeline_entry(
    incident: Running,
) -> None:
    started = incident.clock.now() - timedelta(minutes=10)
    opened = (await _open(incident, impact_started_at=_iso(started)))["incident"]
    url = f"/v1/incidents/{opened['id']}"
    roles = await incident.client.patch(
        url, json={"commander": "李雷", "communications": "韩梅梅"}, headers=OPERATOR
    )
    assert roles.status_code == 200, roles.text
    assert roles.json()["incident"]["commander"] == "李雷"
    update = await incident.client.post(
        url + "/timeline",
        json={"kind": "status_update", "text": "部分用户短信发送延迟，正在处理。"},
        headers=OPERATOR,
    )
    assert update.status_code == 201, update.text
    assert update.json()["incident"]["reported_at"] is not None  # first told outside the team
    assert [u["text"] for u in update.json()["status_updates"]] == ["部分用户短信发送延迟，正在处理。"]
    mitigated_at = incident.clock.now() - timedelta(seconds=5)
    mitigated = await incident.client.patch(
        url, json={"mitigated_at": _iso(mitigated_at), "severity": "critical"}, headers=OPERATOR
    )
    assert mitigated.json()["incident"]["status"] == "mitigated"
    resolved = await incident.client.post(url + "/resolve", json={"note": "已恢复"}, headers=OPERATOR)
    assert resolved.status_code == 200, resolved.text
    final = resolved.json()
    assert final["incident"]["status"] == "resolved"
    assert datetime.fromisoformat(final["incident"]["mitigated_at"]) == mitigated_at
    kinds = [e["kind"] for e in final["timeline"]]
    # in the order things happened: the impact ended (5 s ago) before the incident was opened
    assert kinds == ["mitigated", "opened", "role_assigned", "status_update", "edited", "resolved"]
    again = await incident.client.post(url + "/resolve", json={}, headers=OPERATOR)
    problem_of(again, 409, "incident_already_resolved")
    reopened = await incident.client.patch(url, json={"resolved_at": None}, headers=OPERATOR)
    assert reopened.json()["incident"]["status"] == "mitigated"
    assert reopened.json()["timeline"][-1]["kind"] == "reopened"

    events = await read_events(
        incident.settings.kafka_bootstrap,
        "incident.events",
        # The topic also carries other tests' maintenance events, which name no incident.
        lambda e: str(getattr(e.payload, "incident_id", "")) == opened["id"],
        6,  # opened, roles, status update, mitigated, resolved, reopened
    )
    changes = [(type(e).__name__, e.payload.change) for e, _ in events]
    assert changes[0] == ("IncidentOpened", "opened")
    assert ("IncidentResolved", "resolved") in changes
    assert ("IncidentUpdated", "mitigated") in changes
    assert len(changes) == 6
    assert all(isinstance(e, IncidentOpened | IncidentUpdated | IncidentResolved) for e, _ in events)


async def test_a_merged_incident_points_at_its_survivor_which_shows_both_timelines(incident: Running) -> None:
    now = incident.clock.now()
    first = (await _open(incident, impact_started_at=_iso(now - timedelta(minutes=9))))["incident"]
    duplicate = (
        await _open(
            incident,
            title="短信延迟",
            severity="critical",
            services=["subscription"],
            impact_started_at=_iso(now - timedelta(minutes=30)),
        )
    )["incident"]
    await incident.client.post(
        f"/v1/incidents/{duplicate['id']}/timeline", json={"kind": "note", "text": "重复"}, headers=OPERATOR
    )
    merged = await incident.client.post(
        f"/v1/incidents/{duplicate['id']}/merge", json={"into": first["id"]}, headers=OPERATOR
    )
    assert merged.status_code == 200, merged.text
    survivor = merged.json()
    assert survivor["incident"]["id"] == first["id"]
    assert survivor["merged"] == [duplicate["id"]]
    assert set(survivor["incident"]["services"]) == {"sms-sender", "subscription"}
    assert survivor["incident"]["severity"] == "critical"
    assert datetime.fromisoformat(survivor["incident"]["impact_started_at"]) == now - timedelta(minutes=30)
    assert {e["incident_id"] for e in survivor["timeline"]} == {first["id"], duplicate["id"]}
    gone = (await incident.client.get(f"/v1/incidents/{duplicate['id']}", headers=OPERATOR)).json()
    assert gone["incident"]["status"] == "merged"
    assert gone["incident"]["merged_into"] == first["id"]
    assert "note" in [e["kind"] for e in gone["timeline"]]  # its timeline is kept
    edit = await incident.client.patch(
        f"/v1/incidents/{duplicate['id']}", json={"title": "y"}, headers=OPERATOR
    )
    problem_of(edit, 409, "incident_merged")
    itself = await incident.client.post(
        f"/v1/incidents/{first['id']}/merge", json={"into": first["id"]}, headers=OPERATOR
    )
    problem_of(itself, 409, "merge_not_allowed")
    into_gone = await incident.client.post(
        f"/v1/incidents/{first['id']}/merge", json={"into": duplicate["id"]}, headers=OPERATOR
    )
    problem_of(into_gone, 409, "merge_not_allowed")


async def test_the_list_pages_newest_first_with_an_opaque_cursor_and_filters(incident: Running) -> None:
    ids = [(await _open(incident, title=f"故障 {n}"))["incident"]["id"] for n in range(5)]
    await incident.client.post(f"/v1/incidents/{ids[0]}/resolve", json={}, headers=OPERATOR)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await incident.client.get("/v1/incidents", params=params, headers=OPERATOR)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    open_only = await incident.client.get("/v1/incidents", params={"status": ["open"]}, headers=OPERATOR)
    assert [i["id"] for i in open_only.json()["items"]] == list(reversed(ids[1:]))
    other = await incident.client.get("/v1/incidents", params={"service": "complaints"}, headers=OPERATOR)
    assert other.json()["items"] == []
    bad = await incident.client.get("/v1/incidents", params={"cursor": "AAAAAAAAAAA"}, headers=OPERATOR)
    assert bad.status_code in (200, 422)  # any 11 characters decode; a foreign one names no row
    wrong = await incident.client.get("/v1/incidents", params={"cursor": "!!!!!!!!!!!"}, headers=OPERATOR)
    problem_of(wrong, 422, "invalid_cursor")
