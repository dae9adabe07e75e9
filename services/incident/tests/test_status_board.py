"""The status page's live part on the real database: incidents opened by hand through the API,
a maintenance window scheduled 72 h ahead, the clock moved through it; what `GET /v1/status`,
`GET /status` and the Atom feed show at each step (state now, current incidents with their
public updates only, maintenance to come in Beijing time, the 90 days' bars by the availability
rule, stable feed entries)."""

from __future__ import annotations

import random
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from incident.incidents.domain import (
    EntryKind,
    ImpactType,
    Incident,
    IncidentStatus,
    Origin,
    Severity,
    TimelineEntry,
)
from incident.incidents.repository import IncidentRepository
from vas_devstack.broker import EmbeddedBroker

Running = Any  # conftest.RunningIncident
OPERATOR = {"Authorization": "Bearer test-operator-token"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
ATOM = "{http://www.w3.org/2005/Atom}"
H = timedelta(hours=1)


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of this module's own: the board shows every open incident, and any sms-sender
    app of another test reports health on the shared topic (a slow one opens an incident)."""
    return own_broker


async def post(incident: Running, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await incident.client.post(path, json=body, headers=OPERATOR)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def board(incident: Running) -> dict[str, Any]:
    response = await incident.client.get("/v1/status")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def feed_ids(incident: Running) -> list[str]:
    response = await incident.client.get("/status/feed.atom")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)  # noqa: S314 (the service's own answer in a test)
    return [e.findtext(f"{ATOM}id") or "" for e in feed.iter(f"{ATOM}entry")]


def service(answer: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [s for s in answer["services"] if s["service"] == name]
    return found


def bj(moment: datetime) -> str:
    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


async def test_state_incidents_maintenance_and_history_as_the_clock_moves(incident: Running) -> None:
    now = incident.clock.now()
    today = now.astimezone(SHANGHAI).date()
    # Two days ago, 10:00-11:00 Beijing: a full outage of the subscription service, resolved.
    past_day = today - timedelta(days=2)
    past_start = datetime(past_day.year, past_day.month, past_day.day, 10, tzinfo=SHANGHAI)
    past = (
        await post(
            incident,
            "/v1/incidents",
            {
                "title": "订购接口不可用",
                "severity": "critical",
                "impact": "full",
                "services": ["subscription"],
                "impact_started_at": past_start.isoformat(),
                "detected_at": past_start.isoformat(),
            },
        )
    )["incident"]["id"]
    await post(incident, f"/v1/incidents/{past}/resolve", {"resolved_at": (past_start + H).isoformat()}, 200)
    # Now: a partial impact on SMS sending, with a public update and an internal note.
    current = (
        await post(
            incident,
            "/v1/incidents",
            {
                "title": "短信发送延迟",
                "summary": "内部摘要：SMSC-2 链路抖动",
                "severity": "major",
                "impact": "partial",
                "services": ["sms-sender"],
                "impact_started_at": (now - 30 * timedelta(minutes=1)).isoformat(),
                "commander": "王芳",
            },
        )
    )["incident"]["id"]
    await post(
        incident,
        f"/v1/incidents/{current}/timeline",
        {"kind": "status_update", "text": "部分短信发送延迟，正在处理。"},
    )
    await post(
        incident, f"/v1/incidents/{current}/timeline", {"kind": "note", "text": "内部备注：怀疑SMSC-2"}
    )
    # A duplicate opened by someone else, with an update of its own, merged into it: the
    # survivor carries both updates, the duplicate is not shown.
    duplicate = (
        await post(
            incident,
            "/v1/incidents",
            {"title": "短信慢", "severity": "minor", "impact": "partial", "services": ["sms-sender"]},
        )
    )["incident"]["id"]
    await post(
        incident, f"/v1/incidents/{duplicate}/timeline", {"kind": "status_update", "text": "已确认短信延迟。"}
    )
    await post(incident, f"/v1/incidents/{duplicate}/merge", {"into": current}, 200)
    # Maintenance 72 h ahead (and a few minutes), 2 h long, on SMS sending and one product.
    starts = now + 72 * H + timedelta(minutes=5)
    window = await post(
        incident,
        "/v1/maintenance-windows",
        {
            "services": ["sms-sender"],
            "product_codes": ["TQYB"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + 2 * H).isoformat(),
            "text_zh": "短信网关升级，期间短信可能延迟。",
        },
    )

    answer = await board(incident)
    assert service(answer, "sms-sender")["state"] == "degraded"
    assert service(answer, "subscription")["state"] == "operational"
    assert [s["service"] for s in answer["services"]] == [
        "sms-sender",
        "subscription",
        "complaints",
        "incident",
    ]
    [shown] = answer["current_incidents"]
    assert shown["id"] == current
    assert [u["text"] for u in shown["updates"]] == ["部分短信发送延迟，正在处理。", "已确认短信延迟。"]
    assert "summary" not in shown
    assert "commander" not in shown
    [upcoming] = answer["upcoming_maintenance"]
    assert (upcoming["id"], upcoming["starts_local"], upcoming["emergency"]) == (
        window["id"],
        bj(starts),
        False,
    )
    assert upcoming["product_codes"] == ["TQYB"]
    # The bars: 90 Shanghai days up to today; two days ago, 1 h of 24 down for subscription.
    days = service(answer, "subscription")["days"]
    assert len(days) == 90
    assert days[-1]["day"] == today.isoformat()
    past_bar = days[-3]
    assert past_bar["day"] == past_day.isoformat()
    assert past_bar["availability"] == pytest.approx(1 - 1 / 24)
    assert (past_bar["level"], past_bar["incidents"]) == ("breached", [past])
    assert all(d["level"] == "ok" for d in days[:-3])
    assert answer["history"]["rule"]["partial_weight"] == 0.3
    assert {i["id"] for i in answer["history"]["incidents"]} == {past, current}
    assert answer["published"]["commitments"]

    page = await incident.client.get("/status")
    assert page.status_code == 200
    html = page.text
    for shown_text in (
        "性能下降",
        "部分短信发送延迟，正在处理。",
        "短信网关升级",
        bj(starts),
        f'id="day-{past_day}"',
    ):
        assert shown_text in html, shown_text
    for hidden in ("内部备注", "内部摘要", "王芳", "operator"):
        assert hidden not in html, hidden
    assert html.count("<rect ") == 90 * 4
    assert f'href="#day-{past_day}"' in html
    assert "<script" not in html
    assert "style=" not in html

    ids = await feed_ids(incident)
    for wanted in (
        f"urn:vas:incident:{current}:opened",
        f"urn:vas:incident:{past}:opened",
        f"urn:vas:incident:{past}:resolved:{(past_start + H).astimezone(UTC).isoformat()}",
        f"urn:vas:maintenance:{window['id']}:notice:1",
    ):
        assert wanted in ids, (wanted, ids)
    updates = [i for i in ids if i.startswith(f"urn:vas:incident:{current}:update:")]
    assert len(updates) == 2
    assert not any(duplicate in i for i in ids)
    assert ids == await feed_ids(incident)  # stable

    # Rescheduled an hour later: one more feed entry; the incident resolved.
    starts += H
    await incident.client.put(
        f"/v1/maintenance-windows/{window['id']}/schedule",
        json={"starts_at": starts.isoformat(), "ends_at": (starts + 2 * H).isoformat()},
        headers=OPERATOR,
    )
    await post(incident, f"/v1/incidents/{current}/resolve", {}, 200)
    ids = await feed_ids(incident)
    assert f"urn:vas:maintenance:{window['id']}:notice:2" in ids
    assert any(i.startswith(f"urn:vas:incident:{current}:resolved:") for i in ids)
    answer = await board(incident)
    assert answer["current_incidents"] == []
    assert service(answer, "sms-sender")["state"] == "operational"
    assert answer["upcoming_maintenance"][0]["starts_local"] == bj(starts)

    # The clock reaches the start: maintenance under way.
    incident.clock.advance(starts - incident.clock.now() + timedelta(minutes=1))
    await post(incident, "/v1/jobs/maintenance-tick", {}, 200)
    answer = await board(incident)
    assert service(answer, "sms-sender")["state"] == "maintenance"
    assert answer["upcoming_maintenance"][0]["status"] == "in_progress"
    assert "维护中" in (await incident.client.get("/status")).text

    # Over: the day's bar shows the maintenance, left out of the day (announced on time).
    incident.clock.advance(3 * H)
    await post(incident, "/v1/jobs/maintenance-tick", {}, 200)
    answer = await board(incident)
    assert service(answer, "sms-sender")["state"] == "operational"
    assert answer["upcoming_maintenance"] == []
    bars = [d for d in service(answer, "sms-sender")["days"] if window["id"] in d["maintenance"]]
    assert sum(d["excluded_seconds"] for d in bars) == pytest.approx(2 * 3600)
    assert {d["level"] for d in bars} == {"maintenance"}
    assert [w["id"] for w in answer["history"]["maintenance"]] == [window["id"]]
    # The outage is still on its day, further back now.
    [on_its_day] = [d for d in service(answer, "subscription")["days"] if d["incidents"]]
    assert (on_its_day["day"], on_its_day["incidents"]) == (past_day.isoformat(), [past])


async def test_the_page_stays_fast_with_a_thousand_incidents_in_the_period(incident: Running) -> None:
    """1,000 resolved incidents spread over the 90 days (each with two public updates), written
    straight to the database; the page, the JSON and the feed each answer in one read. The
    bound only catches a blow-up (the machine is shared); the times are printed."""
    now = incident.clock.now()
    rng = random.Random(16)
    services = incident.settings.services
    repository = IncidentRepository()
    conn = await asyncpg.connect(incident.settings.database_url.get_secret_value())
    async with conn.transaction():
        for n in range(1000):
            start = now - timedelta(days=89) + timedelta(seconds=rng.uniform(0, 88 * 86400))
            ends = start + timedelta(minutes=rng.uniform(5, 300))
            i = Incident(
                id=uuid.uuid4(),
                title=f"故障{n}",
                summary="",
                severity=Severity.MAJOR,
                impact=rng.choice([ImpactType.FULL, ImpactType.PARTIAL]),
                status=IncidentStatus.RESOLVED,
                origin=Origin.MANUAL,
                services=(rng.choice(services),),
                products=(),
                impact_started_at=start,
                detected_at=start,
                reported_at=start,
                mitigated_at=ends,
                resolved_at=ends,
                commander=None,
                communications=None,
                merged_into=None,
                created_by="perf",
                created_at=start,
                updated_at=ends,
            )
            await repository.insert(conn, i)
            await repository.add_entries(
                conn,
                [
                    TimelineEntry(
                        uuid.uuid4(), i.id, EntryKind.STATUS_UPDATE, at, at, "perf", f"进展{k}", True
                    )
                    for k, at in enumerate((start, ends))
                ],
            )
    await conn.close()
    timings = {}
    for path in ("/v1/status", "/status", "/status/feed.atom"):
        await incident.client.get(path)  # warm
        began = time.perf_counter()
        response = await incident.client.get(path)
        timings[path] = time.perf_counter() - began
        assert response.status_code == 200, response.text
    answer = (await incident.client.get("/v1/status")).json()
    assert len(answer["history"]["incidents"]) == 1000
    print(f"1,000 incidents in 90 days: {', '.join(f'{p} {t * 1000:.0f} ms' for p, t in timings.items())}")
    assert max(timings.values()) < 10
