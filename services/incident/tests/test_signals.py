"""Incidents opened and resolved by the sms-sender's health reports, on the real database and
broker: one incident per ongoing fault with two replicas, two reporting dispatchers and
redelivered reports; resolution after the hold-down; stale reports ignored; a person's
resolution closes the fault."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from incident.signals.service import SignalService
from vas_common.events import encode_event
from vas_common.events.sms_sender import HealthCheck, HealthCheckResult, HealthReport, HealthReported
from vas_devstack.pytest_plugin import eventually

OPERATOR = {"Authorization": "Bearer test-operator-token"}
SMSC = "vas@127.0.0.1:2775"


def report(
    at: datetime, failing: bool, instance: str = "dispatcher-a", down_since: datetime | None = None
) -> HealthReport:
    return HealthReport(
        instance_id=instance,
        smsc=SMSC,
        observed_at=at,
        interval_s=1.0,
        checks=[
            HealthCheckResult(
                check=HealthCheck.BINDS_DOWN,
                subject=SMSC,
                failing=failing,
                since=(down_since or at - timedelta(seconds=40)) if failing else None,
                value=40.0 if failing else 0.0,
                threshold=30.0,
                window_s=1.0,
                detail={"binds_up": 0 if failing else 2, "binds_configured": 2},
            ),
            HealthCheckResult(
                check=HealthCheck.SEND_DELAY, subject=SMSC, failing=False, threshold=4.0, window_s=60.0
            ),
            HealthCheckResult(
                check="a_check_of_tomorrow", subject=SMSC, failing=True, threshold=1, window_s=1
            ),
        ],
    )


def signals(app: FastAPI) -> SignalService:
    service = app.state.signal_service
    assert isinstance(service, SignalService)
    return service


async def _incidents(client: Any) -> list[dict[str, Any]]:
    return list((await client.get("/v1/incidents", headers=OPERATOR)).json()["items"])


async def test_one_incident_per_fault_with_two_replicas_two_reporters_and_redelivery(replicas: Any) -> None:
    apps, clients, clock = replicas
    t0 = clock.now()
    down_since = t0 - timedelta(seconds=40)
    reports = [
        report(t0, True, "dispatcher-a", down_since),
        report(t0, True, "dispatcher-b", down_since),
        report(t0 + timedelta(milliseconds=300), True, "dispatcher-a", down_since),
    ]
    # every report to both replicas at once, twice (a redelivery)
    await asyncio.gather(*(signals(app).handle(r) for r in reports * 2 for app in apps))
    opened = await _incidents(clients[0])
    assert len(opened) == 1, opened
    incident = opened[0]
    assert incident["origin"] == "signal"
    assert incident["severity"] == "critical"
    assert incident["impact"] == "full"
    assert incident["services"] == ["sms-sender"]
    assert datetime.fromisoformat(incident["impact_started_at"]) == down_since
    # detected when the report that opened it was made: whichever of the racing reports that was
    assert t0 <= datetime.fromisoformat(incident["detected_at"]) <= t0 + timedelta(milliseconds=300)
    detail = (await clients[1].get(f"/v1/incidents/{incident['id']}", headers=OPERATOR)).json()
    evidence = [e for e in detail["timeline"] if e["kind"] == "evidence"]
    assert len(evidence) == 1
    assert evidence[0]["detail"]["value"] == 40.0
    assert evidence[0]["detail"]["threshold"] == 30.0
    assert evidence[0]["detail"]["instance_id"] in ("dispatcher-a", "dispatcher-b")

    # healthy, failing again (the hold-down starts over), then healthy for good
    clock.advance(timedelta(seconds=5))
    await signals(apps[0]).handle(report(clock.now(), False))
    clock.advance(timedelta(seconds=20))
    await signals(apps[1]).handle(report(clock.now(), True, "dispatcher-b"))
    healthy_at = clock.now() + timedelta(seconds=1)
    await signals(apps[0]).handle(report(healthy_at, False))
    await signals(apps[1]).handle(report(healthy_at + timedelta(seconds=1), False, "dispatcher-b"))
    clock.advance(timedelta(seconds=25))  # 26 s healthy: the hold-down is 30 s
    await asyncio.sleep(0.5)  # ticks run on both replicas
    assert (await _incidents(clients[0]))[0]["status"] == "open"
    clock.advance(timedelta(seconds=6))

    async def resolved() -> dict[str, Any] | None:
        found = await _incidents(clients[0])
        return found[0] if found[0]["status"] == "resolved" else None

    done = await eventually(resolved)
    assert (
        datetime.fromisoformat(done["mitigated_at"]) == healthy_at
    )  # the impact ended when it turned healthy
    assert datetime.fromisoformat(done["resolved_at"]) >= healthy_at + timedelta(seconds=30)
    timeline = (await clients[0].get(f"/v1/incidents/{done['id']}", headers=OPERATOR)).json()["timeline"]
    assert [e["kind"] for e in timeline].count("signal_healthy") == 1
    assert [e["kind"] for e in timeline][-1] == "resolved"

    # the old failing reports delivered once more do not reopen it
    await asyncio.gather(*(signals(app).handle(r) for r in reports for app in apps))
    assert len(await _incidents(clients[0])) == 1
    # a report older than the age limit is history
    await signals(apps[0]).handle(report(clock.now() - timedelta(minutes=10), True, "dispatcher-c"))
    assert len(await _incidents(clients[0])) == 1
    # a new fault is a new incident
    await signals(apps[1]).handle(report(clock.now(), True))
    assert len(await _incidents(clients[0])) == 2


async def test_a_person_resolving_the_incident_closes_its_fault(replicas: Any) -> None:
    apps, clients, clock = replicas
    await signals(apps[0]).handle(report(clock.now(), True))
    [opened] = await _incidents(clients[0])
    resolved = await clients[0].post(f"/v1/incidents/{opened['id']}/resolve", json={}, headers=OPERATOR)
    assert resolved.status_code == 200, resolved.text
    clock.advance(timedelta(seconds=1))
    await signals(apps[1]).handle(report(clock.now(), True))  # still failing: a fault of its own
    assert [i["status"] for i in await _incidents(clients[0])] == ["open", "resolved"]


async def test_reports_on_the_topic_open_an_incident(incident: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=incident.settings.kafka_bootstrap)
    await producer.start()
    try:
        event = HealthReported(payload=report(incident.clock.now(), True))
        await producer.send_and_wait("sms.health", encode_event(event), key=SMSC.encode())
    finally:
        await producer.stop()

    async def opened() -> list[dict[str, Any]]:
        return await _incidents(incident.client)

    [found] = await eventually(opened)
    assert found["origin"] == "signal"
